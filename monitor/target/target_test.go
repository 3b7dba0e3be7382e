package target

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
)

func TestStateTransitions(t *testing.T) {
	t0 := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		downAfter int
		initialOK bool
		results   string // o = ok, x = failed
		want      string // per result: . no event, P problem, O ok
	}{
		{"down after 3 failures, up on first success", 3, false, "ooxxxxxo", "....P..O"},
		{"failures reset by a success", 3, false, "xxoxxoxxx", "........P"},
		{"down_after 1", 1, false, "xoxo", "POPO"},
		{"no ok at start without initial_ok", 2, false, "oo", ".."},
		{"initial ok", 2, true, "ooxxo", "O..PO"},
		{"down from unknown", 2, false, "xx", ".P"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewState(StateOptions{Target: "web01", Check: "ping", Source: "ping", DownAfter: tc.downAfter, InitialOK: tc.initialOK, Labels: map[string]string{"site": "dc1"}})
			var got strings.Builder
			for i, c := range tc.results {
				r := Result{Time: t0.Add(time.Duration(i) * 10 * time.Second), OK: c == 'o', Message: fmt.Sprintf("check %d", i)}
				ev := s.Record(r)
				switch {
				case ev == nil:
					got.WriteByte('.')
				case ev.Status == incident.Problem:
					got.WriteByte('P')
				default:
					got.WriteByte('O')
				}
				if ev != nil {
					if ev.DedupKey != "web01/ping" || ev.Source != "ping" || !ev.Time.Equal(r.Time) || ev.Labels["site"] != "dc1" {
						t.Errorf("event %+v", ev)
					}
					if err := ev.Validate(); err != nil {
						t.Errorf("invalid event: %v", err)
					}
				}
			}
			if got.String() != tc.want {
				t.Errorf("got %s, want %s", got.String(), tc.want)
			}
		})
	}
}

func TestStateHistoryKeepsFailuresLonger(t *testing.T) {
	s := NewState(StateOptions{Target: "db01", Check: "http", DownAfter: 2, History: History{Recent: 5, Failures: 3}})
	t0 := time.Unix(1e9, 0)
	s.Record(Result{Time: t0, OK: false, Message: "connection refused"})
	for i := 1; i <= 20; i++ {
		s.Record(Result{Time: t0.Add(time.Duration(i) * time.Second), OK: true})
	}
	snap := s.Snapshot()
	if len(snap.Recent) != 5 || !snap.Recent[4].Time.Equal(t0.Add(20*time.Second)) || !snap.Recent[0].Time.Equal(t0.Add(16*time.Second)) {
		t.Fatalf("recent: %+v", snap.Recent)
	}
	if snap.LastFailure == nil || snap.LastFailure.Message != "connection refused" {
		t.Fatalf("last failure lost: %+v", snap.LastFailure)
	}
	if snap.Status != Up || snap.ConsecutiveFailures != 0 {
		t.Fatalf("%+v", snap)
	}
	for i := 0; i < 4; i++ {
		s.Record(Result{Time: t0.Add(time.Minute + time.Duration(i)*time.Second), Message: fmt.Sprint("f", i)})
	}
	snap = s.Snapshot()
	if len(snap.Failures) != 3 || snap.Failures[0].Message != "f1" || snap.LastFailure.Message != "f3" || snap.Status != Down {
		t.Fatalf("failures: %+v", snap.Failures)
	}
}

// The history keeps each result's values (stored compactly, given back as
// a map of their own), in order across the ring's wrap, and never the
// caller's map.
func TestStateHistoryKeepsValues(t *testing.T) {
	s := NewState(StateOptions{Target: "web01", Check: "ping", History: History{Recent: 3, Failures: 2}})
	t0 := time.Unix(1e9, 0)
	for i := range 5 {
		v := map[string]float64{"loss_percent": float64(10 * i), "rtt_avg_seconds": float64(i) / 1000}
		s.Record(Result{Time: t0.Add(time.Duration(i) * time.Second), OK: i%2 == 0, Duration: time.Duration(i) * time.Millisecond, Message: fmt.Sprint("r", i), Values: v})
		v["loss_percent"] = -1 // the caller's map is not the history's
	}
	s.Record(Result{Time: t0.Add(5 * time.Second), OK: true})
	snap := s.Snapshot()
	if len(snap.Recent) != 3 {
		t.Fatalf("recent: %+v", snap.Recent)
	}
	for k, r := range snap.Recent[:2] {
		i := 3 + k
		want := map[string]float64{"loss_percent": float64(10 * i), "rtt_avg_seconds": float64(i) / 1000}
		if r.Message != fmt.Sprint("r", i) || r.Duration != time.Duration(i)*time.Millisecond || r.OK != (i%2 == 0) || fmt.Sprint(r.Values) != fmt.Sprint(want) {
			t.Errorf("recent[%d] = %+v, want r%d with values %v", k, r, i, want)
		}
	}
	if r := snap.Recent[2]; r.Values != nil || !r.Time.Equal(t0.Add(5*time.Second)) {
		t.Errorf("last = %+v, want the result without values", r)
	}
	if len(snap.Failures) != 2 || snap.Failures[0].Message != "r1" || snap.Failures[1].Values["loss_percent"] != 30 {
		t.Errorf("failures: %+v", snap.Failures)
	}
	snap.Recent[0].Values["loss_percent"] = -2 // nor is a snapshot's
	if got := s.Snapshot().Recent[0].Values["loss_percent"]; got != 30 {
		t.Errorf("history changed through a snapshot: %v", got)
	}
	if _, _, last := s.Liveness(); !last.Equal(t0.Add(5 * time.Second)) {
		t.Errorf("liveness last = %v", last)
	}
}

func TestTracker(t *testing.T) {
	tr := NewTracker()
	a := tr.Ensure(StateOptions{Target: "b", Check: "ping"})
	if tr.Ensure(StateOptions{Target: "b", Check: "ping"}) != a {
		t.Fatal("Ensure made a second state")
	}
	tr.Ensure(StateOptions{Target: "a", Check: "snmp"})
	tr.Ensure(StateOptions{Target: "a", Check: "http"})
	var keys []string
	for _, s := range tr.Snapshots("") {
		keys = append(keys, s.Target+"/"+s.Check)
	}
	if fmt.Sprint(keys) != "[a/http a/snmp b/ping]" {
		t.Fatal(keys)
	}
	tr.Delete("a", "http")
	if len(tr.Snapshots("a")) != 1 || tr.Get("a", "http") != nil {
		t.Fatal("delete")
	}
}

func TestLoadAndValidate(t *testing.T) {
	good := `
targets:
  - name: sw1
    address: 10.0.0.1
    ping: {}
  - name: db01
    address: 10.0.1.10
    parent: sw1
    tags: {role: db}
    ping: {interval: 5s, down_after: 2}
    snmp: {version: v3, user: unyo, auth_password: authpass123, priv_password: privpass123}
    services:
      - {type: tcp, port: 5432}
      - {type: http, url: "http://10.0.1.10/healthz", expect_status: [200]}
    processes:
      - {name: postgres}
    thresholds:
      - {metric: snmp_storage_used_percent, warning: 80, critical: 90, for: 3}
thresholds:
  - {name: cpu, metric: snmp_cpu_load_avg_percent, critical: 95, tags: {role: db}}
`
	c, err := Load(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	db := c.Targets[1]
	if db.Ping.Interval != 5*time.Second || db.Ping.Packets != 3 || db.Ping.DownAfter != 2 || db.SNMP.Port != 161 || db.Processes[0].Min != 1 {
		t.Fatalf("defaults: %+v %+v", db.Ping, db.SNMP)
	}
	if got := fmt.Sprint(db.Checks()); got != "[ping snmp tcp:5432 http process:postgres]" {
		t.Fatal(got)
	}

	bad := []struct{ yaml, want string }{
		{"targets:\n  - {name: a, address: 10.0.0.1}\n  - {name: b, address: 10.0.0.2}\n  - {name: c, address: 10.0.0.3, ping: {interval: 500ms}}\n",
			"targets[2].ping.interval: 500ms: must be at least 1s"},
		{"targets:\n  - {name: a, address: 10.0.0.1, pign: {}}\n", "field pign not found"},
		{"targets:\n  - {name: a, address: 10.0.0.1}\n  - {name: a, address: 10.0.0.2}\n", `targets[1].name: "a" already used by targets[0]`},
		{"targets:\n  - {name: a, address: 10.0.0.1, parent: zz}\n", `targets[0].parent: "zz": no such target`},
		{"targets:\n  - {name: a, address: 10.0.0.1, parent: b}\n  - {name: b, address: 10.0.0.2, parent: a}\n", `targets[0].parent: "b": parents form a loop`},
		{"targets:\n  - {name: a, address: host.example, ping: {}}\n", `targets[0].address: "host.example": ping needs an IP address`},
		{"targets:\n  - {name: a, address: 10.0.0.1, snmp: {oids: [{name: x, oid: 'IF-MIB::nope'}]}}\n", `targets[0].snmp.oids[0].oid: "IF-MIB::nope": unknown MIB object`},
		{"targets:\n  - {name: a, address: 10.0.0.1, services: [{type: tcp}]}\n", "targets[0].services[0].port: required for tcp checks without address"},
		{"targets:\n  - {name: a, address: 10.0.0.1, services: [{type: http}, {type: http}]}\n", `targets[0].services[1].name: "http" already used by services[0]; give one a name`},
		{"targets:\n  - {name: a, address: 10.0.0.1, processes: [{name: sshd}]}\n", "targets[0].processes: need an snmp block"},
		{"targets:\n  - {name: a, address: 10.0.0.1, thresholds: [{metric: m, warning: 5, for: 0, direction: up}]}\n", `targets[0].thresholds[0].direction: "up": want above or below`},
		{"thresholds:\n  - {metric: m}\n", "thresholds[0].warning: set warning, critical or both"},
		{"targets:\n  - {name: '-a', address: 10.0.0.1}\n", `targets[0].name: "-a"`},
	}
	for _, tc := range bad {
		t.Run(tc.want, func(t *testing.T) {
			_, err := Load(strings.NewReader(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestResultJSONDuration: a result's duration reads "1.5ms" in JSON, and
// integer nanoseconds (older nodes) still decode (issue 17 item 10).
func TestResultJSONDuration(t *testing.T) {
	r := Result{Time: time.Unix(1700000000, 0).UTC(), OK: true, Duration: 1500 * time.Microsecond, Message: "ok"}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"duration":"1.5ms"`) || !strings.Contains(string(b), `"message":"ok"`) || strings.Count(string(b), "duration") != 1 {
		t.Errorf("marshalled %s", b)
	}
	for _, in := range []string{string(b), `{"time":"2023-11-14T22:13:20Z","ok":true,"duration":1500000,"message":"ok"}`} {
		var back Result
		if err := json.Unmarshal([]byte(in), &back); err != nil || back.Duration != r.Duration || !back.Time.Equal(r.Time) || back.Message != "ok" || !back.OK {
			t.Errorf("%s: %+v, %v", in, back, err)
		}
	}
}

// A manual resolve rearms the state: a fault still present is raised again
// after DownAfter more failures, exactly as after a restart (a fresh State).
func TestRearmIsARestart(t *testing.T) {
	t0 := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	run := func(s *State, results string) string {
		var b strings.Builder
		for i, c := range results {
			ev := s.Record(Result{Time: t0.Add(time.Duration(i) * time.Second), OK: c == 'o'})
			switch {
			case ev == nil:
				b.WriteByte('.')
			case ev.Status == incident.Problem:
				b.WriteByte('P')
			default:
				b.WriteByte('O')
			}
		}
		return b.String()
	}
	opts := StateOptions{Target: "web01", Check: "http", DownAfter: 2, InitialOK: true}
	for _, after := range []string{"xx", "xo", "o"} {
		s := NewState(opts)
		if got := run(s, "xx"); got != ".P" {
			t.Fatalf("before: %s", got)
		}
		if s.Rearm() != true {
			t.Fatal("Rearm of a down state reported false")
		}
		if st, _ := s.Status(); st != Unknown {
			t.Fatalf("status after rearm %s", st)
		}
		rearmed, fresh := run(s, after), run(NewState(opts), after)
		if rearmed != fresh {
			t.Errorf("after rearm %q gives %q, a restarted node %q", after, rearmed, fresh)
		}
	}
	s := NewState(opts)
	run(s, "o")
	if s.Rearm() {
		t.Error("Rearm of an up state reported true")
	}
	tr := NewTracker()
	tr.Ensure(opts).Record(Result{Time: t0})
	tr.Get("web01", "http").Record(Result{Time: t0})
	if !tr.Rearm("web01/http") || tr.Rearm("web01/http") || tr.Rearm("other/http") {
		t.Error("Tracker.Rearm by dedup key")
	}
}
