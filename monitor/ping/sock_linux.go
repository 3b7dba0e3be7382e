package ping

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// The sockets are plain file descriptors, outside Go's network poller: the
// clock goroutine drains them with recvmmsg(MSG_DONTWAIT) on its ticks
// while probes are in flight, and the kernel stamps every reply with its
// arrival time (SO_TIMESTAMPNS), so RTTs stay exact although replies are
// read in batches. A reply thus costs no goroutine or thread wake-up.

// recvBatch is how many replies one recvmmsg reads.
const recvBatch = 64

// sockIO is the platform part of a sock.
type sockIO struct {
	fd int

	// Receive buffers, used by the clock goroutine only.
	hdrs  [recvBatch]mmsghdr
	iovs  [recvBatch]syscall.Iovec
	names [recvBatch]syscall.RawSockaddrInet6
	bufs  [recvBatch][128]byte
	ctrl  [recvBatch][64]byte
}

type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

// dest is a check's destination socket address, built once and only
// read afterwards (several goroutines may write the check's packets).
type dest struct {
	raw syscall.RawSockaddrInet6 // or a RawSockaddrInet4 in its first bytes
	len uintptr
}

func newDest(a netip.Addr) *dest {
	d := &dest{}
	if a.Is6() {
		d.raw = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: a.As16()}
		d.len = syscall.SizeofSockaddrInet6
	} else {
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&d.raw))
		*sa = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: a.As4()}
		d.len = syscall.SizeofSockaddrInet4
	}
	return d
}

func openUnprivileged(source string, v6 bool) (*sock, error) {
	s, err := openFD(syscall.SOCK_DGRAM, source, v6)
	if err != nil {
		return nil, err
	}
	sa, err := syscall.Getsockname(s.fd)
	if err != nil {
		syscall.Close(s.fd)
		return nil, err
	}
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		s.id = uint16(sa.Port)
	case *syscall.SockaddrInet6:
		s.id = uint16(sa.Port)
	default:
		syscall.Close(s.fd)
		return nil, fmt.Errorf("unexpected local address %T", sa)
	}
	return s, nil
}

func openRaw(source string, v6 bool, id uint16) (*sock, error) {
	s, err := openFD(syscall.SOCK_RAW, source, v6)
	if err != nil {
		return nil, err
	}
	s.privileged, s.id = true, id
	if err := installFilter(s.fd, id, v6); err != nil {
		syscall.Close(s.fd)
		return nil, fmt.Errorf("bpf id filter: %w", err)
	}
	return s, nil
}

func openFD(typ int, source string, v6 bool) (*sock, error) {
	family, proto := syscall.AF_INET, syscall.IPPROTO_ICMP
	if v6 {
		family, proto = syscall.AF_INET6, syscall.IPPROTO_ICMPV6
	}
	fd, err := syscall.Socket(family, typ|syscall.SOCK_CLOEXEC, proto)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*sock, error) {
		syscall.Close(fd)
		return nil, err
	}
	var sa syscall.Sockaddr = &syscall.SockaddrInet4{}
	if v6 {
		sa = &syscall.SockaddrInet6{}
	}
	if source != "" {
		a, err := netip.ParseAddr(source)
		if err != nil {
			return fail(fmt.Errorf("source: %w", err))
		}
		if v6 {
			sa = &syscall.SockaddrInet6{Addr: a.As16()}
		} else if a.Unmap().Is4() {
			sa = &syscall.SockaddrInet4{Addr: a.Unmap().As4()}
		} else {
			return fail(fmt.Errorf("source: %s is not an IPv4 address", source))
		}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		return fail(err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1); err != nil {
		return fail(fmt.Errorf("SO_TIMESTAMPNS: %w", err))
	}
	// Room for bursts between two drains; the kernel caps it at rmem_max.
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<20)
	// Requests to on-link hosts that do not answer ARP wait in the
	// neighbour queue for seconds, charged to this one socket's send
	// buffer: room for many of them (the kernel caps it at wmem_max).
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4<<20)
	s := &sock{v6: v6, pending: map[uint16]*probe{}}
	s.fd = fd
	for i := range s.hdrs {
		s.iovs[i] = syscall.Iovec{Base: &s.bufs[i][0]}
		s.iovs[i].SetLen(len(s.bufs[i]))
		h := &s.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&s.names[i]))
		h.Iov = &s.iovs[i]
		h.Iovlen = 1
		h.Control = &s.ctrl[i][0]
	}
	return s, nil
}

// installFilter lets only echo replies with our id through to the socket,
// so other ping programs on the host cost this process nothing.
func installFilter(fd int, id uint16, v6 bool) error {
	var prog []bpf.RawInstruction
	var err error
	if v6 {
		prog, err = bpf.Assemble([]bpf.Instruction{
			bpf.LoadAbsolute{Off: 0, Size: 1},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(ipv6.ICMPTypeEchoReply), SkipTrue: 1},
			bpf.RetConstant{Val: 0},
			bpf.LoadAbsolute{Off: 4, Size: 2},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(id), SkipFalse: 1},
			bpf.RetConstant{Val: 0xffff},
			bpf.RetConstant{Val: 0},
		})
	} else {
		prog, err = bpf.Assemble([]bpf.Instruction{
			bpf.LoadMemShift{Off: 0},          // X = IP header length
			bpf.LoadIndirect{Off: 0, Size: 1}, // ICMP type
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(ipv4.ICMPTypeEchoReply), SkipTrue: 1},
			bpf.RetConstant{Val: 0},
			bpf.LoadIndirect{Off: 4, Size: 2}, // ICMP id
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(id), SkipFalse: 1},
			bpf.RetConstant{Val: 0xffff},
			bpf.RetConstant{Val: 0},
		})
	}
	if err != nil {
		return err
	}
	f := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		f[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]})
}

func (s *sock) close() error { return syscall.Close(s.fd) }

// writeTo sends one request without waiting: the descriptor is blocking,
// and a ping socket whose send buffer is full (requests to unresolved
// on-link neighbours hold it for seconds) would otherwise stop the clock
// goroutine or Start's caller in sendto, and with them every check of the
// process. A full buffer is EAGAIN instead: that request is lost.
func (s *sock) writeTo(pkt []byte, d *dest) error {
	_, _, errno := syscall.Syscall6(syscall.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(&pkt[0])), uintptr(len(pkt)), syscall.MSG_DONTWAIT,
		uintptr(unsafe.Pointer(&d.raw)), d.len)
	if errno != 0 {
		return errno
	}
	return nil
}

// sendBatch is how many requests one sendmmsg writes.
const sendBatch = 64

// sendBufs are one sendmmsg's headers; pooled, since the clock goroutine
// and StartBatch's callers write side by side.
type sendBufs struct {
	hdrs [sendBatch]mmsghdr
	iovs [sendBatch]syscall.Iovec
}

var sendPool = sync.Pool{New: func() any { return new(sendBufs) }}

// writeBatch sends the first request of each check in cs (its packet in
// pkts) with as few sendmmsg calls as it takes, never waiting (see
// writeTo). A request the kernel refuses is reported to failed and
// skipped; it returns how many were sent.
func (s *sock) writeBatch(cs []*check, pkts [][8 + payloadLen]byte, failed func(*check, error)) int {
	sb := sendPool.Get().(*sendBufs)
	defer sendPool.Put(sb)
	sent := 0
	for i := 0; i < len(cs); {
		n := min(len(cs)-i, sendBatch)
		for k := range n {
			c := cs[i+k]
			sb.iovs[k] = syscall.Iovec{Base: &pkts[i+k][0]}
			sb.iovs[k].SetLen(len(pkts[i+k]))
			sb.hdrs[k] = mmsghdr{hdr: syscall.Msghdr{
				Name: (*byte)(unsafe.Pointer(&c.dst.raw)), Namelen: uint32(c.dst.len),
				Iov: &sb.iovs[k], Iovlen: 1,
			}}
		}
		r, _, errno := syscall.Syscall6(sysSendmmsg, uintptr(s.fd), uintptr(unsafe.Pointer(&sb.hdrs[0])), uintptr(n), syscall.MSG_DONTWAIT, 0, 0)
		switch {
		case errno == syscall.EINTR:
			continue
		case errno != 0 || r == 0:
			// The first request of the call failed: lost, as with writeTo.
			err := error(errno)
			if errno == 0 {
				err = syscall.EIO
			}
			failed(cs[i], err)
			i++
		default:
			// A short count: the next call reports the request that stopped it.
			sent += int(r)
			i += int(r)
		}
	}
	clear(sb.hdrs[:])
	clear(sb.iovs[:])
	return sent
}

// sysSendmmsg is sendmmsg(2)'s number (x/sys/unix's SYS_SENDMMSG).
const sysSendmmsg = unix.SYS_SENDMMSG

// reply is one received echo reply, parsed.
type reply struct {
	from  netip.Addr
	icmp  []byte // ICMP message (IPv4 header stripped)
	stamp int64  // kernel receive time, Unix ns; 0 when missing
}

// recv reads up to recvBatch replies without waiting and calls fn for
// each; it reports whether the batch was full (more may be waiting).
func (s *sock) recv(fn func(reply)) (bool, error) {
	for i := range s.hdrs {
		h := &s.hdrs[i].hdr
		h.Namelen = uint32(unsafe.Sizeof(s.names[i]))
		h.SetControllen(len(s.ctrl[i]))
		h.Flags = 0
		s.hdrs[i].n = 0
	}
	n, _, errno := syscall.Syscall6(syscall.SYS_RECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.hdrs[0])), recvBatch, syscall.MSG_DONTWAIT, 0, 0)
	if errno != 0 {
		if errno == syscall.EAGAIN || errno == syscall.EINTR {
			return false, nil
		}
		return false, errno
	}
	for i := range int(n) {
		m := &s.hdrs[i]
		b := s.bufs[i][:min(int(m.n), len(s.bufs[i]))]
		var r reply
		if s.v6 {
			r.from = netip.AddrFrom16(s.names[i].Addr)
		} else {
			sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&s.names[i]))
			r.from = netip.AddrFrom4(sa.Addr)
		}
		if s.privileged && !s.v6 {
			if len(b) < 20 {
				continue
			}
			ihl := int(b[0]&0x0f) * 4
			if ihl < 20 || len(b) < ihl {
				continue
			}
			b = b[ihl:]
		}
		r.icmp = b
		r.stamp = timestamp(s.ctrl[i][:m.hdr.Controllen])
		fn(r)
	}
	return int(n) == recvBatch, nil
}

// timestamp finds SCM_TIMESTAMPNS in a control message buffer.
func timestamp(b []byte) int64 {
	for len(b) >= syscall.SizeofCmsghdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
		l := int(h.Len)
		if l < syscall.SizeofCmsghdr || l > len(b) {
			return 0
		}
		data := b[syscall.SizeofCmsghdr:l]
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SO_TIMESTAMPNS && len(data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(data[8:16]))
			return sec*1e9 + nsec
		}
		next := (l + 7) &^ 7
		if next > len(b) {
			return 0
		}
		b = b[next:]
	}
	return 0
}
