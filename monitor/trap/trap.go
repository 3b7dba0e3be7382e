package trap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/monitor"
	"github.com/unyo-ops/unyo/monitor/internal/warnlimit"
	"github.com/unyo-ops/unyo/monitor/udpbatch"
)

// Source is the event source of everything this package publishes.
const Source = "snmp-trap"

// ErrStarted is returned by Start on a receiver already started or stopped.
var ErrStarted = errors.New("trap: receiver already started")

type packet struct {
	data     []byte
	src      netip.AddrPort
	received time.Time
}

// Receiver receives SNMP traps. New, then Start; Stop ends it.
type Receiver struct {
	cfg   Config
	log   *slog.Logger
	sink  monitor.Sink
	rules *ruleSet
	names map[netip.Addr]string
	allow sourceSet
	m     *metrics
	warn  *warnlimit.Limiter
	// queue holds batches of packets (one per read); queued counts the
	// packets in it, bounded by QueueSize.
	queue  chan []packet
	queued atomic.Int64
	drain  time.Duration // how long Stop lets workers finish the queue

	mu      sync.Mutex
	state   int // 0 new, 1 started, 2 stopped
	conn    *net.UDPConn
	done    chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	reader  sync.WaitGroup
	workers sync.WaitGroup
}

// New builds a receiver; it opens no socket until Start. log nil discards
// logs; reg nil registers no metrics.
func New(cfg Config, sink monitor.Sink, log *slog.Logger, reg prometheus.Registerer) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("trap: config: %w", err)
	}
	if sink == nil {
		return nil, errors.New("trap: sink is required")
	}
	cfg.setDefaults()
	rs, err := newRuleSet(&cfg)
	if err != nil {
		return nil, fmt.Errorf("trap: config: %w", err)
	}
	if _, err := newDecoder(&cfg); err != nil {
		return nil, fmt.Errorf("trap: config: %w", err)
	}
	allow, err := newSourceSet(cfg.AllowSources)
	if err != nil {
		return nil, fmt.Errorf("trap: config: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Receiver{
		cfg:   cfg,
		log:   log.With("component", "trap"),
		sink:  sink,
		rules: rs,
		names: map[netip.Addr]string{},
		allow: allow,
		warn:  warnlimit.New(refusalLogEvery),
		queue: make(chan []packet, cfg.QueueSize),
		drain: drainTimeout,
		done:  make(chan struct{}),
	}
	for k, v := range cfg.Targets {
		r.names[netip.MustParseAddr(k).Unmap()] = v
	}
	r.m = newMetrics(reg, r)
	return r, nil
}

// Start binds the UDP socket and starts the reader and the workers.
// Cancelling ctx stops the receiver as Stop does.
func (r *Receiver) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != 0 {
		return ErrStarted
	}
	ua, err := net.ResolveUDPAddr("udp", r.cfg.Listen)
	if err != nil {
		return fmt.Errorf("trap: listen: %w", err)
	}
	if r.conn, err = net.ListenUDP("udp", ua); err != nil {
		return fmt.Errorf("trap: listen: %w", err)
	}
	if granted, err := udpbatch.SetReadBuffer(r.conn, r.cfg.ReadBuffer); err != nil {
		r.log.Warn("cannot set UDP receive buffer", "read_buffer", r.cfg.ReadBuffer, "err", err)
	} else if granted < r.cfg.ReadBuffer {
		r.log.Warn("UDP receive buffer smaller than read_buffer (raise net.core.rmem_max, or give the process CAP_NET_ADMIN)",
			"read_buffer", r.cfg.ReadBuffer, "granted", granted)
	}
	decs := make([]*decoder, r.cfg.Workers)
	for i := range decs {
		if decs[i], err = newDecoder(&r.cfg); err != nil {
			r.conn.Close()
			return fmt.Errorf("trap: %w", err)
		}
	}
	r.state = 1
	r.ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for _, d := range decs {
		r.workers.Add(1)
		go r.work(d)
	}
	r.reader.Add(1)
	go r.read()
	context.AfterFunc(ctx, r.Stop)
	r.log.Info("trap receiver started", "listen", r.conn.LocalAddr().String())
	return nil
}

// Addr returns the bound UDP address, nil before Start.
func (r *Receiver) Addr() net.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn == nil {
		return nil
	}
	return r.conn.LocalAddr()
}

const drainTimeout = 5 * time.Second

// Stop closes the socket, lets the workers finish the queue (at most 5 s,
// then pending publishes are cancelled) and waits for them. Idempotent.
func (r *Receiver) Stop() {
	r.mu.Lock()
	if r.state != 1 {
		r.state = 2
		r.mu.Unlock()
		return
	}
	r.state = 2
	close(r.done)
	r.conn.Close()
	r.mu.Unlock()
	r.reader.Wait()
	close(r.queue)
	t := time.AfterFunc(r.drain, r.cancel)
	r.workers.Wait()
	t.Stop()
	r.cancel()
	r.log.Info("trap receiver stopped")
}

// readBatch is how many datagrams one read takes from the socket;
// maxPacket the largest kept (an SNMP message is at most 65507 bytes over
// UDP/IPv4).
const (
	readBatch = 32
	maxPacket = 65535
)

// read copies datagrams onto the queue, a batch per system call; it never
// blocks on the queue.
func (r *Receiver) read() {
	defer r.reader.Done()
	rd := udpbatch.New(r.conn, readBatch, maxPacket)
	for {
		n, err := rd.Read()
		if err != nil {
			select {
			case <-r.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			r.log.Debug("udp read", "err", err)
			continue
		}
		now := time.Now()
		r.m.packets.Add(float64(n))
		room := max(0, r.cfg.QueueSize-int(r.queued.Load()))
		var size int
		for i := range n {
			data, _, _ := rd.Datagram(i)
			size += len(data)
		}
		buf := make([]byte, 0, size) // one allocation for the batch's bytes
		var ps []packet
		for i := range n {
			data, src, _ := rd.Datagram(i)
			if !r.allow.allows(src.Addr()) {
				r.refused(src, peekVersion(data), "source", ErrSource)
				continue
			}
			if len(ps) >= room {
				r.m.dropped.Inc()
				continue
			}
			buf = append(buf, data...)
			ps = append(ps, packet{data: buf[len(buf)-len(data):], src: src, received: now})
		}
		if len(ps) == 0 {
			continue
		}
		r.queued.Add(int64(len(ps)))
		select {
		case r.queue <- ps:
		default:
			r.queued.Add(-int64(len(ps)))
			r.m.dropped.Add(float64(len(ps)))
		}
	}
}

// maxBatch is the most events a worker hands to the sink at once.
const maxBatch = 512

// work decodes queued packets: it takes what is queued, up to maxBatch
// packets, and publishes their events in one batch (one spool append).
func (r *Receiver) work(d *decoder) {
	defer r.workers.Done()
	var evs []incident.Event
	take := func(ps []packet) int {
		r.queued.Add(-int64(len(ps)))
		for _, p := range ps {
			evs = r.handle(d, p, evs)
		}
		return len(ps)
	}
	for ps := range r.queue {
		n := take(ps)
	more:
		for n < maxBatch {
			select {
			case ps, ok := <-r.queue:
				if !ok {
					break more
				}
				n += take(ps)
			default:
				break more
			}
		}
		r.flush(evs)
		clear(evs)
		evs = evs[:0]
	}
}

// flush publishes evs. Nothing is retried: the sink is the node's spool,
// which waits on neither the bus nor the disk; when it is full its policy
// applies (the events are dropped and counted), since a trap sender
// cannot be pushed back.
func (r *Receiver) flush(evs []incident.Event) {
	if len(evs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.PublishTimeout)
	err := monitor.PublishAll(ctx, r.sink, evs)
	cancel()
	switch {
	case err == nil:
		r.m.published.Add(float64(len(evs)))
		r.m.batches.Inc()
	case errors.Is(err, monitor.ErrFull):
		r.m.spoolFull.Add(float64(len(evs)))
		if ok, held := r.warn.Allow("spool_full", time.Now()); ok {
			r.log.Warn("spool full: trap events dropped", "events", len(evs), "held_back", held, "err", err)
		}
	default:
		r.m.publishErrors.Add(float64(len(evs)))
		if ok, held := r.warn.Allow("publish", time.Now()); ok {
			r.log.Warn("publish events", "events", len(evs), "first_id", evs[0].ID, "held_back", held, "err", err)
		}
	}
}

// handle decodes one packet and appends its event, if any, to evs.
func (r *Receiver) handle(d *decoder, p packet, evs []incident.Event) []incident.Event {
	src := p.src.Addr().Unmap()
	t, err := d.decode(p.data, src)
	if err != nil {
		if reason := rejectReason(err); reason != "" {
			r.refused(p.src, peekVersion(p.data), reason, err)
			return evs
		}
		r.malformed(p, err)
		return evs
	}
	r.m.decoded[versionIndex(t.Version)].Inc()
	if t.Inform {
		if b, err := informResponse(t); err == nil {
			if _, err := r.conn.WriteToUDPAddrPort(b, p.src); err != nil {
				r.log.Debug("inform response", "agent", p.src.String(), "err", err)
			}
		}
	}
	rule, matched := r.rules.match(t)
	if rule == nil {
		r.m.ignored.Inc()
		return evs
	}
	if !matched {
		r.m.unmatched.Inc()
	}
	return append(evs, rule.event(t, r.target(src), p.received))
}

// malformed counts a packet that did not decode and logs it: at warn at
// most once per refusalLogEvery with the number held back since (a storm
// of garbage writes one line a minute), every time at debug.
func (r *Receiver) malformed(p packet, err error) {
	version := peekVersion(p.data)
	r.m.decodeErrors[versionIndex(version)].Inc()
	if errors.Is(err, errLibraryBug) {
		r.log.Warn("trap decoder panicked; packet dropped", "agent", p.src.String(), "err", err)
		return
	}
	if ok, held := r.warn.Allow("malformed", time.Now()); ok {
		r.log.Warn("malformed trap dropped", "agent", p.src.String(), "version", version, "bytes", len(p.data),
			"err", err, "suppressed", held)
		return
	}
	if r.log.Enabled(r.ctx, slog.LevelDebug) {
		r.log.Debug("trap not decoded", "agent", p.src.String(), "bytes", len(p.data), "err", err)
	}
}

// rejectReasons maps the refusals to their reason label; an error matching
// none is a decode error.
var rejectReasons = []struct {
	err    error
	reason string
}{
	{ErrSource, "source"},
	{ErrCommunity, "community"},
	{ErrNoV3Users, "no_v3_users"},
	{ErrSecurityModel, "security_model"},
	{ErrUnknownUser, "unknown_user"},
	{ErrLevel, "level"},
	{ErrAuth, "auth"},
	{ErrDecrypt, "decrypt"},
	{ErrV3Inform, "v3_inform"},
	{ErrNotATrap, "pdu_type"},
}

func rejectReason(err error) string {
	for _, r := range rejectReasons {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return ""
}

// refused counts a refused packet and logs it: at debug every time, at
// warn at most once per reason per refusalLogEvery, with the number of
// refusals not logged at warn since.
func (r *Receiver) refused(src netip.AddrPort, version, reason string, err error) {
	r.m.rejected[reason].Inc()
	if ok, suppressed := r.warn.Allow(reason, time.Now()); ok {
		r.log.Warn("trap refused", "reason", reason, "agent", src.String(), "version", version, "err", err,
			"suppressed", suppressed)
		return
	}
	if r.log.Enabled(context.Background(), slog.LevelDebug) {
		r.log.Debug("trap refused", "reason", reason, "agent", src.String(), "version", version, "err", err)
	}
}

// refusalLogEvery is the least time between two warn lines of one reason.
const refusalLogEvery = time.Minute

// target names the agent: its entry in targets, else its address.
func (r *Receiver) target(a netip.Addr) string {
	if n, ok := r.names[a]; ok {
		return n
	}
	return a.String()
}

// QueueLen returns the number of packets waiting for a worker.
func (r *Receiver) QueueLen() int { return int(r.queued.Load()) }

var versions = [...]string{"v1", "v2c", "v3", "unknown"}

func versionIndex(v string) int {
	for i, s := range versions {
		if s == v {
			return i
		}
	}
	return 3
}

type metrics struct {
	packets, dropped, ignored, unmatched, published, publishErrors prometheus.Counter
	spoolFull, batches                                             prometheus.Counter
	decoded, decodeErrors                                          [4]prometheus.Counter
	rejected                                                       map[string]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, r *Receiver) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &metrics{
		packets:       c("unyo_trap_packets_received_total", "UDP packets read from the trap socket."),
		dropped:       c("unyo_trap_dropped_total", "Packets dropped because the queue was full."),
		ignored:       c("unyo_trap_ignored_total", "Traps an ignore rule dropped."),
		unmatched:     c("unyo_trap_unmatched_total", "Traps no rule matched (kept as info events unless unmatched: ignore)."),
		published:     c("unyo_trap_events_published_total", "Events handed to the sink."),
		publishErrors: c("unyo_trap_publish_errors_total", "Events the sink refused or timed out on."),
		spoolFull:     c("unyo_trap_spool_full_dropped_total", "Events dropped because the spool was full (its bound reached while the bus did not take them)."),
		batches:       c("unyo_trap_publish_batches_total", "Batches of events handed to the sink (one spool append each)."),
		rejected:      map[string]prometheus.Counter{},
	}
	decoded := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "unyo_trap_decoded_total", Help: "Traps and informs decoded, by SNMP version.",
	}, []string{"version"})
	decodeErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "unyo_trap_decode_errors_total", Help: "Packets that failed to decode (refusals are in unyo_trap_rejected_total), by the version in their header.",
	}, []string{"version"})
	for i, v := range versions {
		m.decoded[i] = decoded.WithLabelValues(v)
		m.decodeErrors[i] = decodeErrors.WithLabelValues(v)
	}
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "unyo_trap_rejected_total", Help: "Packets refused (sender, community, SNMPv3 security, PDU type), by reason.",
	}, []string{"reason"})
	for _, rr := range rejectReasons {
		m.rejected[rr.reason] = rejected.WithLabelValues(rr.reason)
	}
	queueLen := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "unyo_trap_queue_length", Help: "Packets waiting for a worker.",
	}, func() float64 { return float64(r.queued.Load()) })
	queueCap := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "unyo_trap_queue_capacity", Help: "Capacity of the packet queue (queue_size).",
	}, func() float64 { return float64(r.cfg.QueueSize) })
	if reg != nil {
		reg.MustRegister(m.packets, m.dropped, m.ignored, m.unmatched, m.published, m.publishErrors, m.spoolFull, m.batches,
			decoded, decodeErrors, rejected, queueLen, queueCap)
	}
	return m
}
