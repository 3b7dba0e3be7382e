package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/bus/spool"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/monitor"
	"github.com/unyo-ops/unyo/monitor/filter"
	"github.com/unyo-ops/unyo/monitor/ping"
	"github.com/unyo-ops/unyo/monitor/scheduler"
	"github.com/unyo-ops/unyo/monitor/syslog"
	"github.com/unyo-ops/unyo/monitor/target"
	"github.com/unyo-ops/unyo/monitor/threshold"
	"github.com/unyo-ops/unyo/monitor/trap"
)

// MonitorOptions configure the monitor on the node: the check scheduler,
// the syslog and trap receivers, and the sample writer. The zero value
// runs no monitor.
type MonitorOptions struct {
	Enabled    bool
	Scheduler  scheduler.Config
	Targets    []target.Target
	Thresholds []threshold.Rule
	// Syslog and Traps are nil when the receiver is off.
	Syslog  *syslog.Config
	Filters filter.Config
	Traps   *trap.Config
	Samples SampleOptions
}

// SampleOptions configure the sample buffer in front of the ledger store.
type SampleOptions struct {
	Store         bool // write samples to the ledger's SampleStore
	Buffer        int  // samples held at most; beyond it new ones are dropped
	BatchSize     int
	FlushInterval time.Duration
	PurgeInterval time.Duration
	// Retention of raw samples and of each rollup resolution (ledger.Minute,
	// ledger.Hour, ledger.Day); 0 keeps forever.
	RawRetention    time.Duration
	RollupRetention map[time.Duration]time.Duration
}

// monitorOptions turns the monitor section into MonitorOptions.
func monitorOptions(c *configs.Config) MonitorOptions {
	m := &c.Monitor
	o := MonitorOptions{
		Enabled: m.Active(), Scheduler: m.Scheduler(), Targets: m.Targets, Thresholds: m.Thresholds,
		Filters: m.Syslog.Filter,
		Samples: SampleOptions{
			Store: m.Samples.Store, Buffer: m.Samples.Buffer, BatchSize: m.Samples.BatchSize,
			FlushInterval: m.Samples.FlushInterval, PurgeInterval: m.Samples.PurgeInterval,
			RawRetention: m.Samples.Retention.Raw,
			RollupRetention: map[time.Duration]time.Duration{
				ledger.Minute: m.Samples.Retention.Minute, ledger.Hour: m.Samples.Retention.Hour, ledger.Day: m.Samples.Retention.Day,
			},
		},
	}
	if m.SyslogEnabled() {
		s := m.Syslog.Receiver
		o.Syslog = &s
	}
	if m.TrapsEnabled() {
		t := m.Traps
		o.Traps = &t
	}
	return o
}

// parentsOf returns a lookup of each target's parent.
func parentsOf(ts []target.Target) func(string) string {
	m := map[string]string{}
	for _, t := range ts {
		if t.Parent != "" {
			m[t.Name] = t.Parent
		}
	}
	return func(name string) string { return m[name] }
}

// monitorPart is the running monitor of a node.
type monitorPart struct {
	log     *slog.Logger
	opts    MonitorOptions
	mu      sync.RWMutex    // guards targets (replaced on reload)
	targets []target.Target // as scheduled (ping blocks removed without a socket)
	pinger  *ping.Pinger
	sched   *scheduler.Scheduler
	syslog  *syslog.Receiver
	traps   *trap.Receiver
	samples *sampleBuffer
	// filterMetrics is shared by the filter engines of successive reloads.
	filterMetrics *filter.Metrics
	cancel        context.CancelFunc
	wg            sync.WaitGroup
}

// newMonitor builds the monitor and binds the receivers' sockets, so a
// port in use fails New. Checks start with Start.
func (n *Node) newMonitor(ctx context.Context) (err error) {
	o := n.opts.Monitor
	if !o.Enabled {
		return nil
	}
	log := n.log.With("component", "monitor")
	reg := n.opts.Registry
	m := &monitorPart{log: log, opts: o, targets: make([]target.Target, len(o.Targets))}
	n.mon = m // teardown stops what was started
	for i := range o.Targets {
		m.targets[i] = o.Targets[i].Clone()
	}
	if slices.ContainsFunc(m.targets, func(t target.Target) bool { return t.Ping != nil }) {
		m.pinger, err = ping.New(o.Scheduler.Ping, reg, log)
		if err != nil {
			var names []string
			for i := range m.targets {
				if m.targets[i].Ping != nil {
					names = append(names, m.targets[i].Name)
					m.targets[i].Ping = nil
				}
			}
			log.Error("ping checks disabled: no ICMP socket; run as root (or with CAP_NET_RAW), or set sysctl net.ipv4.ping_group_range to include this process's group",
				"targets", names, "err", err)
		}
	}
	var sink scheduler.SampleSink
	if o.Samples.Store {
		m.samples = newSampleBuffer(o.Samples, n.store, log, reg)
		sink = m.samples
	}
	m.sched, err = scheduler.New(scheduler.Options{
		Config: o.Scheduler, Sink: n.checkSink(), Samples: sink, Thresholds: o.Thresholds,
		Logger: log, Registerer: reg, Pinger: m.pinger,
	})
	if err != nil {
		return fmt.Errorf("node: monitor: %w", err)
	}
	rctx := context.WithoutCancel(ctx)
	if o.Syslog != nil {
		m.filterMetrics = filter.NewMetrics(reg)
		engine, err := filter.New(o.Filters, m.filterMetrics)
		if err != nil {
			return fmt.Errorf("node: monitor: syslog filters: %w", err)
		}
		if m.syslog, err = syslog.New(*o.Syslog, engine, n.receivedSink(), n.log, reg); err != nil {
			return fmt.Errorf("node: monitor: %w", err)
		}
		if err := m.syslog.Start(rctx); err != nil {
			m.syslog = nil
			return fmt.Errorf("node: monitor: syslog: %w", err)
		}
		udp, tcp := m.syslog.Addr()
		log.Info("syslog receiver listening", "udp", udp, "tcp", tcp, "filters", engine.Len())
	}
	if o.Traps != nil {
		if m.traps, err = trap.New(*o.Traps, n.receivedSink(), n.log, reg); err != nil {
			return fmt.Errorf("node: monitor: %w", err)
		}
		if err := m.traps.Start(rctx); err != nil {
			m.traps = nil
			return fmt.Errorf("node: monitor: traps: %w", err)
		}
		log.Info("trap receiver listening", "udp", m.traps.Addr())
	}
	return nil
}

// startMonitor starts the checks and the sample writer.
func (n *Node) startMonitor(ctx context.Context) error {
	m := n.mon
	if m == nil {
		return nil
	}
	ctx, m.cancel = context.WithCancel(ctx)
	if m.samples != nil {
		m.wg.Add(1)
		go func() { defer m.wg.Done(); m.samples.run(ctx) }()
	}
	if err := m.sched.Start(ctx); err != nil {
		return fmt.Errorf("node: monitor: %w", err)
	}
	if err := n.followResolves(ctx); err != nil {
		return fmt.Errorf("node: monitor: %w", err)
	}
	// In a cluster the assignment decides (followAssignments in cluster.go).
	if n.opts.Cluster.DataDir == "" {
		if err := m.sched.SetTargets(m.targetList()); err != nil {
			return fmt.Errorf("node: monitor: %w", err)
		}
	}
	m.log.Info("monitor started", "targets", len(m.targetList()), "thresholds", len(m.opts.Thresholds))
	return nil
}

// receivedSink is where syslog and trap events go, stamped with their
// receive time. Their event time is the receive time too (a sender's
// clock is not used: package filter and trap), so alerting.event_time has
// nothing to refuse there; a wrong clock on a device cannot date a fault.
// It is a monitor.BatchSink (one spool append per batch), and a full spool
// is reported as monitor.ErrFull, the receivers' drop-and-count policy.
func (n *Node) receivedSink() monitor.Sink {
	return receivedSink{n.ingest.in.NoSync()}
}

type receivedSink struct{ in *bus.Ingest }

func (s receivedSink) Publish(ctx context.Context, ev incident.Event) error {
	return s.PublishBatch(ctx, []incident.Event{ev})
}

func (s receivedSink) PublishBatch(ctx context.Context, evs []incident.Event) error {
	now := time.Now().UTC()
	for i := range evs {
		evs[i].Received = now
	}
	err := s.in.PublishBatch(ctx, evs)
	if errors.Is(err, spool.ErrFull) {
		return fmt.Errorf("%w: %w", monitor.ErrFull, err)
	}
	return err
}

// followResolves applies every manual resolve to the checks this node runs:
// the check (or threshold series) of the resolved incident's dedup key forgets
// its verdict, as a restart would, so a fault still present recurs at the
// next checks (a new incident saying "recurred: still failing after manual
// resolve of incident N") instead of staying silent until the node restarts.
// Every member hears every resolve (a plain subscription on the transitions'
// subject); only the one running the check has a state to rearm. A resolve
// missed while the bus was away is caught at the next restart, which
// reconstructs the same state.
func (n *Node) followResolves(ctx context.Context) error {
	m := n.mon
	sub, err := n.bus.Conn().Subscribe(n.bus.IncidentSubject(incident.KindResolved), func(msg *nats.Msg) {
		var t bus.Transition
		if err := json.Unmarshal(msg.Data, &t); err != nil {
			m.log.Warn("undecodable incident transition", "subject", msg.Subject, "err", err)
			return
		}
		if t.Entry.Kind == incident.KindResolved && t.Incident.DedupKey != "" {
			m.sched.Rearm(t.Incident.DedupKey)
		}
	})
	if err != nil {
		return fmt.Errorf("follow resolves: %w", err)
	}
	context.AfterFunc(ctx, func() { _ = sub.Unsubscribe() })
	return nil
}

// stopMonitor stops the receivers, then the checks, then writes the
// buffered samples: the reverse of what feeds what.
func (n *Node) stopMonitor() {
	m := n.mon
	if m == nil {
		return
	}
	if m.traps != nil {
		m.traps.Stop()
	}
	if m.syslog != nil {
		m.syslog.Stop()
	}
	if m.sched != nil {
		m.sched.Stop()
	}
	if m.pinger != nil {
		m.pinger.Close()
	}
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	if m.samples != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		m.samples.flush(ctx, true)
		cancel()
	}
}

// Monitor returns the check scheduler, nil when the node runs no monitor.
func (n *Node) Monitor() *scheduler.Scheduler {
	if n.mon == nil {
		return nil
	}
	return n.mon.sched
}

// SampleStore returns the ledger store's SampleStore once the store is
// open.
func (n *Node) SampleStore() (ledger.SampleStore, error) {
	s, err := n.store.get()
	if err != nil {
		return nil, err
	}
	ss, ok := s.(ledger.SampleStore)
	if !ok {
		return nil, fmt.Errorf("node: %s store keeps no samples", n.opts.StoreName)
	}
	return ss, nil
}

// targetsView returns the console's view of the targets, nil without a
// monitor.
func (n *Node) targetsView() console.Targets {
	if n.mon == nil {
		return nil
	}
	return targetsView{n.mon}
}

type targetsView struct{ m *monitorPart }

func (v targetsView) Targets() []console.TargetSummary {
	snaps := v.m.sched.Tracker().Snapshots("")
	by := map[string][]target.Snapshot{}
	for _, s := range snaps {
		by[s.Target] = append(by[s.Target], s)
	}
	targets := v.m.targetList()
	out := make([]console.TargetSummary, 0, len(targets))
	for _, t := range targets {
		out = append(out, console.Summarize(t, by[t.Name]))
	}
	slices.SortFunc(out, func(a, b console.TargetSummary) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

func (v targetsView) Target(name string) (console.TargetDetail, error) {
	targets := v.m.targetList()
	i := slices.IndexFunc(targets, func(t target.Target) bool { return t.Name == name })
	if i < 0 {
		return console.TargetDetail{}, console.ErrNoTarget
	}
	snaps := v.m.sched.Tracker().Snapshots(name)
	d := console.TargetDetail{TargetSummary: console.Summarize(targets[i], snaps), Results: snaps}
	if d.Results == nil {
		d.Results = []target.Snapshot{}
	}
	d.Thresholds = console.ThresholdStates(name, v.m.sched.Thresholds().Problems())
	return d, nil
}

// sampleBuffer is the scheduler's SampleSink: Add only appends to a
// bounded slice (dropping and counting beyond it), so a check never waits
// on the store; run flushes it to the ledger's SampleStore in batches and
// purges rows past retention.
type sampleBuffer struct {
	opts  SampleOptions
	store *lazyStore
	log   *slog.Logger
	kick  chan struct{}

	mu  sync.Mutex
	buf []ledger.Sample

	flushMu sync.Mutex // one flush at a time

	buffered prometheus.GaugeFunc
	dropped  prometheus.Counter
	written  prometheus.Counter
	errors   prometheus.Counter
	purged   *prometheus.CounterVec
	flushDur prometheus.Histogram
}

func newSampleBuffer(o SampleOptions, store *lazyStore, log *slog.Logger, reg prometheus.Registerer) *sampleBuffer {
	b := &sampleBuffer{opts: o, store: store, log: log, kick: make(chan struct{}, 1)}
	b.buffered = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "unyo_monitor_samples_buffered", Help: "Samples waiting to be written to the ledger store."},
		func() float64 { b.mu.Lock(); defer b.mu.Unlock(); return float64(len(b.buf)) })
	b.dropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_monitor_samples_dropped_total", Help: "Samples dropped because the buffer was full (the store is down or too slow)."})
	b.written = prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_monitor_samples_written_total", Help: "Samples written to the ledger store."})
	b.errors = prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_monitor_sample_write_errors_total", Help: "Sample batches the ledger store refused (kept for the next flush while there is room)."})
	b.purged = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unyo_monitor_samples_purged_total", Help: "Sample and rollup rows deleted past retention, by kind."}, []string{"kind"})
	b.flushDur = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "unyo_monitor_sample_flush_duration_seconds", Help: "Time one batch of samples took to write.",
		Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5}})
	if reg != nil {
		reg.MustRegister(b.buffered, b.dropped, b.written, b.errors, b.purged, b.flushDur)
	}
	return b
}

// Add buffers samples; it never blocks on the store.
func (b *sampleBuffer) Add(_ context.Context, ss []scheduler.Sample) error {
	b.mu.Lock()
	room := b.opts.Buffer - len(b.buf)
	n := min(room, len(ss))
	for _, s := range ss[:max(n, 0)] {
		b.buf = append(b.buf, ledger.Sample{Target: s.Target, Name: s.Name, Labels: s.Labels, Value: s.Value, Time: s.Time})
	}
	full := len(b.buf) >= b.opts.BatchSize
	b.mu.Unlock()
	if n < len(ss) {
		b.dropped.Add(float64(len(ss) - max(n, 0)))
	}
	if full {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

func (b *sampleBuffer) run(ctx context.Context) {
	flush := time.NewTicker(b.opts.FlushInterval)
	defer flush.Stop()
	purge := time.NewTicker(b.opts.PurgeInterval)
	defer purge.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
		case <-b.kick:
		case <-purge.C:
			b.purge(ctx)
			continue
		}
		b.flush(ctx, false)
	}
}

// flush writes the buffer in batches. A batch the store refuses goes back
// to the front of the buffer if there is room; final flushes drop it.
func (b *sampleBuffer) flush(ctx context.Context, final bool) {
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	s, err := b.store.get()
	if err != nil {
		return // not open yet: keep buffering
	}
	ss, ok := s.(ledger.SampleStore)
	if !ok {
		b.mu.Lock()
		n := len(b.buf)
		b.buf = nil
		b.mu.Unlock()
		b.dropped.Add(float64(n))
		return
	}
	for ctx.Err() == nil {
		b.mu.Lock()
		n := min(len(b.buf), b.opts.BatchSize)
		batch := slices.Clone(b.buf[:n])
		b.buf = slices.Delete(b.buf, 0, n)
		b.mu.Unlock()
		if n == 0 {
			return
		}
		start := time.Now()
		err := ss.AddSamples(ctx, batch)
		b.flushDur.Observe(time.Since(start).Seconds())
		if err == nil {
			b.written.Add(float64(n))
			continue
		}
		b.errors.Inc()
		b.log.Warn("writing samples", "samples", n, "err", err)
		if final || errors.Is(err, ledger.ErrClosed) {
			b.dropped.Add(float64(n))
			return
		}
		b.mu.Lock()
		keep := min(n, b.opts.Buffer-len(b.buf))
		b.buf = append(batch[n-max(keep, 0):], b.buf...)
		b.mu.Unlock()
		b.dropped.Add(float64(n - max(keep, 0)))
		return
	}
}

func (b *sampleBuffer) purge(ctx context.Context) {
	s, err := b.store.get()
	if err != nil {
		return
	}
	ss, ok := s.(ledger.SampleStore)
	if !ok {
		return
	}
	now := time.Now()
	if d := b.opts.RawRetention; d > 0 {
		if n, err := ss.PurgeSamples(ctx, now.Add(-d)); err != nil {
			b.log.Warn("purging samples", "err", err)
		} else {
			b.purged.WithLabelValues("raw").Add(float64(n))
		}
	}
	for _, res := range ledger.Resolutions {
		d := b.opts.RollupRetention[res]
		if d <= 0 {
			continue
		}
		n, err := ss.PurgeRollups(ctx, res, now.Add(-d))
		if err != nil {
			b.log.Warn("purging rollups", "resolution", res, "err", err)
			continue
		}
		b.purged.WithLabelValues(map[time.Duration]string{ledger.Minute: "minute", ledger.Hour: "hour", ledger.Day: "day"}[res]).Add(float64(n))
	}
	// Monthly sketches live as long as the day rollups of their month.
	if sk, ok := s.(ledger.SketchStore); ok && b.opts.RollupRetention[ledger.Day] > 0 {
		n, err := sk.PurgeSketches(ctx, ledger.MonthStart(now.Add(-b.opts.RollupRetention[ledger.Day])))
		if err != nil {
			b.log.Warn("purging sketches", "err", err)
		} else {
			b.purged.WithLabelValues("sketch").Add(float64(n))
		}
	}
}
