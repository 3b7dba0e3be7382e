package scheduler

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/internal/promtest"
	"github.com/unyo-ops/unyo/monitor"
	"github.com/unyo-ops/unyo/monitor/ping"
	"github.com/unyo-ops/unyo/monitor/ping/pingtest"
	"github.com/unyo-ops/unyo/monitor/service"
	"github.com/unyo-ops/unyo/monitor/snmp"
	"github.com/unyo-ops/unyo/monitor/snmp/snmptest"
	"github.com/unyo-ops/unyo/monitor/target"
	"github.com/unyo-ops/unyo/monitor/threshold"

	"github.com/unyo-ops/unyo/internal/redact"
)

// events collects published events.
type events struct {
	mu  sync.Mutex
	evs []incident.Event
	ch  chan incident.Event
}

func newEvents() *events { return &events{ch: make(chan incident.Event, 1000)} }

func (e *events) sink() monitor.Sink {
	return monitor.SinkFunc(func(_ context.Context, ev incident.Event) error {
		e.mu.Lock()
		e.evs = append(e.evs, ev)
		e.mu.Unlock()
		select {
		case e.ch <- ev:
		default:
		}
		return nil
	})
}

// wait returns the first event matching check and status published
// within d (events seen earlier count too, except those already returned).
func (e *events) wait(t *testing.T, d time.Duration, check string, status incident.Status) incident.Event {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		for i, ev := range e.evs {
			if ev.Check == check && ev.Status == status {
				e.evs = append(e.evs[:i:i], e.evs[i+1:]...)
				e.mu.Unlock()
				return ev
			}
		}
		e.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s event for %s within %s", status, check, d)
	return incident.Event{}
}

func start(t *testing.T, o Options) *Scheduler {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// A test host in a namespace goes down (link down) and comes back:
// problem after down_after checks, ok on the first reply.
func TestPingHostDownAndUp(t *testing.T) {
	h := pingtest.NewHost(t)
	evs := newEvents()
	ring := NewRing(1000)
	reg := prometheus.NewPedanticRegistry()
	s := start(t, Options{Sink: evs.sink(), Samples: ring, Registerer: reg})
	pc := ping.Config{Interval: time.Second, Packets: 2, PacketInterval: 100 * time.Millisecond, Timeout: 300 * time.Millisecond, DownAfter: 2}
	if err := s.SetTargets([]target.Target{{Name: "nshost", Address: h.Addr.String(), Site: "dc1", Ping: &pc}}); err != nil {
		t.Fatal(err)
	}
	evs.wait(t, 3*time.Second, "ping", incident.OK) // initial_ok
	if smp, ok := ring.Last("nshost", "ping_rtt_avg_seconds"); !ok || smp.Value <= 0 {
		t.Fatalf("no rtt sample: %+v", smp)
	}
	h.Down()
	downAt := time.Now()
	ev := evs.wait(t, 2*time.Second*2+2*time.Second, "ping", incident.Problem)
	took := time.Since(downAt)
	if ev.Severity != incident.Critical || ev.DedupKey != "nshost/ping" || ev.Labels["site"] != "dc1" || ev.Source != "ping" {
		t.Errorf("problem event %+v", ev)
	}
	// interval × N + 1 s (+ the packet time of the check in progress).
	if took > 2*time.Second+time.Second+500*time.Millisecond+time.Second {
		t.Errorf("down detected after %v", took)
	}
	snap := s.Tracker().Snapshots("nshost")[0]
	if snap.Status != target.Down || snap.LastFailure == nil || snap.LastFailure.Message == "" {
		t.Errorf("snapshot %+v", snap)
	}
	t.Logf("down after %v: %s; last failure: %s", took, ev.Message, snap.LastFailure.Message)
	h.Up()
	ev = evs.wait(t, 5*time.Second, "ping", incident.OK)
	if ev.DedupKey != "nshost/ping" {
		t.Errorf("%+v", ev)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if probs, err := promlint.NewWithMetricFamilies(mfs).Lint(); err != nil || len(probs) > 0 {
		t.Errorf("promlint: %v %v", probs, err)
	}
}

func f(v float64) *float64 { return &v }

// SNMP v2c and v3 polling through the scheduler; disk (storage) used %
// over a lowered threshold raises a threshold incident.
func TestSNMPStorageThreshold(t *testing.T) {
	a := snmptest.Start(t)
	evs := newEvents()
	ring := NewRing(10000)
	s := start(t, Options{Sink: evs.sink(), Samples: ring})
	v3 := &snmp.Config{Version: "v3", User: snmptest.User, AuthPassword: snmptest.AuthPass, PrivPassword: snmptest.PrivPass,
		Port: a.Port, Interval: time.Second, Timeout: 900 * time.Millisecond}
	v2 := &snmp.Config{Port: a.Port, Interval: time.Second, Timeout: 900 * time.Millisecond}
	err := s.SetTargets([]target.Target{
		{Name: "srv-v3", Address: a.Host, SNMP: v3, Tags: map[string]string{"role": "db"},
			Processes: []snmp.Process{{Name: "snmpd"}, {Name: "no-such-daemon-unyo"}},
			Thresholds: []threshold.Rule{{Name: "disk", Metric: "snmp_storage_used_percent", Labels: map[string]string{"descr": "Physical memory"},
				Warning: f(0.5), Critical: f(1), For: 2}}},
		{Name: "srv-v2", Address: a.Host, SNMP: v2},
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := evs.wait(t, 6*time.Second, "threshold:disk", incident.Problem)
	if ev.Target != "srv-v3" || ev.Severity != incident.Critical || ev.Source != "threshold" || ev.Labels["descr"] != "Physical memory" {
		t.Errorf("%+v", ev)
	}
	t.Log(ev.Message)
	pev := evs.wait(t, 3*time.Second, "process:no-such-daemon-unyo", incident.Problem)
	if pev.Source != "process" || pev.Severity != incident.Major {
		t.Errorf("%+v", pev)
	}
	for _, tn := range []string{"srv-v3", "srv-v2"} {
		for _, name := range []string{"snmp_up", "snmp_sys_uptime_seconds", "snmp_storage_used_percent", "snmp_load1", "snmp_memory_used_percent", "snmp_if_oper_up"} {
			smp, ok := ring.Last(tn, name)
			if !ok || (name == "snmp_up" && smp.Value != 1) {
				t.Errorf("%s: sample %s: %+v %v", tn, name, smp, ok)
			}
		}
	}
	if _, ok := ring.Last("srv-v3", "snmp_process_count", "process", "snmpd"); !ok {
		t.Error("no process count sample")
	}
	// Only srv-v3 carries the rule.
	evs.mu.Lock()
	defer evs.mu.Unlock()
	for _, e := range evs.evs {
		if e.Target == "srv-v2" && e.Source == "threshold" {
			t.Errorf("srv-v2 got %+v", e)
		}
	}
}

// SetTargets again: unchanged checks keep their state, changed ones
// restart, removed ones stop and are forgotten.
func TestSetTargetsAgain(t *testing.T) {
	var hits atomic.Int64
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if fail.Load() {
			w.WriteHeader(500)
		}
	}))
	defer srv.Close()
	evs := newEvents()
	ring := NewRing(1000)
	s := start(t, Options{Sink: evs.sink(), Samples: ring})
	web := func(name string) target.Target {
		return target.Target{Name: name, Address: "127.0.0.1", Services: []service.Config{{Type: "http", URL: redact.SecretURL(srv.URL), Interval: time.Second, DownAfter: 1}}}
	}
	if err := s.SetTargets([]target.Target{web("w1"), web("w2")}); err != nil {
		t.Fatal(err)
	}
	evs.wait(t, 3*time.Second, "http", incident.OK)
	time.Sleep(1500 * time.Millisecond)
	if smp, ok := ring.Last("w1", "service_response_time_seconds", "check", "http"); !ok || smp.Value <= 0 {
		t.Fatalf("no response time sample %+v", smp)
	}
	st1 := s.Tracker().Get("w1", "http")
	if err := s.SetTargets([]target.Target{web("w1"), web("w3")}); err != nil {
		t.Fatal(err)
	}
	if s.Tracker().Get("w1", "http") != st1 {
		t.Error("unchanged check lost its state")
	}
	if s.Tracker().Get("w2", "http") != nil {
		t.Error("removed target still tracked")
	}
	fail.Store(true)
	ev := evs.wait(t, 3*time.Second, "http", incident.Problem)
	if ev.Source != "http" || ev.Message == "" {
		t.Errorf("%+v", ev)
	}
	t.Log(ev.Message)
	if err := s.SetTargets([]target.Target{{Name: "bad", Address: "127.0.0.1", Ping: &ping.Config{Interval: time.Millisecond}}}); err == nil || !strings.HasPrefix(err.Error(), "targets[0].ping.interval: 1ms: must be at least 1s\n") {
		t.Errorf("bad target: %v", err)
	}
}

// A host behind a down parent gets an info problem, not a critical one.
func TestParentDown(t *testing.T) {
	parent := pingtest.NewHost(t)
	child := pingtest.NewHost(t)
	evs := newEvents()
	s := start(t, Options{Sink: evs.sink()})
	pc := ping.Config{Interval: time.Second, Packets: 1, Timeout: 200 * time.Millisecond, DownAfter: 1}
	pc2 := pc
	pc2.DownAfter = 3
	if err := s.SetTargets([]target.Target{
		{Name: "sw", Address: parent.Addr.String(), Ping: &pc},
		{Name: "host", Address: child.Addr.String(), Parent: "sw", Ping: &pc2},
	}); err != nil {
		t.Fatal(err)
	}
	evs.wait(t, 3*time.Second, "ping", incident.OK)
	parent.Down()
	child.Down()
	deadline := time.After(8 * time.Second)
	var got []incident.Event
	for len(got) < 2 {
		select {
		case ev := <-evs.ch:
			if ev.Status == incident.Problem {
				got = append(got, ev)
			}
		case <-deadline:
			t.Fatalf("problems: %+v", got)
		}
	}
	for _, ev := range got {
		switch ev.Target {
		case "sw":
			if ev.Severity != incident.Critical {
				t.Errorf("parent %+v", ev)
			}
		case "host":
			if ev.Severity != incident.Info || ev.Labels["parent_down"] != "sw" {
				t.Errorf("child %+v", ev)
			}
		}
	}
}

func TestSlots(t *testing.T) {
	const n, interval = 10000, 10 * time.Second
	buckets := make([]int, 10)
	for i := 0; i < n; i++ {
		off := offset("t"+string(rune(i))+"/ping", interval)
		buckets[off/time.Second]++
	}
	for i, b := range buckets {
		if b < n/10*8/10 || b > n/10*12/10 {
			t.Errorf("second %d of the interval has %d of %d checks", i, b, n)
		}
	}
	now := time.Date(2025, 1, 1, 0, 0, 7, 0, time.UTC)
	if got := nextSlot(now, interval, 3*time.Second); !got.Equal(now.Add(6 * time.Second)) {
		t.Errorf("nextSlot %v", got)
	}
	if got := nextSlot(now, interval, 8*time.Second); !got.Equal(now.Add(time.Second)) {
		t.Errorf("nextSlot %v", got)
	}
}

func TestRing(t *testing.T) {
	r := NewRing(3)
	for i := 0; i < 5; i++ {
		r.Add(context.Background(), []Sample{{Target: "a", Name: "m", Value: float64(i)}})
	}
	all := r.All()
	if len(all) != 3 || all[0].Value != 2 || all[2].Value != 4 {
		t.Fatal(all)
	}
	if s, _ := r.Last("a", "m"); s.Value != 4 {
		t.Fatal(s)
	}
}

// A target added after the first target set (taken over from another
// node) is checked within a second, not at its slot in a long interval;
// targets of the first set keep their slots.
func TestTakeoverChecksSoon(t *testing.T) {
	var hits sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Store(r.URL.Path, time.Now())
	}))
	defer srv.Close()
	s := start(t, Options{Sink: newEvents().sink()})
	web := func(name string) target.Target {
		return target.Target{Name: name, Address: "127.0.0.1",
			Services: []service.Config{{Type: "http", URL: redact.SecretURL(srv.URL + "/" + name), Interval: time.Hour}}}
	}
	if err := s.SetTargets([]target.Target{web("first")}); err != nil {
		t.Fatal(err)
	}
	added := time.Now()
	if err := s.SetTargets([]target.Target{web("first"), web("taken")}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if at, ok := hits.Load("/taken"); ok {
			if d := at.(time.Time).Sub(added); d > 1500*time.Millisecond {
				t.Errorf("taken-over target first checked after %s", d)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("taken-over target not checked within 3s (interval 1h)")
}

// slowSamples blocks its first Add for d, as a ledger or bus that stalls
// does, then behaves as the ring.
type slowSamples struct {
	*Ring
	d    time.Duration
	once sync.Once
}

func (s *slowSamples) Add(ctx context.Context, ss []Sample) error {
	s.once.Do(func() { time.Sleep(s.d) })
	return s.Ring.Add(ctx, ss)
}

// TestSlowSinkIsNotALostPing: while one round's results are being stored
// (slowly), other targets' checks finish; their results wait for the next
// round. They must be taken as done, not as checks whose completion was
// lost (which restarted them and recorded their result under the new
// check's start time).
func TestSlowSinkIsNotALostPing(t *testing.T) {
	pingtest.EnablePingSockets(t)
	reg := prometheus.NewPedanticRegistry()
	pc := ping.Config{Interval: time.Second, Packets: 1, PacketInterval: 10 * time.Millisecond, Timeout: 200 * time.Millisecond, DownAfter: 2}
	stall := pc.PacketInterval + pc.Timeout + 2*time.Second // the watchdog's
	samples := &slowSamples{Ring: NewRing(1000), d: stall + time.Second}
	s := start(t, Options{Sink: newEvents().sink(), Samples: samples, Registerer: reg})
	// Many targets, so that the round whose results stall also starts
	// checks (slots every 20 ms).
	var ts []target.Target
	for i := 1; i <= 50; i++ {
		a := fmt.Sprintf("127.0.3.%d", i)
		ts = append(ts, target.Target{Name: "lo-" + a, Address: a, Ping: &pc})
	}
	if err := s.SetTargets(ts); err != nil {
		t.Fatal(err)
	}
	// Through the stall and a few intervals after it.
	deadline := time.Now().Add(samples.d + 3*pc.Interval)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	after := time.Now().Add(-2 * pc.Interval)
	for _, tg := range ts {
		smp, ok := samples.Last(tg.Name, "ping_rtt_avg_seconds")
		if !ok || smp.Time.Before(after) {
			t.Errorf("%s: last rtt sample %+v (%v), want one from after the stall", tg.Name, smp, ok)
		}
	}
	if got := promtest.Counter(t, reg, "unyo_monitor_ping_lost_completions_total"); got != 0 {
		t.Errorf("%v ping checks taken for lost while the sample sink stalled, want 0", got)
	}
	// A check's duration is its own (≤ the 200 ms timeout), not the
	// time its round spent storing the previous results.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "unyo_monitor_check_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() != "ping" {
				continue
			}
			h := m.GetHistogram()
			for _, b := range h.GetBucket() {
				if b.GetUpperBound() == 1 && b.GetCumulativeCount() != h.GetSampleCount() {
					t.Errorf("%d of %d ping checks took over 1 s (timeout 200 ms)", h.GetSampleCount()-b.GetCumulativeCount(), h.GetSampleCount())
				}
			}
		}
	}
}

// A down host pages once (issue 17 item 2): when its ping check is down,
// its SNMP check failing is recorded as unreachable, with no problem event;
// when the host is back the SNMP check resumes, and a real SNMP failure on
// an up host still raises a problem.
func TestHostDownPagesOnce(t *testing.T) {
	h := pingtest.NewHost(t)
	agent := snmptest.StartWith(t, snmptest.Options{Host: h.Addr.String(), NetNS: h.NS})
	evs := newEvents()
	s := start(t, Options{Sink: evs.sink()})
	pc := ping.Config{Interval: time.Second, Packets: 1, Timeout: 300 * time.Millisecond, DownAfter: 2}
	sc := &snmp.Config{Port: agent.Port, Interval: time.Second, Timeout: 300 * time.Millisecond, DownAfter: 1}
	if err := s.SetTargets([]target.Target{{Name: "nshost", Address: h.Addr.String(), Ping: &pc, SNMP: sc}}); err != nil {
		t.Fatal(err)
	}
	evs.wait(t, 5*time.Second, "ping", incident.OK)
	evs.wait(t, 5*time.Second, "snmp", incident.OK)
	snmpState := func() (target.Status, int) { st, n, _ := s.Tracker().Get("nshost", "snmp").Liveness(); return st, n }

	h.Down()
	evs.wait(t, 10*time.Second, "ping", incident.Problem)
	waitUntil(t, 15*time.Second, "snmp unreachable after 2 failures with ping down", func() bool {
		st, fails := snmpState()
		return st == target.Unreachable && fails >= 2
	})
	snap := s.Tracker().Snapshots("nshost")
	for _, sn := range snap {
		if sn.Check == "snmp" && (sn.LastFailure == nil || !strings.Contains(sn.LastFailure.Message, "unreachable: nshost does not answer ping")) {
			t.Errorf("snmp last failure %+v", sn.LastFailure)
		}
	}

	h.Up()
	evs.wait(t, 10*time.Second, "ping", incident.OK)
	waitUntil(t, 15*time.Second, "snmp up again", func() bool { st, _ := snmpState(); return st == target.Up })
	evs.mu.Lock()
	for _, e := range evs.evs {
		if e.Check == "snmp" && e.Status == incident.Problem {
			t.Errorf("the down host paged for snmp too: %+v", e)
		}
	}
	evs.mu.Unlock()

	// A real SNMP failure on a host that answers ping still pages.
	agent.Stop()
	ev := evs.wait(t, 15*time.Second, "snmp", incident.Problem)
	if ev.DedupKey != "nshost/snmp" || strings.Contains(ev.Message, "unreachable") {
		t.Errorf("snmp problem %+v", ev)
	}
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
