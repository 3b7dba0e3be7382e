package web

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/agents"
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

// agentsFake is a registry whose reads a test can make fail.
type agentsFake struct {
	mu   sync.Mutex
	err  error
	list []agents.AgentView
}

func (f *agentsFake) List(context.Context) ([]agents.AgentView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.list), f.err
}
func (f *agentsFake) Get(context.Context, string) (agents.AgentView, error) {
	return agents.AgentView{}, agents.ErrNotFound
}
func (f *agentsFake) Inventory(context.Context, string) (agents.InventoryView, error) {
	return agents.InventoryView{}, agents.ErrNotFound
}

// TestWatchAgentsFirstLookFailed: when the registry could not be read
// at the first look (the ledger not open yet), the first look that
// reads it has nothing to compare with and tells every page to redraw,
// rather than taking what it sees as known: a page drawn before it
// would miss a change. Then changes are events as usual, and an agent
// that leaves is one too.
func TestWatchAgentsFirstLookFailed(t *testing.T) {
	reg := &agentsFake{err: errors.New("ledger store unavailable: not open yet")}
	h := NewHub(HubOptions{})
	defer h.Close()
	s := &Server{d: Deps{Agents: reg, Hub: h}, log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	w := &agentWatch{}
	since := h.LastID()
	s.pollAgents(ctx, w, true)
	reg.mu.Lock()
	reg.err = nil
	reg.list = []agents.AgentView{{Agent: agents.Agent{Name: "web01", Version: "1.0", LastSeen: time.Now()}, Live: true}}
	reg.mu.Unlock()
	s.pollAgents(ctx, w, false)
	if ev := eventsSince(t, h, since); !slices.Equal(ev, []string{`agent {"changed":1}`}) {
		t.Fatalf("the first look that read the registry: %q, want one event for every page", ev)
	}
	since = h.LastID()
	s.pollAgents(ctx, w, false)
	if ev := eventsSince(t, h, since); len(ev) != 0 {
		t.Fatalf("nothing changed: %q", ev)
	}
	reg.mu.Lock()
	reg.list[0].Live = false
	reg.mu.Unlock()
	s.pollAgents(ctx, w, false)
	if ev := eventsSince(t, h, since); !slices.Equal(ev, []string{`agent {"name":"web01","beat":"late","version":"1.0"}`}) {
		t.Fatalf("web01 late: %q", ev)
	}
	since = h.LastID()
	reg.mu.Lock()
	reg.list = nil
	reg.mu.Unlock()
	s.pollAgents(ctx, w, false)
	if ev := eventsSince(t, h, since); !slices.Equal(ev, []string{`agent {"name":"web01","beat":"gone"}`}) {
		t.Fatalf("web01 deleted: %q", ev)
	}
}
