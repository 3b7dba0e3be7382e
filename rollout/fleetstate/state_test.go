package fleetstate

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func must(t *testing.T, s *State, at time.Time, op Op) {
	t.Helper()
	if err := s.Apply(at, op); err != nil {
		t.Fatalf("%s: %v", op.Kind, err)
	}
}

func release(v string) *Release {
	return &Release{Version: v, Platform: "linux/amd64", Size: 10, SHA256: strings.Repeat("a", 64), Signature: "sig", Mode: ModeOptional}
}

func started(t *testing.T, n, maxc, canary, wave int, cont bool) *State {
	s := New()
	must(t, s, t0, Op{Kind: OpReleaseAdd, By: "admin", Release: release("2.0")})
	var order []string
	for i := range n {
		a := fmt.Sprintf("a%02d", i)
		order = append(order, a)
		must(t, s, t0, Op{Kind: OpReport, Agent: a, Version: "1.0", Platform: "linux/amd64"})
	}
	must(t, s, t0, Op{Kind: OpRolloutStart, By: "admin", Rollout: &Rollout{ID: "r1", Version: "2.0", Platform: "linux/amd64",
		Canary: canary, Wave: wave, MaxConcurrent: maxc, ContinueOnFailure: cont, Watch: time.Minute, Lease: time.Minute, Order: order}})
	for _, a := range order {
		must(t, s, t0, Op{Kind: OpReport, Agent: a, Version: "1.0", Platform: "linux/amd64"}) // ready
	}
	return s
}

func TestGrantLimitAndWaves(t *testing.T) {
	s := started(t, 40, 15, 2, 20, false)
	g := s.Grantable()
	if len(g) != 2 {
		t.Fatalf("grantable %v, want the 2 canaries only", g)
	}
	for _, a := range g {
		must(t, s, t0, Op{Kind: OpGrant, ID: "r1", Agent: a})
	}
	if err := s.Apply(t0, Op{Kind: OpGrant, ID: "r1", Agent: "a05"}); !errors.Is(err, ErrState) {
		t.Fatalf("grant outside the current wave: %v", err)
	}
	for _, a := range g {
		must(t, s, t0, Op{Kind: OpReport, Agent: a, Version: "2.0", Platform: "linux/amd64"})
		must(t, s, t0, Op{Kind: OpReport, Agent: a, Version: "2.0", Platform: "linux/amd64", State: ReportCommitted})
	}
	g = s.Grantable()
	if len(g) != 15 {
		t.Fatalf("after the canaries, grantable %d, want 15 (the limit)", len(g))
	}
	for _, a := range g {
		must(t, s, t0, Op{Kind: OpGrant, ID: "r1", Agent: a})
	}
	if err := s.Apply(t0, Op{Kind: OpGrant, ID: "r1", Agent: "a17"}); !errors.Is(err, ErrLimit) {
		t.Fatalf("16th grant: %v, want ErrLimit", err)
	}
	if s.ActiveCount() != 15 {
		t.Fatalf("active %d", s.ActiveCount())
	}
}

func TestHaltOnFailureAndWatchExpiry(t *testing.T) {
	s := started(t, 3, 3, 0, 0, false)
	for _, a := range s.Grantable() {
		must(t, s, t0, Op{Kind: OpGrant, ID: "r1", Agent: a})
	}
	must(t, s, t0, Op{Kind: OpReport, Agent: "a00", Version: "1.0", State: StateSwapped, Progress: 100})
	if err := s.Apply(t0.Add(time.Second), Op{Kind: OpExpire, ID: "r1", Agent: "a00"}); !errors.Is(err, ErrState) {
		t.Fatalf("early expiry: %v", err)
	}
	must(t, s, t0.Add(2*time.Minute), Op{Kind: OpExpire, ID: "r1", Agent: "a00"})
	if u := s.Updates["a00"]; u.State != StateRolledBack || u.Level() != "failed" {
		t.Fatalf("a00 %+v", u)
	}
	if r := s.Rollouts["r1"]; r.Status != StatusHalted {
		t.Fatalf("status %s, want halted", r.Status)
	}
	must(t, s, t0, Op{Kind: OpReport, Agent: "a01", Version: "1.0", State: StateFailed, Message: "disk full"})
	must(t, s, t0, Op{Kind: OpReport, Agent: "a02", Version: "2.0", State: ReportCommitted})
	if r := s.Rollouts["r1"]; r.Status != StatusDone || s.Current != "" {
		t.Fatalf("status %s current %q, want done", r.Status, s.Current)
	}
}

func TestWarningGoesOn(t *testing.T) {
	s := started(t, 1, 1, 0, 0, false)
	must(t, s, t0, Op{Kind: OpGrant, ID: "r1", Agent: "a00"})
	must(t, s, t0, Op{Kind: OpReport, Agent: "a00", Version: "1.0", State: StateDownloading, Progress: 50, Message: "chunk retried"})
	if u := s.Updates["a00"]; u.Level() != "abnormal" || s.Rollouts["r1"].Status != StatusRunning {
		t.Fatalf("%+v %s", u, s.Rollouts["r1"].Status)
	}
}

func TestDecommission(t *testing.T) {
	s := New()
	must(t, s, t0, Op{Kind: OpMoveStart, By: "admin", Agents: []string{"a", "b"}, Move: &Move{To: "nats://x:4222", TrustKeys: "k"}})
	if err := s.Apply(t0, Op{Kind: OpDecommission, By: "admin"}); !errors.Is(err, ErrState) {
		t.Fatalf("decommission with moves pending: %v", err)
	}
	must(t, s, t0, Op{Kind: OpReport, Agent: "a", State: ReportMoved})
	must(t, s, t0, Op{Kind: OpReport, Agent: "b", State: ReportMoved})
	must(t, s, t0, Op{Kind: OpDecommission, By: "admin"})
	if err := s.Apply(t0, Op{Kind: OpDecommission, By: "admin"}); !errors.Is(err, ErrState) {
		t.Fatalf("second decommission: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"kind":"agent.report","agent":"a","version":"1.0","state":"swapped","progress":100}`))
	f.Add([]byte(`{"kind":"rollout.start","rollout":{"id":"r","version":"1","platform":"linux/amd64","max_concurrent":1,"watch":1,"lease":1,"order":["a"]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		op, err := Decode(b)
		if err != nil {
			return
		}
		s := started(t, 3, 2, 1, 1, false)
		_ = s.Apply(t0, op)
		_ = s.Clone()
	})
}
