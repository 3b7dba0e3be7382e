package ping

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
//
// Checks are asynchronous inside: Start sends the first packet and returns;
// the reader goroutine of each socket matches replies, and one clock
// goroutine sends the later packets of multi-packet checks and expires
// checks whose timeout passed. No goroutine, channel or timer is created per
// check; Ping is Start plus a wait.
type Pinger struct {
	log     *slog.Logger
	v4, v6  *sock
	metrics *metrics
	closed  atomic.Bool
	wg      sync.WaitGroup

	// mu guards the probe tables of both sockets, every check and the
	// clock's heap.
	mu     sync.Mutex
	timers checkHeap
	armed  int64 // when the clock goroutine will next wake (ns since epoch); noWake when idle
	// timer wakes the clock goroutine at armed; it is reset (under mu)
	// by whoever moves armed earlier, so a new check costs the clock no
	// extra wake-up.
	timer *time.Timer
	quit  chan struct{}
	rng   *mrand.ChaCha8 // request tokens
	// io is read-locked around writes and locked to close the sockets, so
	// a write never reaches a closed (and maybe reused) descriptor.
	io sync.RWMutex
}

// sock is one shared socket and its table of probes waiting for replies
// (guarded by Pinger.mu).
type sock struct {
	sockIO
	privileged bool
	v6         bool
	id         uint16 // ICMP id on the wire: ours (raw) or the local port (ping socket)

	nextSeq uint16
	pending map[uint16]*probe
}

// probe is one echo request waiting for its reply.
type probe struct {
	token [8]byte
	sent  int64 // Unix ns (the kernel stamps replies in wall-clock time), set before the write
	seq   uint16
	idx   int
	check *check
}

// check is one Start: n echo requests to one address.
type check struct {
	s    *sock
	addr netip.Addr
	dst  *dest
	cfg  Config
	done func(Result, error)

	n        int
	sent     int // requests registered so far
	received int
	due      int64 // next action (send the next request, or expire), ns since epoch
	hidx     int   // index in Pinger.timers, -1 when not queued
	finished bool
	err      error
	probes   []probe
	rtts     []time.Duration // -1: no reply (yet)

	// Inline storage for checks of up to 3 packets (the default).
	probe3 [3]probe
	rtt3   [3]time.Duration
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
	p := &Pinger{log: log, metrics: newMetrics(reg), armed: noWake, quit: make(chan struct{})}
	p.timer = time.NewTimer(time.Hour)
	p.timer.Stop()
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, err
	}
	p.rng = mrand.NewChaCha8(seed)
	var err error
	if p.v4, err = openSock(opts.Mode, opts.Source, false); err != nil {
		return nil, err
	}
	if opts.IPv6 {
		if p.v6, err = openSock(opts.Mode, "", true); err != nil {
			p.v4.close()
			return nil, err
		}
	}
	for _, s := range []*sock{p.v4, p.v6} {
		if s != nil {
			log.Debug("ping socket open", "privileged", s.privileged, "ipv6", s.v6, "icmp_id", s.id)
		}
	}
	p.wg.Add(1)
	go p.clock()
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
	s, err := openRaw(source, v6, uint16(os.Getpid())^uint16(instances.Add(1)*40503))
	if err == nil {
		return s, nil
	}
	errs = append(errs, fmt.Errorf("raw socket: %w", err))
	return nil, fmt.Errorf("%w: %w", ErrNoSocket, errors.Join(errs...))
}

// Privileged reports whether the IPv4 socket is a raw socket.
func (p *Pinger) Privileged() bool { return p.v4.privileged }

// Close closes the sockets; checks in progress end with what they have.
func (p *Pinger) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	close(p.quit)
	p.wg.Wait()
	var errs []error
	p.io.Lock()
	for _, s := range []*sock{p.v4, p.v6} {
		if s != nil {
			errs = append(errs, s.close())
		}
	}
	p.io.Unlock()
	p.mu.Lock()
	var fins []*check
	for len(p.timers) > 0 {
		c := p.timers[0]
		p.finishLocked(c, nil)
		fins = append(fins, c)
	}
	p.mu.Unlock()
	for _, c := range fins {
		p.deliver(c)
	}
	return errors.Join(errs...)
}

const payloadLen = 16

// noWake is the clock's wake time when it has nothing to do.
const noWake = math.MaxInt64

// clockGrain coalesces the clock's wake-ups: timed actions (the next
// packet of a check, a timeout) run up to this much late, so that a
// thousand checks a second cost at most 1/clockGrain wake-ups.
const clockGrain = int64(5 * time.Millisecond)

func mono() int64 { return int64(time.Since(epoch)) }

// drain reads every reply waiting on s and matches it to its probe; it
// returns the checks whose last reply came in. Called by the clock
// goroutine with mu held.
func (p *Pinger) drainLocked(s *sock, fins []*check) []*check {
	replyType := byte(0) // ICMPv4 echo reply
	if s.v6 {
		replyType = 129
	}
	var received, unmatched int
	match := func(r reply) {
		b := r.icmp
		if len(b) < 8+payloadLen || b[0] != replyType || b[1] != 0 {
			return
		}
		id := binary.BigEndian.Uint16(b[4:6])
		seq := binary.BigEndian.Uint16(b[6:8])
		pr := s.pending[seq]
		if id != s.id || pr == nil || pr.check.addr != r.from.Unmap() || [8]byte(b[8:16]) != pr.token {
			unmatched++
			return
		}
		delete(s.pending, seq)
		at := r.stamp
		if at == 0 {
			at = time.Now().UnixNano()
		}
		c := pr.check
		c.rtts[pr.idx] = time.Duration(max(at-pr.sent, 0))
		c.received++
		received++
		if c.received == c.n {
			p.finishLocked(c, nil)
			fins = append(fins, c)
		}
	}
	for {
		more, err := s.recv(match)
		if err != nil {
			p.log.Debug("ping read", "err", err)
			break
		}
		if !more {
			break
		}
	}
	if received > 0 {
		p.metrics.inFlight.Sub(float64(received))
		p.metrics.received.Add(float64(received))
	}
	if unmatched > 0 {
		p.metrics.unmatched.Add(float64(unmatched))
	}
	return fins
}

// Ping sends cfg.Packets echo requests to addr, cfg.PacketInterval apart,
// and waits cfg.Timeout after the last one (or until every reply is in).
// It returns early with what it has when ctx ends.
func (p *Pinger) Ping(ctx context.Context, addr netip.Addr, cfg Config) (Result, error) {
	type outcome struct {
		r   Result
		err error
	}
	ch := make(chan outcome, 1)
	c, err := p.start(addr, cfg, func(r Result, err error) { ch <- outcome{r, err} })
	if err != nil {
		return Result{}, err
	}
	select {
	case o := <-ch:
		return o.r, o.err
	case <-ctx.Done():
		p.cancel(c, ctx.Err())
		o := <-ch
		return o.r, o.err
	}
}

// Start begins one check of addr (as Ping does) and returns once the first
// request is sent. done is called exactly once with the outcome, from one
// of the Pinger's goroutines; it must return quickly and must not call
// back into the Pinger. Start returns an error (and done is not called)
// when the check cannot begin: closed pinger, address family not enabled,
// every sequence number in flight.
func (p *Pinger) Start(addr netip.Addr, cfg Config, done func(Result, error)) error {
	_, err := p.start(addr, cfg, done)
	return err
}

func (p *Pinger) start(addr netip.Addr, cfg Config, done func(Result, error)) (*check, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	addr = addr.Unmap()
	s := p.v4
	if addr.Is6() {
		s = p.v6
		if s == nil {
			return nil, fmt.Errorf("%w: %s", ErrFamily, addr)
		}
	}
	c := newCheck(s, addr, cfg, done)
	var pkt [8 + payloadLen]byte
	p.mu.Lock()
	if p.closed.Load() { // Close drains the checks under mu after setting closed
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if err := p.registerLocked(c, pkt[:]); err != nil {
		p.mu.Unlock()
		return nil, err
	}
	p.wakeLocked(mono())
	p.mu.Unlock()
	p.write(c, pkt[:])
	return c, nil
}

func newCheck(s *sock, addr netip.Addr, cfg Config, done func(Result, error)) *check {
	n := max(cfg.Packets, 1)
	c := &check{s: s, addr: addr, cfg: cfg, done: done, n: n, hidx: -1}
	if n <= len(c.probe3) {
		c.probes, c.rtts = c.probe3[:n], c.rtt3[:n]
	} else {
		c.probes, c.rtts = make([]probe, n), make([]time.Duration, n)
	}
	for i := range c.rtts {
		c.rtts[i] = -1
	}
	c.dst = newDest(addr)
	return c
}

// Request is one check for StartBatch.
type Request struct {
	Addr   netip.Addr
	Config Config
	// Done is called exactly once with the outcome, as Start's done is;
	// a check that cannot begin (closed pinger, address family not
	// enabled, every sequence number in flight) is done at once with the
	// error, from StartBatch.
	Done func(Result, error)
}

// StartBatch begins the checks of reqs, as Start does each, at the cost
// of a few system calls for the whole batch rather than one per check:
// the first requests are written together (sendmmsg, up to sendBatch per
// call), and the replies already waiting on the socket — near targets
// (the LAN, loopback) answer while the batch is being written — are read
// and matched right after each chunk of startChunk, so those checks end
// without waking the clock goroutine. Done may be called from
// StartBatch's goroutine (a check that ended within the call) as well as
// the Pinger's; it must return quickly and must not call back into the
// Pinger. StartBatch does not keep reqs.
func (p *Pinger) StartBatch(reqs []Request) {
	// In chunks, each written and its replies read before the next: the
	// replies to a chunk fit in the socket's receive buffer, and a batch
	// larger than the sequence space (a scheduler that fell an interval
	// behind) frees sequence numbers as it goes instead of exhausting them.
	for len(reqs) > 0 {
		n := min(len(reqs), startChunk)
		p.startChunk(reqs[:n])
		reqs = reqs[n:]
	}
}

// startChunk is how many requests StartBatch writes before it reads the
// replies waiting.
const startChunk = 4 * sendBatch

func (p *Pinger) startChunk(reqs []Request) {
	b := batchPool.Get().(*batch)
	defer b.release()
	type failed struct {
		done func(Result, error)
		err  error
	}
	var fails []failed
	p.mu.Lock()
	for _, r := range reqs {
		addr := r.Addr.Unmap()
		s := p.v4
		if addr.Is6() {
			s = p.v6
		}
		var err error
		switch {
		case p.closed.Load():
			err = ErrClosed
		case s == nil:
			err = fmt.Errorf("%w: %s", ErrFamily, addr)
		}
		if err == nil {
			c := newCheck(s, addr, r.Config, r.Done)
			b.pkts = append(b.pkts, [8 + payloadLen]byte{})
			if err = p.registerLocked(c, b.pkts[len(b.pkts)-1][:]); err == nil {
				b.checks = append(b.checks, c)
				continue
			}
			b.pkts = b.pkts[:len(b.pkts)-1]
		}
		fails = append(fails, failed{r.Done, err})
	}
	p.mu.Unlock()
	p.writeBatch(b)
	p.mu.Lock()
	fins := b.fins
	for _, s := range []*sock{p.v4, p.v6} {
		if s != nil && len(s.pending) > 0 {
			fins = p.drainLocked(s, fins)
		}
	}
	p.wakeLocked(mono())
	p.mu.Unlock()
	b.fins = fins
	for _, c := range fins {
		p.deliver(c)
	}
	for _, f := range fails {
		f.done(Result{}, f.err)
	}
}

// batch is the scratch space of one StartBatch (or clock tick): the
// checks whose requests are written together and their packets.
type batch struct {
	checks []*check
	pkts   [][8 + payloadLen]byte
	fins   []*check
}

var batchPool = sync.Pool{New: func() any { return new(batch) }}

func (b *batch) release() {
	clear(b.checks)
	clear(b.fins)
	b.checks, b.pkts, b.fins = b.checks[:0], b.pkts[:0], b.fins[:0]
	batchPool.Put(b)
}

// writeBatch writes the packets of b, one sendmmsg per run of checks on
// the same socket.
func (p *Pinger) writeBatch(b *batch) {
	if len(b.checks) == 0 {
		return
	}
	p.metrics.inFlight.Add(float64(len(b.checks)))
	var sent, failed int
	p.io.RLock()
	for i := 0; i < len(b.checks); {
		s := b.checks[i].s
		j := i + 1
		for j < len(b.checks) && b.checks[j].s == s {
			j++
		}
		if p.closed.Load() {
			failed += j - i
		} else {
			n := s.writeBatch(b.checks[i:j], b.pkts[i:j], func(c *check, err error) {
				p.log.Debug("ping send", "addr", c.addr, "err", err)
			})
			sent += n
			failed += j - i - n
		}
		i = j
	}
	p.io.RUnlock()
	if sent > 0 {
		p.metrics.sent.Add(float64(sent))
	}
	if failed > 0 {
		// A lost packet, not a broken pinger (see write).
		p.metrics.sendErrors.Add(float64(failed))
	}
}

// wakeLocked makes sure the clock goroutine wakes for the earliest timed
// action and, while replies are awaited, within a grain to read them.
func (p *Pinger) wakeLocked(now int64) {
	if wake := p.nextWakeLocked(now); wake < p.armed {
		p.armed = wake
		p.timer.Reset(time.Duration(max(wake-now, 0)))
	}
}

// nextWakeLocked is when the clock must next run: the earliest timed
// action rounded up to the grain, and, while replies are awaited, the
// next grain boundary (to read them). Wake-ups on the grain's boundaries
// are shared by nearby deadlines and by the checks of many batches.
func (p *Pinger) nextWakeLocked(now int64) int64 {
	wake := int64(noWake)
	if len(p.timers) > 0 {
		wake = (p.timers[0].due + clockGrain - 1) / clockGrain * clockGrain
	}
	if p.inFlightLocked() {
		wake = min(wake, (now+clockGrain)/clockGrain*clockGrain)
	}
	return wake
}

// registerLocked gives the next request of c a free sequence number,
// encodes it into pkt and queues c for its next timed action. The caller
// writes pkt after unlocking: the reader cannot match a reply before the
// request is on the wire, and the send time is set before.
func (p *Pinger) registerLocked(c *check, pkt []byte) error {
	s := c.s
	pr := &c.probes[c.sent]
	seq, ok := uint16(0), false
	for range 1 << 16 {
		s.nextSeq++
		if _, busy := s.pending[s.nextSeq]; !busy {
			seq, ok = s.nextSeq, true
			break
		}
	}
	if !ok {
		return ErrTooManyInFlight
	}
	binary.LittleEndian.PutUint64(pr.token[:], p.rng.Uint64())
	pr.seq, pr.idx, pr.check = seq, c.sent, c
	s.pending[seq] = pr
	now := time.Now()
	pr.sent = now.UnixNano()
	encode(pkt, s.v6, s.id, seq, pr.token)
	c.sent++
	mnow := int64(now.Sub(epoch))
	if c.sent < c.n {
		c.due = mnow + int64(c.cfg.PacketInterval)
	} else {
		c.due = mnow + int64(c.cfg.Timeout)
	}
	// The clock must wake to read the reply (within a grain) and for c's
	// next action: the caller calls wakeLocked once it registered its
	// batch.
	p.timers.set(c)
	return nil
}

func (p *Pinger) write(c *check, pkt []byte) {
	p.metrics.inFlight.Inc()
	p.io.RLock()
	err := ErrClosed
	if !p.closed.Load() {
		err = c.s.writeTo(pkt, c.dst)
	}
	p.io.RUnlock()
	if err != nil {
		// EHOSTUNREACH, ENETUNREACH, EAGAIN / ENOBUFS (send buffer full)...:
		// a lost packet, not a broken pinger; the check still ends on its
		// timeout.
		p.metrics.sendErrors.Inc()
		p.log.Debug("ping send", "addr", c.addr, "err", err)
		return
	}
	p.metrics.sent.Inc()
}

// finishLocked ends c: its requests still waiting are forgotten and it
// leaves the clock's heap. deliver then calls done, unlocked.
func (p *Pinger) finishLocked(c *check, err error) {
	if c.finished {
		return
	}
	c.finished, c.err = true, err
	left := 0
	for i := range c.sent {
		pr := &c.probes[i]
		if c.rtts[i] < 0 && c.s.pending[pr.seq] == pr {
			delete(c.s.pending, pr.seq)
			left++
		}
	}
	if left > 0 {
		p.metrics.inFlight.Sub(float64(left))
	}
	p.timers.remove(c)
}

func (p *Pinger) deliver(c *check) {
	got := 0
	for _, d := range c.rtts[:c.sent] {
		if d >= 0 {
			c.rtts[got] = d
			got++
		}
	}
	c.done(summarizeRTTs(c.sent, c.rtts[:got]), c.err)
}

// cancel ends c early (its context ended) with what it has.
func (p *Pinger) cancel(c *check, err error) {
	p.mu.Lock()
	if c.finished {
		p.mu.Unlock()
		return
	}
	p.finishLocked(c, err)
	p.mu.Unlock()
	p.deliver(c)
}

// clock sends the later requests of multi-packet checks and expires
// checks whose timeout passed. One goroutine per Pinger.
func (p *Pinger) clock() {
	defer p.wg.Done()
	defer p.timer.Stop()
	sends := new(batch)
	var fins []*check
	for {
		select {
		case <-p.quit:
			return
		case <-p.timer.C:
		}
		now := mono()
		sends.checks, sends.pkts, fins = sends.checks[:0], sends.pkts[:0], fins[:0]
		p.mu.Lock()
		for _, s := range []*sock{p.v4, p.v6} {
			if s != nil && len(s.pending) > 0 {
				fins = p.drainLocked(s, fins)
			}
		}
		for len(p.timers) > 0 && p.timers[0].due <= now {
			c := p.timers[0]
			if c.sent < c.n {
				sends.pkts = append(sends.pkts, [8 + payloadLen]byte{})
				if err := p.registerLocked(c, sends.pkts[len(sends.pkts)-1][:]); err != nil {
					sends.pkts = sends.pkts[:len(sends.pkts)-1]
					p.finishLocked(c, err)
					fins = append(fins, c)
					continue
				}
				sends.checks = append(sends.checks, c)
				continue
			}
			p.finishLocked(c, nil)
			fins = append(fins, c)
		}
		// Replies are read on the clock's ticks while any is awaited.
		p.armed = p.nextWakeLocked(now)
		if p.armed != noWake {
			p.timer.Reset(time.Duration(max(p.armed-mono(), 0)))
		}
		p.mu.Unlock()
		p.writeBatch(sends)
		for _, c := range fins {
			p.deliver(c)
		}
		clear(sends.checks)
		clear(fins)
	}
}

func (p *Pinger) inFlightLocked() bool {
	return len(p.v4.pending) > 0 || (p.v6 != nil && len(p.v6.pending) > 0)
}

// checkHeap orders unfinished checks by their next timed action.
type checkHeap []*check

// set queues c or moves it to its new due time.
func (h *checkHeap) set(c *check) {
	if c.hidx < 0 {
		c.hidx = len(*h)
		*h = append(*h, c)
		h.up(c.hidx)
		return
	}
	if !h.down(c.hidx) {
		h.up(c.hidx)
	}
}

func (h *checkHeap) remove(c *check) {
	i := c.hidx
	if i < 0 {
		return
	}
	old := *h
	last := len(old) - 1
	if i != last {
		h.swap(i, last)
	}
	old[last] = nil
	*h = old[:last]
	c.hidx = -1
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
}

func (h checkHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}

func (h checkHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if h[i].due <= h[j].due {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h checkHeap) down(i0 int) bool {
	i := i0
	n := len(h)
	for {
		j := 2*i + 1
		if j >= n {
			break
		}
		if j2 := j + 1; j2 < n && h[j2].due < h[j].due {
			j = j2
		}
		if h[j].due >= h[i].due {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
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
	var in []time.Duration
	for i, ok := range got {
		if ok {
			in = append(in, rtts[i])
		}
	}
	return summarizeRTTs(sent, in)
}

// summarizeRTTs computes a Result from the RTTs of the replies, in the
// order the requests were sent; the Result keeps rtts.
func summarizeRTTs(sent int, rtts []time.Duration) Result {
	r := Result{Sent: sent, Received: len(rtts)}
	if len(rtts) == 0 {
		return r
	}
	r.RTTs = rtts
	var sum time.Duration
	var jsum float64
	r.Min, r.Max = rtts[0], rtts[0]
	for i, d := range rtts {
		r.Min, r.Max = min(r.Min, d), max(r.Max, d)
		if i > 0 {
			jsum += math.Abs(float64(d - rtts[i-1]))
		}
		sum += d
	}
	r.Avg = sum / time.Duration(len(rtts))
	if len(rtts) > 1 {
		r.Jitter = time.Duration(jsum / float64(len(rtts)-1))
	}
	return r
}
