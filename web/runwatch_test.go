package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/console"
)

// watchFake is a job network whose runs a test changes.
type watchFake struct {
	mu   sync.Mutex
	runs []ledger.RunRecord
}

func (f *watchFake) Jobnets() []console.JobnetSummary { return nil }
func (f *watchFake) Jobnet(string) (console.JobnetDetail, error) {
	return console.JobnetDetail{}, console.ErrNoJobnet
}
func (f *watchFake) StartRun(context.Context, string, map[string]string, string) (string, error) {
	return "", console.ErrInvalid
}
func (f *watchFake) ActRun(context.Context, string, console.RunAction) error { return nil }
func (f *watchFake) Runs(context.Context, ledger.RunFilter) ([]ledger.RunRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ledger.RunRecord
	for _, r := range f.runs {
		r.Jobs = nil
		out = append(out, r)
	}
	return out, nil
}
func (f *watchFake) Run(_ context.Context, id string) (ledger.RunRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.runs {
		if r.ID == id {
			r.Jobs = slices.Clone(r.Jobs)
			return r, nil
		}
	}
	return ledger.RunRecord{}, console.ErrNoRun
}

func (f *watchFake) set(run int, job int, state string, attempt int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs[run].Jobs[job].State, f.runs[run].Jobs[job].Attempt = state, attempt
}

// liveFake also answers LiveRuns.
type liveFake struct{ *watchFake }

func (f liveFake) LiveRuns() []ledger.RunRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.runs)
	for i := range out {
		out[i].Jobs = slices.Clone(out[i].Jobs)
	}
	return out
}

func newWatchFake() *watchFake {
	return &watchFake{runs: []ledger.RunRecord{{ID: "r1", Jobnet: "nightly", Status: "running", Created: time.Unix(1, 0),
		Jobs: []ledger.JobRecord{{Job: "a", State: "ended-normal", Attempt: 1}, {Job: "b", State: "waiting"}}}}}
}

func eventsSince(t *testing.T, h *Hub, since string) []string {
	t.Helper()
	missed, refresh, c, err := h.subscribe(since)
	if err != nil || refresh {
		t.Fatalf("subscribe: %v %v", err, refresh)
	}
	h.unsubscribe(c)
	var out []string
	for _, e := range missed {
		out = append(out, e.Type+" "+e.Data)
	}
	return out
}

func TestWatchRunsPublishes(t *testing.T) {
	for name, mk := range map[string]func(*watchFake) console.Jobnets{
		"live runs":    func(f *watchFake) console.Jobnets { return liveFake{f} },
		"runs and run": func(f *watchFake) console.Jobnets { return f },
	} {
		t.Run(name, func(t *testing.T) {
			fake := newWatchFake()
			h := NewHub(HubOptions{})
			defer h.Close()
			s := &Server{d: Deps{Deps: console.Deps{Jobnets: mk(fake)}, Hub: h}, log: slog.New(slog.DiscardHandler)}
			ctx := context.Background()
			seen := map[string]runSeen{}
			since := h.LastID()
			s.pollRuns(ctx, seen, true)
			s.pollRuns(ctx, seen, false)
			if ev := eventsSince(t, h, since); len(ev) != 0 {
				t.Fatalf("events with nothing changed: %q", ev)
			}
			fake.set(0, 1, "running", 1)
			s.pollRuns(ctx, seen, false)
			want := []string{`job {"run":"r1","job":"b","state":"running","attempt":1}`, `run {"id":"r1","jobnet":"nightly","status":"running"}`}
			if ev := eventsSince(t, h, since); !slices.Equal(ev, want) {
				t.Fatalf("events %q, want %q", ev, want)
			}
			since = h.LastID()
			fake.mu.Lock()
			fake.runs[0].Status, fake.runs[0].Ended = "ended-normal", time.Unix(2, 0)
			fake.runs[0].Jobs[1].State = "ended-normal"
			fake.runs = append(fake.runs, ledger.RunRecord{ID: "r2", Jobnet: "hourly", Status: "running", Jobs: []ledger.JobRecord{{Job: "x", State: "waiting"}}})
			fake.mu.Unlock()
			s.pollRuns(ctx, seen, false)
			ev := eventsSince(t, h, since)
			for _, w := range []string{`job {"run":"r1","job":"b","state":"ended-normal","attempt":1}`, `run {"id":"r1","jobnet":"nightly","status":"ended-normal"}`,
				`run {"id":"r2","jobnet":"hourly","status":"running"}`} {
				if !slices.Contains(ev, w) {
					t.Errorf("no %s in %q", w, ev)
				}
			}
			// a run that leaves the state is forgotten
			fake.mu.Lock()
			fake.runs = fake.runs[1:]
			fake.mu.Unlock()
			s.pollRuns(ctx, seen, false)
			if _, ok := seen["r1"]; ok || len(seen) != 1 {
				t.Errorf("seen %v", seen)
			}
		})
	}
}

func TestWatchRunsLoop(t *testing.T) {
	fake := newWatchFake()
	h := NewHub(HubOptions{})
	defer h.Close()
	s := &Server{d: Deps{Deps: console.Deps{Jobnets: liveFake{fake}}, Hub: h}, log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	since := h.LastID()
	go func() { s.WatchRuns(ctx, 10*time.Millisecond); close(done) }()
	// change the job until the watcher (after its first, quiet look)
	// reports it
	deadline := time.Now().Add(10 * time.Second)
	for i := 1; h.LastID() == since; i++ {
		if time.Now().After(deadline) {
			t.Fatal("no event within 10 s of a job's change")
		}
		fake.set(0, 1, "running", i)
		time.Sleep(5 * time.Millisecond)
	}
	var got JobEvent
	ev := eventsSince(t, h, since)
	if len(ev) == 0 || json.Unmarshal([]byte(ev[0][len("job "):]), &got) != nil || got.State != "running" || got.Job != "b" {
		t.Errorf("events %q", ev)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("WatchRuns did not return after its context ended")
	}
}
