package scheduler

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/monitor/ping"
	"github.com/unyo-ops/unyo/monitor/service"
	"github.com/unyo-ops/unyo/monitor/snmp"
	"github.com/unyo-ops/unyo/monitor/target"
	"github.com/unyo-ops/unyo/monitor/threshold"
)

// ErrNotStarted is returned by SetTargets before Start.
var ErrNotStarted = errors.New("scheduler: not started")

// Scheduler runs checks. Start it, then give it targets with SetTargets.
type Scheduler struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	tracker *target.Tracker
	engine  *threshold.Engine

	mu       sync.Mutex
	ctx      context.Context
	cancel   context.CancelFunc
	runners  map[string]*runner // by "<target>/<check>"
	targets  map[string]target.Target
	settled  bool // a target set was applied: later additions run soon
	pinger   *ping.Pinger
	ownPing  bool
	poller   *snmp.Poller
	ping     *pingLoop // every ping check; started with the first one
	wg       sync.WaitGroup
	stopOnce sync.Once
}

type runner struct {
	key      string
	kind     string // ping, snmp, or the service type
	fp       string // settings fingerprint
	cancel   context.CancelFunc
	done     chan struct{}
	target   target.Target
	service  *service.Config
	interval time.Duration
	ping     *pingState // ping checks run in the ping loop, not a goroutine
	// soon: a check added after the first target set (a target this node
	// took over from another) runs within a second, not at its next slot,
	// so a takeover leaves no target unchecked for long.
	soon bool
}

// firstAt is when r's first check runs.
func (r *runner) firstAt(now time.Time, off time.Duration) time.Time {
	if r.soon {
		return now.Add(off % min(r.interval, time.Second))
	}
	return nextSlot(now, r.interval, off)
}

type metrics struct {
	checks       *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	events       *prometheus.CounterVec
	publishErrs  prometheus.Counter
	scheduled    prometheus.Gauge
	sampleErrors prometheus.Counter
	lostPings    prometheus.Counter
	// pingLag: how late the ping loop started the checks of a round
	// (the latest of them); missedSlots: ping slots that passed without
	// a check (the loop ran later than an interval, or the previous check
	// overran); samplesDropped: ping samples dropped because the sample
	// sink fell behind.
	pingLag        prometheus.Observer
	missedSlots    prometheus.Counter
	samplesDropped prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unyo_monitor_checks_total", Help: "Checks run, by kind and result."}, []string{"kind", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "unyo_monitor_check_duration_seconds", Help: "Time a check took.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 2.5, 5, 10, 30}}, []string{"kind"}),
		events:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unyo_monitor_events_total", Help: "Events published, by source and status."}, []string{"source", "status"}),
		publishErrs:  prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_monitor_event_publish_errors_total", Help: "Events the sink refused."}),
		scheduled:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "unyo_monitor_scheduled_checks", Help: "Checks with a running schedule."}),
		sampleErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_monitor_sample_errors_total", Help: "Sample batches the sample sink refused."}),
		lostPings: prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_monitor_ping_lost_completions_total",
			Help: "Ping checks whose completion never came; a new check was started."}),
	}
	lag := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "unyo_monitor_ping_schedule_lag_seconds",
		Help:    "How late the ping loop started a round of checks after their slot (the latest check of the round).",
		Buckets: []float64{.005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}})
	m.pingLag = lag
	m.missedSlots = prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_monitor_ping_missed_slots_total",
		Help: "Ping slots that passed without a check: the loop ran more than an interval late, or the previous check overran."})
	m.samplesDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_monitor_ping_samples_dropped_total",
		Help: "Ping samples dropped before the sample sink because it fell behind (the queue in front of it was full)."})
	if reg != nil {
		reg.MustRegister(m.checks, m.duration, m.events, m.publishErrs, m.scheduled, m.sampleErrors, m.lostPings,
			lag, m.missedSlots, m.samplesDropped)
	}
	return m
}

// New returns a scheduler; nothing runs until Start.
func New(o Options) (*Scheduler, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{
		opts: o, log: log, metrics: newMetrics(o.Registerer), tracker: target.NewTracker(),
		engine: threshold.New(o.Thresholds), runners: map[string]*runner{}, targets: map[string]target.Target{},
		pinger: o.Pinger, poller: o.Poller,
	}
	if s.poller == nil {
		p, err := snmp.NewPoller(o.Config.SNMP, o.Registerer, log)
		if err != nil {
			return nil, fmt.Errorf("snmp_poller.%w", err)
		}
		s.poller = p
	}
	return s, nil
}

// Start begins scheduling (with no targets yet). Stop ends it.
func (s *Scheduler) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx != nil {
		return nil
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	return nil
}

// Stop stops every check and waits for them; it closes a pinger the
// scheduler opened itself. Idempotent.
func (s *Scheduler) Stop() {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		if s.cancel != nil {
			s.cancel()
		}
		s.mu.Unlock()
		s.wg.Wait()
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.ownPing && s.pinger != nil {
			s.pinger.Close()
		}
	})
}

// Tracker gives the check states (for the console and CLI).
func (s *Scheduler) Tracker() *target.Tracker { return s.tracker }

// Thresholds gives the threshold engine (for its Problems list).
func (s *Scheduler) Thresholds() *threshold.Engine { return s.engine }

// Rearm applies a manual resolve of the incident with this dedup key: the
// check or threshold series it belongs to, when this scheduler runs it and
// it is in problem, forgets its verdict as a restart would (see
// target.State.Rearm, threshold.Engine.Rearm), so a fault still present is
// raised again at the next checks. It reports whether anything was rearmed.
func (s *Scheduler) Rearm(dedupKey string) bool {
	a := s.tracker.Rearm(dedupKey)
	b := s.engine.Rearm(dedupKey)
	if a || b {
		s.log.Info("rearmed after manual resolve", "dedup_key", dedupKey)
	}
	return a || b
}

// SetThresholds replaces the global threshold rules.
func (s *Scheduler) SetThresholds(rules []threshold.Rule) error {
	if err := threshold.ValidateRules("thresholds", rules); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.Thresholds = rules
	s.engine.Set(rules, s.perTargetRules())
	return nil
}

func (s *Scheduler) perTargetRules() map[string][]threshold.Rule {
	m := map[string][]threshold.Rule{}
	for n, t := range s.targets {
		if len(t.Thresholds) > 0 {
			m[n] = t.Thresholds
		}
	}
	return m
}

// SetTargets makes ts the set of targets this scheduler checks. Targets
// are validated (defaults filled); a parent outside ts is allowed (it may
// be checked by another node). Unchanged checks keep running.
func (s *Scheduler) SetTargets(ts []target.Target) error {
	clones := make([]target.Target, len(ts))
	names := map[string]bool{}
	for i := range ts {
		clones[i] = ts[i].Clone()
		if err := clones[i].Validate(); err != nil {
			return fmt.Errorf("targets[%d].%w", i, err)
		}
		if names[clones[i].Name] {
			return fmt.Errorf("targets[%d].name: %q listed twice", i, clones[i].Name)
		}
		names[clones[i].Name] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx == nil {
		return ErrNotStarted
	}
	if s.ctx.Err() != nil {
		return s.ctx.Err()
	}
	needPing := false
	for _, t := range clones {
		needPing = needPing || t.Ping != nil
	}
	if needPing && s.pinger == nil {
		p, err := ping.New(s.opts.Config.Ping, s.opts.Registerer, s.log)
		if err != nil {
			return err
		}
		s.pinger, s.ownPing = p, true
	}

	want := map[string]*runner{}
	s.targets = map[string]target.Target{}
	for _, t := range clones {
		s.targets[t.Name] = t
		base := fmt.Sprintf("%s|%s|%v", t.Address, t.Parent, sortedTags(t.Tags))
		if t.Ping != nil {
			want[t.Name+"/ping"] = &runner{key: t.Name + "/ping", kind: "ping", target: t, interval: t.Ping.Interval,
				fp: base + fmt.Sprintf("|%+v", *t.Ping)}
		}
		if t.SNMP != nil {
			want[t.Name+"/snmp"] = &runner{key: t.Name + "/snmp", kind: "snmp", target: t, interval: t.SNMP.Interval,
				fp: base + snmpFingerprint(*t.SNMP) + fmt.Sprintf("|%+v|%+v", t.SNMP.OIDs, t.Processes)}
		}
		for i := range t.Services {
			sc := &t.Services[i]
			want[t.Name+"/"+sc.Name] = &runner{key: t.Name + "/" + sc.Name, kind: sc.Type, target: t, service: sc, interval: sc.Interval,
				fp: base + fmt.Sprintf("|%+v", *sc)}
		}
	}
	for key, r := range s.runners {
		if w, ok := want[key]; ok && w.fp == r.fp {
			delete(want, key)
			continue
		}
		if r.kind == "ping" {
			s.removePing(r)
		} else {
			r.cancel()
			<-r.done
		}
		delete(s.runners, key)
		tn, check := r.target.Name, key[len(r.target.Name)+1:]
		s.tracker.Delete(tn, check)
		if r.kind == "snmp" {
			s.poller.Forget(tn)
			for _, p := range r.target.Processes {
				s.tracker.Delete(tn, "process:"+p.Name)
			}
		}
	}
	for key, r := range want {
		r.soon = s.settled
		if r.kind == "ping" {
			if s.ping == nil {
				s.ping = s.newPingLoop()
				s.wg.Add(2)
				go s.runPings(s.ctx)
				go s.runResults(s.ctx, s.ping.results)
			}
			s.runners[key] = r
			s.addPing(r)
			continue
		}
		ctx, cancel := context.WithCancel(s.ctx)
		r.cancel, r.done = cancel, make(chan struct{})
		s.runners[key] = r
		s.wg.Add(1)
		go s.run(ctx, r)
	}
	s.engine.Set(s.opts.Thresholds, s.perTargetRules())
	s.metrics.scheduled.Set(float64(len(s.runners)))
	s.settled = s.settled || len(clones) > 0
	return nil
}

func sortedTags(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	return fmt.Sprint(m) // fmt sorts map keys
}

// offset spreads checks over their interval by a hash of their key.
func offset(key string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(key))
	return time.Duration(h.Sum64() % uint64(interval))
}

// nextSlot is the first time after now of the form k×interval + off.
func nextSlot(now time.Time, interval, off time.Duration) time.Time {
	base := now.Truncate(interval).Add(off)
	for !base.After(now) {
		base = base.Add(interval)
	}
	return base
}

func (s *Scheduler) run(ctx context.Context, r *runner) {
	defer s.wg.Done()
	defer close(r.done)
	off := offset(r.key, r.interval)
	timer := time.NewTimer(time.Until(r.firstAt(time.Now(), off)))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		s.runOnce(ctx, r)
		timer.Reset(time.Until(nextSlot(time.Now(), r.interval, off)))
	}
}

// runOnce runs one check of r and handles its outcome.
func (s *Scheduler) runOnce(ctx context.Context, r *runner) {
	start := time.Now()
	var samples []Sample
	var events []incident.Event
	t := r.target
	add := func(name string, v float64, labels map[string]string) {
		samples = append(samples, Sample{Target: t.Name, Name: name, Labels: labels, Value: v, Time: start})
	}
	var res target.Result
	var st *target.State
	switch r.kind {
	case "snmp":
		pr := s.poller.Poll(ctx, snmp.Device{Target: t.Name, Address: t.Address, Config: t.SNMP, Processes: t.Processes})
		if ctx.Err() != nil {
			return
		}
		res = target.Result{Time: start, Duration: pr.Duration, OK: pr.Err == nil,
			Values: map[string]float64{"requests": float64(pr.Requests), "samples": float64(len(pr.Samples))}}
		if pr.Err != nil {
			res.Message = pr.Err.Error()
		} else {
			res.Message = fmt.Sprintf("%d samples in %d requests", len(pr.Samples), pr.Requests)
		}
		add("snmp_up", b2f(pr.Err == nil), nil)
		add("snmp_poll_duration_seconds", pr.Duration.Seconds(), nil)
		for _, x := range pr.Samples {
			add(x.Name, x.Value, x.Labels)
		}
		events = append(events, pr.Events...)
		for _, pc := range pr.Processes {
			ps := s.state(t, "process:"+pc.Name, "process", pc.DownAfter, incident.Major)
			msg := fmt.Sprintf("%d instances of %s running", pc.Count, pc.Name)
			if !pc.OK {
				bound := fmt.Sprintf("at least %d", pc.Min)
				if pc.Max > 0 {
					bound = fmt.Sprintf("%d to %d", pc.Min, pc.Max)
				}
				msg += ", want " + bound
			}
			pres := target.Result{Time: start, OK: pc.OK, Message: msg, Values: map[string]float64{"count": float64(pc.Count)}}
			if why, down, ok := s.unreachable(t, ps, pres); ok {
				ps.RecordUnreachable(pres, why, down)
			} else if ev := ps.Record(pres); ev != nil {
				events = append(events, *ev)
			}
		}
		st = s.state(t, "snmp", "snmp", t.SNMP.DownAfter, incident.Major)
	default:
		sr := service.Check(ctx, t.Address, r.service)
		if ctx.Err() != nil {
			return
		}
		l := map[string]string{"check": r.service.Name}
		res = target.Result{Time: start, Duration: sr.Duration, OK: sr.Err == nil,
			Values: map[string]float64{"response_time_seconds": sr.Duration.Seconds()}}
		if sr.Err != nil {
			res.Message = sr.Err.Error()
		} else {
			res.Message = fmt.Sprintf("answered in %s", sr.Duration)
		}
		add("service_up", b2f(sr.Err == nil), l)
		add("service_response_time_seconds", sr.Duration.Seconds(), l)
		if sr.Status != 0 {
			add("service_http_status_code", float64(sr.Status), l)
			res.Values["status"] = float64(sr.Status)
		}
		st = s.state(t, r.service.Name, r.service.Type, r.service.DownAfter, incident.Critical)
	}
	result := "ok"
	if !res.OK {
		result = "failed"
	}
	s.metrics.checks.WithLabelValues(r.kind, result).Inc()
	s.metrics.duration.WithLabelValues(r.kind).Observe(time.Since(start).Seconds())

	if why, down, ok := s.unreachable(t, st, res); ok {
		st.RecordUnreachable(res, why, down)
	} else if ev := st.Record(res); ev != nil {
		events = append(events, *ev)
	}
	for _, x := range samples {
		events = append(events, s.engine.Observe(threshold.Input{Target: t.Name, Tags: t.Tags, Metric: x.Name, Labels: x.Labels, Value: x.Value, Time: x.Time})...)
	}
	if s.opts.Samples != nil && len(samples) > 0 {
		if err := s.opts.Samples.Add(ctx, samples); err != nil {
			s.metrics.sampleErrors.Inc()
			s.log.Warn("storing samples", "target", t.Name, "err", err)
		}
	}
	for _, ev := range events {
		s.publish(ctx, t.Name, ev)
	}
}

// unreachable says whether a failed result res of check st on t must be
// recorded as unreachable rather than raise a problem: t's ping check is
// down (down true), or failing and not yet down, or has not run since st
// began failing (down false: the failure is counted but held until ping
// decides; with a ping interval no longer than the check's, at most one
// more interval of the check). A host that is down pages once, for ping;
// its SNMP, process and service checks are not separate faults. A result
// that is ok, or of a target without a ping check, or whose ping answered
// after st began failing, is not.
func (s *Scheduler) unreachable(t target.Target, st *target.State, res target.Result) (why string, down, ok bool) {
	if res.OK || t.Ping == nil {
		return "", false, false
	}
	ps := s.tracker.Get(t.Name, "ping")
	if ps == nil {
		return "", false, false
	}
	status, fails, last := ps.Liveness()
	since := st.FailingSince()
	if since.IsZero() {
		since = res.Time
	}
	switch {
	case status == target.Down:
		return t.Name + " does not answer ping", true, true
	case fails > 0:
		return t.Name + " is missing ping replies", false, true
	case last.Before(since):
		return "waiting for " + t.Name + "'s next ping", false, true
	}
	return "", false, false
}

func (s *Scheduler) state(t target.Target, check, source string, downAfter int, sev incident.Severity) *target.State {
	labels := map[string]string{}
	if t.Site != "" {
		labels["site"] = t.Site
	}
	if t.Parent != "" {
		labels["parent"] = t.Parent
	}
	maps.Copy(labels, t.Tags)
	st := s.tracker.Ensure(target.StateOptions{
		Target: t.Name, Check: check, Source: source, DownAfter: downAfter, Severity: sev, Labels: labels,
		History:   target.History{Recent: s.opts.Config.History.Recent, Failures: s.opts.Config.History.Failures},
		InitialOK: s.opts.Config.InitialOK == nil || *s.opts.Config.InitialOK,
	})
	return st
}

func (s *Scheduler) publish(ctx context.Context, target string, ev incident.Event) {
	ev, ok := s.prepare(target, ev)
	if !ok {
		return
	}
	if err := s.opts.Sink.Publish(ctx, ev); err != nil {
		s.metrics.publishErrs.Inc()
		s.log.Warn("publishing event", "target", target, "check", ev.Check, "status", ev.Status, "err", err)
		return
	}
	s.published(target, ev)
}

// prepare normalizes ev and validates it; an invalid one is logged,
// counted and refused.
func (s *Scheduler) prepare(target string, ev incident.Event) (incident.Event, bool) {
	ev.Normalize(time.Now())
	if err := ev.Validate(); err != nil {
		s.log.Error("dropping invalid event", "target", target, "check", ev.Check, "err", err)
		s.metrics.publishErrs.Inc()
		return ev, false
	}
	return ev, true
}

// published counts and logs an event the sink took.
func (s *Scheduler) published(target string, ev incident.Event) {
	s.metrics.events.WithLabelValues(ev.Source, string(ev.Status)).Inc()
	s.log.Info("event", "target", target, "check", ev.Check, "status", ev.Status, "severity", ev.Severity, "msg", ev.Message)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// snmpFingerprint prints an SNMP config by value (its pointer fields
// dereferenced), so an unchanged config keeps its running check.
func snmpFingerprint(c snmp.Config) string {
	r := c.RetryCount()
	c.Retries = nil
	return fmt.Sprintf("|%+v|retries=%d", c, r)
}
