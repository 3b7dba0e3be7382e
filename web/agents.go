package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/unyo-ops/unyo/agents"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/console"
)

// Agents is what the agents' pages read: the same service the JSON API
// (GET /api/v1/agents) serves from (*agents.Service).
type Agents interface {
	List(ctx context.Context) ([]agents.AgentView, error)
	Get(ctx context.Context, name string) (agents.AgentView, error)
	Inventory(ctx context.Context, name string) (agents.InventoryView, error)
}

type agentsData struct {
	None   bool // the node manages no agents (agents.enabled off)
	Agents []agentRow
	// Rollout is the live rollout, else the last one (what `unyo rollout
	// status` shows); nil when there is none or the viewer may not read
	// rollouts.
	Rollout *console.RolloutStatus
}

type agentRow struct {
	agents.AgentView
	// Beat is the heartbeat state in words: live, down (a fault is
	// raised), late (missed beats, no fault yet) or never.
	Beat string
	// Update is the agent's line of the shown rollout ("" when it is not
	// in it).
	Update string
}

type agentData struct {
	Agent agentRow
	// Inv is the newest inventory (nil: none yet).
	Inv      *agents.InventoryView
	Packages int
	Memory   string
}

func row(a agents.AgentView) agentRow {
	b := "late"
	switch {
	case a.Down:
		b = "down"
	case a.Live:
		b = "live"
	case a.LastSeen.IsZero():
		b = "never"
	}
	return agentRow{AgentView: a, Beat: b}
}

// memory writes a byte count for people (binary units).
func memory(n uint64) string {
	if n == 0 {
		return "—"
	}
	v, u := float64(n), 0
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	for v >= 1024 && u < len(units)-1 {
		v, u = v/1024, u+1
	}
	return fmt.Sprintf("%.1f %s", v, units[u])
}

// agentsPage lists the enrolled agents with their liveness and the
// current rollout with each agent's state in it.
func (s *Server) agentsPage(w http.ResponseWriter, r *http.Request) {
	d := agentsData{}
	if s.d.Agents == nil {
		d.None = true
		s.render(w, r, "agents", d)
		return
	}
	list, err := s.d.Agents.List(r.Context())
	if err != nil {
		s.storeFail(w, r, "agents", err)
		return
	}
	states := map[string]string{}
	if s.d.Fleet != nil && auth.Allowed(auth.FromRequest(r).Role, auth.ActionRolloutRead) {
		if st, err := s.d.Fleet.Rollout("current"); err == nil {
			d.Rollout = &st
			for _, a := range st.Agents {
				states[a.Agent] = a.State
			}
		} else if !errors.Is(err, console.ErrNoRun) {
			s.log.Warn("agents page: rollout status", "err", err)
		}
	}
	for _, a := range list {
		x := row(a)
		x.Update = states[a.Name]
		d.Agents = append(d.Agents, x)
	}
	s.render(w, r, "agents", d)
}

// agentPage shows one agent and a summary of its newest inventory.
func (s *Server) agentPage(w http.ResponseWriter, r *http.Request) {
	if s.d.Agents == nil {
		s.fail(w, r, http.StatusNotFound, "This node manages no agents.")
		return
	}
	a, err := s.d.Agents.Get(r.Context(), r.PathValue("name"))
	if errors.Is(err, agents.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, "There is no agent by that name.")
		return
	}
	if err != nil {
		s.storeFail(w, r, "agent", err)
		return
	}
	d := agentData{Agent: row(a)}
	inv, err := s.d.Agents.Inventory(r.Context(), a.Name)
	switch {
	case err == nil:
		d.Inv = &inv
		d.Packages = len(inv.Inv.Packages)
		d.Memory = memory(inv.Inv.MemoryBytes)
	case !errors.Is(err, agents.ErrNotFound):
		s.storeFail(w, r, "inventory", err)
		return
	}
	s.render(w, r, "agent", d)
}
