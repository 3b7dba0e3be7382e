package web

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/rollout"
)

// rolloutFake is a fleet whose current rollout a test changes.
type rolloutFake struct {
	console.Fleet
	mu    sync.Mutex
	st    console.RolloutStatus
	looks int
}

func (f *rolloutFake) Rollout(string) (console.RolloutStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.looks++
	st := f.st
	st.Agents = slices.Clone(st.Agents)
	return st, nil
}

func (f *rolloutFake) set(fn func(st *console.RolloutStatus)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.st)
}

// TestWatchAgentsRollout: a change of an agent's progress, or of the
// rollout's status, is one "rollout" event for viewers allowed
// rollout.read; nothing changed, nothing sent.
func TestWatchAgentsRollout(t *testing.T) {
	fleet := &rolloutFake{}
	fleet.st.ID, fleet.st.Status = "ro_1", "running"
	fleet.st.Agents = []console.RolloutAgent{{AgentUpdate: rollout.AgentUpdate{Agent: "db-07", State: "downloading", Progress: 10}, Level: "normal"},
		{AgentUpdate: rollout.AgentUpdate{Agent: "web-03", State: "queued"}, Level: "normal"}}
	h := NewHub(HubOptions{})
	defer h.Close()
	s := &Server{d: Deps{Deps: console.Deps{Fleet: fleet}, Hub: h}, log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	w := &agentWatch{}
	since := h.LastID()
	s.pollAgents(ctx, w, true)
	s.pollAgents(ctx, w, false)
	if ev := eventsSince(t, h, since); len(ev) != 0 {
		t.Fatalf("events with nothing changed: %q", ev)
	}
	fleet.set(func(st *console.RolloutStatus) { st.Agents[0].Progress = 60 })
	s.pollAgents(ctx, w, false)
	if ev := eventsSince(t, h, since); !slices.Equal(ev, []string{`rollout {"id":"ro_1","status":"running","agents":["db-07"]}`}) {
		t.Fatalf("after a progress change: %q", ev)
	}
	since = h.LastID()
	fleet.set(func(st *console.RolloutStatus) {
		st.Status = "halted"
		st.Agents[1].State, st.Agents[1].Level = "failed", "failed"
	})
	s.pollAgents(ctx, w, false)
	missed, _, c, _ := h.subscribe(since)
	h.unsubscribe(c)
	if len(missed) != 1 || missed[0].Data != `{"id":"ro_1","status":"halted","agents":["web-03"]}` || missed[0].Action != auth.ActionRolloutRead {
		t.Fatalf("after a halt: %+v", missed)
	}
	if missed[0].For(auth.RoleAgent) || !missed[0].For(auth.RoleViewer) {
		t.Errorf("a rollout event's audience: agent %v, viewer %v", missed[0].For(auth.RoleAgent), missed[0].For(auth.RoleViewer))
	}
}

// TestWatchAgentsIdleWithoutPages: with no live page open the watcher
// does not look (nor publish); once one opens, what changed meanwhile
// is published.
func TestWatchAgentsIdleWithoutPages(t *testing.T) {
	fleet := &rolloutFake{}
	fleet.st.ID, fleet.st.Status = "ro_1", "running"
	h := NewHub(HubOptions{})
	defer h.Close()
	s := &Server{d: Deps{Deps: console.Deps{Fleet: fleet}, Hub: h}, log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.WatchAgents(ctx, 5*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	since := h.LastID()
	looks := func() int { fleet.mu.Lock(); defer fleet.mu.Unlock(); return fleet.looks }
	deadline := time.Now().Add(20 * time.Second)
	for looks() == 0 { // the first, quiet look
		if time.Now().After(deadline) {
			t.Fatal("the watcher did not look within 20 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	fleet.set(func(st *console.RolloutStatus) { st.Status = "paused" })
	time.Sleep(100 * time.Millisecond) // twenty intervals without a page
	if n := looks(); n != 1 || h.LastID() != since {
		t.Fatalf("with no page open: %d looks, events %q", n, eventsSince(t, h, since))
	}
	_, _, c, err := h.subscribe(since)
	if err != nil {
		t.Fatal(err)
	}
	defer h.unsubscribe(c)
	select {
	case ev := <-c.ch:
		if ev.Type != "rollout" || ev.Data != `{"id":"ro_1","status":"paused"}` {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no rollout event within 20 s of a page opening")
	}
}
