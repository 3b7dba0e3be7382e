package udpbatch

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"

	"golang.org/x/net/ipv4"
)

// Reader reads datagrams from one UDP socket, a batch per call. It is not
// safe for concurrent use: one goroutine reads.
type Reader struct {
	pc   *ipv4.PacketConn
	ms   []ipv4.Message
	size int
}

// New returns a reader of up to batch datagrams per Read, each kept up to
// size bytes (a longer one is cut and reported truncated).
func New(c *net.UDPConn, batch, size int) *Reader {
	batch, size = max(batch, 1), max(size, 1)
	r := &Reader{pc: ipv4.NewPacketConn(c), ms: make([]ipv4.Message, batch), size: size}
	for i := range r.ms {
		r.ms[i].Buffers = [][]byte{make([]byte, size+1)}
	}
	return r
}

// Read waits for at least one datagram and returns how many it read;
// Datagram(0..n-1) gives them until the next Read. Closing the socket
// ends a waiting Read with an error wrapping net.ErrClosed.
func (r *Reader) Read() (int, error) {
	n, err := r.pc.ReadBatch(r.ms, 0)
	if err != nil {
		return 0, err
	}
	return n, nil
}

// Datagram returns the i-th datagram of the last Read: its bytes (valid
// until the next Read), its sender, and whether it was cut to size.
func (r *Reader) Datagram(i int) (data []byte, src netip.AddrPort, truncated bool) {
	m := &r.ms[i]
	n := m.N
	truncated = n > r.size || m.Flags&msgTrunc != 0
	n = min(n, r.size)
	if ua, ok := m.Addr.(*net.UDPAddr); ok {
		src = ua.AddrPort()
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	}
	return m.Buffers[0][:n], src, truncated
}

// SetReadBuffer asks for an n-byte receive buffer (n ≤ 0: leave the
// system's default) and returns the size granted: SO_RCVBUFFORCE first
// (allowed with CAP_NET_ADMIN, past net.core.rmem_max), SO_RCVBUF
// otherwise, which the kernel caps at net.core.rmem_max.
func SetReadBuffer(c *net.UDPConn, n int) (granted int, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	if n > 0 {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = setForce(fd, n)
		}); err != nil || serr != nil {
			if err := c.SetReadBuffer(n); err != nil {
				return 0, fmt.Errorf("SO_RCVBUF %d: %w", n, err)
			}
		}
	}
	var gerr error
	if err := rc.Control(func(fd uintptr) {
		granted, gerr = getRcvbuf(fd)
	}); err != nil {
		return 0, err
	}
	if gerr != nil {
		return 0, fmt.Errorf("getsockopt SO_RCVBUF: %w", gerr)
	}
	return granted, nil
}

// ReaderNice is the nice value Favour gives a reader's thread.
const ReaderNice = -10

// Favour locks the calling goroutine to its OS thread for good and raises
// that thread's priority (ReaderNice), so a reader drains its socket ahead
// of the work it feeds and of other processes: on a busy machine the
// kernel drops datagrams when the reader waits for a core, not when the
// queue behind it is full. The thread is never unlocked, so when the
// goroutine returns the runtime ends the thread rather than hand its
// priority to other goroutines. Without CAP_SYS_NICE the priority stays
// as it was and the error says why.
func Favour() error {
	runtime.LockOSThread()
	if err := raiseThread(ReaderNice); err != nil {
		return fmt.Errorf("reader thread priority %d: %w", ReaderNice, err)
	}
	return nil
}
