package jobnet

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/jobnet/runstate"
)

// flakyRemote fails the first fails dispatches of each attempt the way
// JetStream does while a stream elects its leader, then runs the task
// and reports its result to the engine.
type flakyRemote struct {
	e     func() *Engine
	fails int
	code  int

	mu    sync.Mutex
	tries map[string]int
	ran   map[string]int
}

func (r *flakyRemote) Dispatch(ctx context.Context, target string, t Task) error {
	r.mu.Lock()
	r.tries[t.Key()]++
	if r.tries[t.Key()] <= r.fails {
		r.mu.Unlock()
		return jetstream.ErrNoStreamResponse
	}
	r.ran[t.Key()]++
	r.mu.Unlock()
	go func() {
		now := time.Now().UTC()
		_ = r.e().Report(context.Background(), Result{Run: t.Run, Job: t.Job, Attempt: t.Attempt, Code: r.code,
			Where: target, Started: now, Ended: now})
	}()
	return nil
}

func (r *flakyRemote) Kill(context.Context, string, string) error { return nil }

func (r *flakyRemote) counts(k string) (tries, ran int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tries[k], r.ran[k]
}

// flakySink refuses the first fails events, as the bus does in an
// election.
type flakySink struct {
	sinkRec
	mu    sync.Mutex
	fails int
	tries int
}

func (s *flakySink) Publish(ctx context.Context, ev incident.Event) error {
	s.mu.Lock()
	s.tries++
	fail := s.tries <= s.fails
	s.mu.Unlock()
	if fail {
		return errors.New("bus: publish event: nats: no response from stream")
	}
	return s.sinkRec.Publish(ctx, ev)
}

// TestDispatchRetriedThroughElection: a task the bus cannot store for a
// while (no response from stream) is retried until stored, and the job
// runs once and ends normally instead of ending abnormal.
func TestDispatchRetriedThroughElection(t *testing.T) {
	var h *harness
	rem := &flakyRemote{e: func() *Engine { return h.e }, fails: 6, tries: map[string]int{}, ran: map[string]int{}}
	h = start(t, `
jobnets:
  - name: remote
    jobs:
      - {name: a, command: /bin/true, run_on: {agent: db1}}
`, func(o *Options) { o.Remote = rem; o.LostAfter = 100 * time.Millisecond })
	id, err := h.e.Start(t.Context(), "remote", nil, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	r := h.wait(id)
	if a := r.Jobs["a"]; a.State != runstate.EndedNormal || a.Attempt != 1 {
		t.Fatalf("job a: %+v, want ended-normal on attempt 1", a)
	}
	if tries, ran := rem.counts(id + "/a/1"); tries != 7 || ran != 1 {
		t.Fatalf("dispatch tries %d, stored %d; want 7 and 1", tries, ran)
	}
	if evs := h.sink.all(); len(evs) != 0 {
		t.Fatalf("incidents raised: %+v", evs)
	}
}

// TestDispatchGivesUpAtDeadline: a task never stored ends the attempt
// abnormally at its start deadline, with its incident.
func TestDispatchGivesUpAtDeadline(t *testing.T) {
	var h *harness
	rem := &flakyRemote{e: func() *Engine { return h.e }, fails: 1 << 30, tries: map[string]int{}, ran: map[string]int{}}
	h = start(t, `
jobnets:
  - name: remote
    jobs:
      - {name: a, command: /bin/true, run_on: {agent: db1}}
`, func(o *Options) { o.Remote = rem; o.DispatchFor = 300 * time.Millisecond })
	id, _ := h.e.Start(t.Context(), "remote", nil, "", "test")
	r := h.wait(id)
	a := r.Jobs["a"]
	if a.State != runstate.EndedAbnormal || !strings.Contains(a.Reason, "not stored within 300ms") {
		t.Fatalf("job a: %+v", a)
	}
	if tries, _ := rem.counts(id + "/a/1"); tries < 2 {
		t.Fatalf("dispatch tried %d times, want retries", tries)
	}
	waitFor(t, "the incident", func() bool { return len(h.sink.all()) == 1 })
}

// TestIncidentRetried: an abnormal end's incident that the bus refuses
// at first is raised once it takes it.
func TestIncidentRetried(t *testing.T) {
	sink := &flakySink{fails: 4}
	h := start(t, `
jobnets:
  - name: f
    jobs:
      - {name: a, command: /bin/false}
`, func(o *Options) { o.Sink = sink })
	id, _ := h.e.Start(t.Context(), "f", nil, "", "test")
	if r := h.wait(id); r.Jobs["a"].State != runstate.EndedAbnormal {
		t.Fatalf("%+v", r.Jobs["a"])
	}
	waitFor(t, "the incident after the bus came back", func() bool { return len(sink.all()) == 1 })
	if ev := sink.all()[0]; ev.Labels["job"] != "a" || ev.Status != incident.Problem {
		t.Fatalf("incident: %+v", ev)
	}
}

// silentRemote stores every task and never reports: its agent is cut off.
type silentRemote struct{}

func (silentRemote) Dispatch(context.Context, string, Task) error { return nil }
func (silentRemote) Kill(context.Context, string, string) error   { return nil }

// TestLateEndOfLostJob: an attempt declared lost whose end comes after
// all (its node was cut off past the lease) is recorded as it ended, the
// run goes on, and the "lost" incident is answered by an OK.
func TestLateEndOfLostJob(t *testing.T) {
	h := start(t, `
jobnets:
  - name: cut
    jobs:
      - {name: a, command: /bin/true, run_on: {agent: db1}}
      - {name: b, command: /bin/true, needs: [a]}
`, func(o *Options) { o.Remote = silentRemote{}; o.LostAfter = 200 * time.Millisecond })
	id, _ := h.e.Start(t.Context(), "cut", nil, "", "test")
	if r := h.wait(id); r.Jobs["a"].State != runstate.Lost || r.Status != runstate.StatusAbnorm {
		t.Fatalf("before the late end: %s %s", r.Status, jobStates(r))
	}
	// The engine raises "lost" just after it commits the state; the late
	// end comes after that (a report racing the raise could be published
	// first: real late ends come a lease later).
	waitFor(t, "the lost incident", func() bool { return len(h.sink.all()) == 1 })
	now := time.Now().UTC()
	if err := h.e.Report(t.Context(), Result{Run: id, Job: "a", Attempt: 1, Code: 0, Where: "agent:db1", Started: now, Ended: now}); err != nil {
		t.Fatal(err)
	}
	h.waitJob(id, "b", runstate.EndedNormal)
	r := h.wait(id)
	if r.Jobs["a"].State != runstate.EndedNormal || r.Status != runstate.StatusNormal {
		t.Fatalf("after the late end: %s %s", r.Status, jobStates(r))
	}
	defer func() {
		if t.Failed() {
			for _, ev := range h.sink.all() {
				t.Logf("event: %s %s %v", ev.DedupKey, ev.Status, ev.Labels)
			}
		}
	}()
	waitFor(t, "the lost incident and its OK", func() bool {
		evs := h.sink.all()
		return len(evs) == 2 && evs[0].Labels["what"] == "lost" && evs[1].Status == incident.OK && evs[0].DedupKey == evs[1].DedupKey
	})
	// A second report of the same attempt changes nothing.
	if err := h.e.Report(t.Context(), Result{Run: id, Job: "a", Attempt: 1, Code: 3}); err != nil {
		t.Fatal(err)
	}
	if r, _ := h.e.GetRun(id); r.Jobs["a"].State != runstate.EndedNormal {
		t.Fatalf("a second report changed the job: %+v", r.Jobs["a"])
	}
}
