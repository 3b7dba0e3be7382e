package web

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/console"
)

// AgentEvent is the data of an "agent" event (sent to viewers allowed
// agent.read): an agent appeared or left, or its heartbeat state,
// version, kind, group, home, tags or job slots changed. Name is "" when
// more than maxAgentEvents agents changed at once (one event for all).
type AgentEvent struct {
	Name    string `json:"name,omitempty"`
	Beat    string `json:"beat,omitempty"`
	Version string `json:"version,omitempty"`
	Changed int    `json:"changed,omitempty"`
}

// RolloutEvent is the data of a "rollout" event (sent to viewers allowed
// rollout.read): the shown rollout (the live one, else the last) changed
// its status, or an agent's state, progress or level in it changed.
type RolloutEvent struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// Agents are the agents whose line changed (at most maxAgentEvents).
	Agents []string `json:"agents,omitempty"`
}

// maxAgentEvents bounds the "agent" events of one look: beyond it one
// event says how many changed.
const maxAgentEvents = 20

// WatchAgents publishes to the hub an "agent" event when an agent
// appears, leaves, or changes what the agents' pages show of it except
// its last-seen time (heartbeat state live/late/down/never, version,
// kind, group, home, tags, job slots in use, disabled), and a "rollout"
// event when the shown rollout or an agent's line in it changes. It
// looks every interval (default 1s) while a live page is open, until
// ctx ends; the agents' pages redraw on these events.
func (s *Server) WatchAgents(ctx context.Context, interval time.Duration) {
	if s.d.Agents == nil && s.d.Fleet == nil {
		return
	}
	if interval <= 0 {
		interval = time.Second
	}
	w := &agentWatch{}
	t := time.NewTicker(interval)
	defer t.Stop()
	s.pollAgents(ctx, w, true) // what is there now: no events
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Nobody watches: no need to read the registry. What changed
		// meanwhile is published at the next look with a page open (a
		// reconnecting page gets it with what it missed).
		if s.d.Hub.Streams() == 0 {
			continue
		}
		s.pollAgents(ctx, w, false)
	}
}

// agentWatch is what the last look saw.
type agentWatch struct {
	agents  map[string]string // name → what the pages show of it
	rollout string            // id/status
	lines   map[string]string // agent → its line in the rollout
	ok      bool              // agents was read at least once
}

// agentKey is what the agents' pages show of an agent, but its last
// seen time (that changes with every heartbeat and is redrawn with the
// page, not sent as an event).
func agentKey(x agentRow) string {
	return strings.Join([]string{x.Beat, x.Version, string(x.Kind), x.Group, x.Home, strings.Join(x.Tags, ","),
		strconv.Itoa(x.SlotsUsed), strconv.Itoa(x.Slots), strconv.FormatBool(x.Disabled)}, "\x00")
}

func (s *Server) pollAgents(ctx context.Context, w *agentWatch, quiet bool) {
	if s.d.Agents != nil {
		if list, err := s.d.Agents.List(ctx); err == nil {
			now := make(map[string]string, len(list))
			var changed []AgentEvent
			for _, a := range list {
				x := row(a)
				k := agentKey(x)
				now[a.Name] = k
				if w.agents[a.Name] != k {
					changed = append(changed, AgentEvent{Name: a.Name, Beat: x.Beat, Version: a.Version})
				}
			}
			for name := range w.agents {
				if _, ok := now[name]; !ok {
					changed = append(changed, AgentEvent{Name: name, Beat: "gone"})
				}
			}
			switch {
			case quiet:
			case w.ok:
				s.publishAgents(changed)
			default:
				// No earlier look to compare with (the registry could
				// not be read before): an open page may be older than
				// this look, so every page redraws.
				s.d.Hub.PublishFor(auth.ActionAgentRead, "agent", AgentEvent{Changed: len(list)})
			}
			w.agents, w.ok = now, true
		} else if ctx.Err() == nil {
			s.log.Debug("agents watch", "err", err)
		}
	}
	if s.d.Fleet == nil {
		return
	}
	st, err := s.d.Fleet.Rollout("current")
	if err != nil && !errors.Is(err, console.ErrNoRun) {
		return
	}
	head := st.ID + "/" + st.Status
	lines := make(map[string]string, len(st.Agents))
	var changed []string
	for _, a := range st.Agents {
		l := a.State + "/" + strconv.Itoa(a.Progress) + "/" + a.Level + "/" + strconv.Itoa(a.Warnings) + "/" + a.Err
		lines[a.Agent] = l
		if w.lines[a.Agent] != l {
			changed = append(changed, a.Agent)
		}
	}
	for a := range w.lines {
		if _, ok := lines[a]; !ok {
			changed = append(changed, a)
		}
	}
	if !quiet && (head != w.rollout || len(changed) > 0) {
		slices.Sort(changed)
		if len(changed) > maxAgentEvents {
			changed = changed[:maxAgentEvents]
		}
		s.d.Hub.PublishFor(auth.ActionRolloutRead, "rollout", RolloutEvent{ID: st.ID, Status: st.Status, Agents: changed})
	}
	w.rollout, w.lines = head, lines
}

func (s *Server) publishAgents(changed []AgentEvent) {
	if len(changed) > maxAgentEvents {
		s.d.Hub.PublishFor(auth.ActionAgentRead, "agent", AgentEvent{Changed: len(changed)})
		return
	}
	slices.SortFunc(changed, func(a, b AgentEvent) int { return strings.Compare(a.Name, b.Name) })
	for _, c := range changed {
		s.d.Hub.PublishFor(auth.ActionAgentRead, "agent", c)
	}
}
