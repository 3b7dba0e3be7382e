package ping

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/bpf"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Result is the outcome of one check (a few echo requests to one address).
type Result struct {
	Sent     int
	Received int
	// RTTs of the replies, in the order the requests were sent; a lost
	// packet has no entry.
	RTTs   []time.Duration
	Min    time.Duration
	Avg    time.Duration
	Max    time.Duration
	Jitter time.Duration // mean absolute difference of consecutive RTTs
}

// Loss is the percentage of requests without a reply.
func (r Result) Loss() float64 {
	if r.Sent == 0 {
		return 100
	}
	return 100 * float64(r.Sent-r.Received) / float64(r.Sent)
}

// Pinger owns the shared ICMP socket(s). It is safe for concurrent use by
// any number of goroutines; create one per process.
type Pinger struct {
	log     *slog.Logger
	v4, v6  *sock
	metrics *metrics
	closed  atomic.Bool
	wg      sync.WaitGroup
}

// sock is one shared socket and its table of probes waiting for replies.
type sock struct {
	pc         *icmp.PacketConn
	privileged bool
	v6         bool
	id         uint16 // ICMP id on the wire: ours (raw) or the local port (ping socket)

	mu      sync.Mutex
	nextSeq uint16
	pending map[uint16]*probe
}

// probe is one echo request waiting for its reply.
type probe struct {
	addr  netip.Addr
	token [8]byte
	sent  atomic.Int64 // nanoseconds since epoch (monotonic), set right before the write
	idx   int
	check *check
}

type reply struct {
	idx int
	rtt time.Duration
}

type check struct {
	replies chan reply
}

type metrics struct {
	sent, received, unmatched, sendErrors prometheus.Counter
	inFlight                              prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		sent:       prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_ping_packets_sent_total", Help: "ICMP echo requests written."}),
		received:   prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_ping_packets_received_total", Help: "ICMP echo replies matched to a waiting probe."}),
		unmatched:  prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_ping_packets_unmatched_total", Help: "ICMP echo replies with no probe waiting (late, foreign or bad token)."}),
		sendErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_ping_send_errors_total", Help: "ICMP echo requests the kernel refused."}),
		inFlight:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "unyo_ping_in_flight", Help: "ICMP echo requests waiting for a reply."}),
	}
	if reg != nil {
		reg.MustRegister(m.sent, m.received, m.unmatched, m.sendErrors, m.inFlight)
	}
	return m
}

// epoch is the monotonic base of send times.
var epoch = time.Now()

// instances makes raw-socket ids unique among the Pingers of one process.
var instances atomic.Uint32

// New opens the shared socket(s) and starts their readers. reg may be nil;
// log may be nil.
func New(opts Options, reg prometheus.Registerer, log *slog.Logger) (*Pinger, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pinger{log: log, metrics: newMetrics(reg)}
	var err error
	if p.v4, err = openSock(opts.Mode, opts.Source, false); err != nil {
		return nil, err
	}
	if opts.IPv6 {
		if p.v6, err = openSock(opts.Mode, "", true); err != nil {
			p.v4.pc.Close()
			return nil, err
		}
	}
	for _, s := range []*sock{p.v4, p.v6} {
		if s != nil {
			p.wg.Add(1)
			go p.read(s)
			log.Debug("ping socket open", "privileged", s.privileged, "ipv6", s.v6, "icmp_id", s.id)
		}
	}
	return p, nil
}

func openSock(mode, source string, v6 bool) (*sock, error) {
	var errs []error
	if mode != ModePrivileged {
		s, err := openUnprivileged(source, v6)
		if err == nil {
			return s, nil
		}
		errs = append(errs, fmt.Errorf("ping socket: %w", err))
		if mode == ModeUnprivileged {
			return nil, fmt.Errorf("%w: %w", ErrNoSocket, errors.Join(errs...))
		}
	}
	s, err := openRaw(source, v6)
	if err == nil {
		return s, nil
	}
	errs = append(errs, fmt.Errorf("raw socket: %w", err))
	return nil, fmt.Errorf("%w: %w", ErrNoSocket, errors.Join(errs...))
}

func openUnprivileged(source string, v6 bool) (*sock, error) {
	network, addr := "udp4", "0.0.0.0"
	if v6 {
		network, addr = "udp6", "::"
	}
	if source != "" {
		addr = source
	}
	pc, err := icmp.ListenPacket(network, addr)
	if err != nil {
		return nil, err
	}
	ua, ok := pc.LocalAddr().(*net.UDPAddr)
	if !ok {
		pc.Close()
		return nil, fmt.Errorf("unexpected local address %T", pc.LocalAddr())
	}
	return &sock{pc: pc, v6: v6, id: uint16(ua.Port), pending: map[uint16]*probe{}}, nil
}

func openRaw(source string, v6 bool) (*sock, error) {
	network, addr := "ip4:icmp", "0.0.0.0"
	if v6 {
		network, addr = "ip6:ipv6-icmp", "::"
	}
	if source != "" {
		addr = source
	}
	pc, err := icmp.ListenPacket(network, addr)
	if err != nil {
		return nil, err
	}
	id := uint16(os.Getpid()) ^ uint16(instances.Add(1)*40503)
	if err := installFilter(pc, id, v6); err != nil {
		pc.Close()
		return nil, fmt.Errorf("bpf id filter: %w", err)
	}
	return &sock{pc: pc, privileged: true, v6: v6, id: id, pending: map[uint16]*probe{}}, nil
}

// installFilter lets only echo replies with our id through to the socket,
// so other ping programs on the host cost this process nothing.
func installFilter(pc *icmp.PacketConn, id uint16, v6 bool) error {
	if v6 {
		prog, err := bpf.Assemble([]bpf.Instruction{
			bpf.LoadAbsolute{Off: 0, Size: 1},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(ipv6.ICMPTypeEchoReply), SkipTrue: 1},
			bpf.RetConstant{Val: 0},
			bpf.LoadAbsolute{Off: 4, Size: 2},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(id), SkipFalse: 1},
			bpf.RetConstant{Val: 0xffff},
			bpf.RetConstant{Val: 0},
		})
		if err != nil {
			return err
		}
		return pc.IPv6PacketConn().SetBPF(prog)
	}
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadMemShift{Off: 0},          // X = IP header length
		bpf.LoadIndirect{Off: 0, Size: 1}, // ICMP type
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(ipv4.ICMPTypeEchoReply), SkipTrue: 1},
		bpf.RetConstant{Val: 0},
		bpf.LoadIndirect{Off: 4, Size: 2}, // ICMP id
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(id), SkipFalse: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	})
	if err != nil {
		return err
	}
	return pc.IPv4PacketConn().SetBPF(prog)
}

// Privileged reports whether the IPv4 socket is a raw socket.
func (p *Pinger) Privileged() bool { return p.v4.privileged }

// Close closes the sockets; Pings in progress return what they have.
func (p *Pinger) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	var errs []error
	for _, s := range []*sock{p.v4, p.v6} {
		if s != nil {
			errs = append(errs, s.pc.Close())
		}
	}
	p.wg.Wait()
	return errors.Join(errs...)
}

const payloadLen = 16

// read is the demultiplexer: one goroutine per socket.
func (p *Pinger) read(s *sock) {
	defer p.wg.Done()
	buf := make([]byte, 1500)
	replyType := byte(0) // ICMPv4 echo reply
	if s.v6 {
		replyType = 129
	}
	for {
		n, from, err := s.pc.ReadFrom(buf)
		now := time.Now()
		if err != nil {
			if p.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			p.log.Debug("ping read", "err", err)
			continue
		}
		if n < 8+payloadLen || buf[0] != replyType || buf[1] != 0 {
			continue
		}
		id := binary.BigEndian.Uint16(buf[4:6])
		seq := binary.BigEndian.Uint16(buf[6:8])
		if id != s.id {
			p.metrics.unmatched.Inc()
			continue
		}
		src := addrOf(from)
		s.mu.Lock()
		pr := s.pending[seq]
		if pr == nil || pr.addr != src || [8]byte(buf[8:16]) != pr.token {
			s.mu.Unlock()
			p.metrics.unmatched.Inc()
			continue
		}
		delete(s.pending, seq)
		s.mu.Unlock()
		p.metrics.inFlight.Dec()
		p.metrics.received.Inc()
		select {
		case pr.check.replies <- reply{idx: pr.idx, rtt: time.Duration(now.Sub(epoch).Nanoseconds() - pr.sent.Load())}:
		default: // cannot happen: the channel holds one reply per packet
		}
	}
}

func addrOf(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.IPAddr:
		ip = a.IP
	}
	ad, _ := netip.AddrFromSlice(ip)
	return ad.Unmap()
}

// Ping sends cfg.Packets echo requests to addr, cfg.PacketInterval apart,
// and waits cfg.Timeout after the last one (or until every reply is in).
// It returns early with what it has when ctx ends.
func (p *Pinger) Ping(ctx context.Context, addr netip.Addr, cfg Config) (Result, error) {
	if p.closed.Load() {
		return Result{}, ErrClosed
	}
	addr = addr.Unmap()
	s := p.v4
	if addr.Is6() {
		s = p.v6
		if s == nil {
			return Result{}, fmt.Errorf("%w: %s", ErrFamily, addr)
		}
	}
	n := max(cfg.Packets, 1)
	c := &check{replies: make(chan reply, n)}
	rtts := make([]time.Duration, n)
	got := make([]bool, n)
	seqs := make([]uint16, 0, n)
	defer func() {
		s.mu.Lock()
		left := 0
		for _, q := range seqs {
			if pr := s.pending[q]; pr != nil && pr.check == c {
				delete(s.pending, q)
				left++
			}
		}
		s.mu.Unlock()
		p.metrics.inFlight.Sub(float64(left))
	}()

	var dst net.Addr
	if s.privileged {
		dst = &net.IPAddr{IP: addr.AsSlice()}
	} else {
		dst = &net.UDPAddr{IP: addr.AsSlice()}
	}
	res := Result{}
	received := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	pkt := make([]byte, 8+payloadLen)
	for i := 0; i < n; i++ {
		if i > 0 {
			timer.Reset(cfg.PacketInterval)
		wait:
			for {
				select {
				case r := <-c.replies:
					rtts[r.idx], got[r.idx] = r.rtt, true
					received++
				case <-timer.C:
					break wait
				case <-ctx.Done():
					return summarize(res.Sent, rtts, got), ctx.Err()
				}
			}
		}
		seq, pr, err := s.register(addr, c, i)
		if err != nil {
			return summarize(res.Sent, rtts, got), err
		}
		seqs = append(seqs, seq)
		p.metrics.inFlight.Inc()
		encode(pkt, s.v6, s.id, seq, pr.token)
		pr.sent.Store(int64(time.Since(epoch)))
		res.Sent++
		if _, err := s.pc.WriteTo(pkt, dst); err != nil {
			// EHOSTUNREACH, ENETUNREACH...: a lost packet, not a broken pinger.
			p.metrics.sendErrors.Inc()
			p.log.Debug("ping send", "addr", addr, "err", err)
			continue
		}
		p.metrics.sent.Inc()
	}
	timer.Reset(cfg.Timeout)
	for received < n {
		select {
		case r := <-c.replies:
			rtts[r.idx], got[r.idx] = r.rtt, true
			received++
		case <-timer.C:
			return summarize(res.Sent, rtts, got), nil
		case <-ctx.Done():
			return summarize(res.Sent, rtts, got), ctx.Err()
		}
	}
	return summarize(res.Sent, rtts, got), nil
}

// register picks a free sequence number and records the probe under it.
// The probe's send time is set by the caller right before the write; the
// reader cannot see the probe before the request is on the wire.
func (s *sock) register(addr netip.Addr, c *check, idx int) (uint16, *probe, error) {
	pr := &probe{addr: addr, idx: idx, check: c}
	pr.sent.Store(int64(time.Since(epoch)))
	if _, err := rand.Read(pr.token[:]); err != nil {
		return 0, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for range 1 << 16 {
		s.nextSeq++
		if _, busy := s.pending[s.nextSeq]; !busy {
			s.pending[s.nextSeq] = pr
			return s.nextSeq, pr, nil
		}
	}
	return 0, nil, ErrTooManyInFlight
}

// encode writes an echo request. The checksum is left zero for ICMPv6 (the
// kernel computes it) and for ping sockets; raw ICMPv4 needs it.
func encode(b []byte, v6 bool, id, seq uint16, token [8]byte) {
	b[0], b[1] = 8, 0
	if v6 {
		b[0] = 128
	}
	b[2], b[3] = 0, 0
	// For ping sockets the kernel replaces the id with the socket's port.
	binary.BigEndian.PutUint16(b[4:6], id)
	binary.BigEndian.PutUint16(b[6:8], seq)
	copy(b[8:16], token[:])
	binary.BigEndian.PutUint64(b[16:24], uint64(time.Now().UnixNano()))
	if !v6 {
		binary.BigEndian.PutUint16(b[2:4], checksum(b))
	}
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func summarize(sent int, rtts []time.Duration, got []bool) Result {
	r := Result{Sent: sent}
	var sum time.Duration
	var prev time.Duration
	var jsum float64
	for i, ok := range got {
		if !ok {
			continue
		}
		d := rtts[i]
		r.RTTs = append(r.RTTs, d)
		if r.Received == 0 || d < r.Min {
			r.Min = d
		}
		if d > r.Max {
			r.Max = d
		}
		if r.Received > 0 {
			jsum += math.Abs(float64(d - prev))
		}
		prev = d
		sum += d
		r.Received++
	}
	if r.Received > 0 {
		r.Avg = sum / time.Duration(r.Received)
	}
	if r.Received > 1 {
		r.Jitter = time.Duration(jsum / float64(r.Received-1))
	}
	return r
}
