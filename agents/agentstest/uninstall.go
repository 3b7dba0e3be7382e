package agentstest

import (
	"fmt"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/agents"
)

// runUninstallAttempts: attempts are counted per agent up to the limit,
// forgotten once older than the window's start, released by id, and
// deleted with their agent.
func runUninstallAttempts(t *testing.T, open func(t *testing.T) agents.Store) {
	t.Run("UninstallAttempts", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		const window, limit = 10 * time.Minute, 5
		claim := func(agent string, id string, at time.Time) (int, bool) {
			t.Helper()
			n, ok, err := s.ClaimUninstallAttempt(ctx, agents.UninstallAttempt{ID: id, Agent: agent, At: at, Node: "n1"}, at.Add(-window), limit)
			if err != nil {
				t.Fatalf("ClaimUninstallAttempt(%s, %s): %v", agent, id, err)
			}
			return n, ok
		}
		for i := range limit {
			if n, ok := claim("web01", fmt.Sprintf("a%d", i), T0.Add(time.Duration(i)*time.Minute)); !ok || n != i+1 {
				t.Fatalf("attempt %d: %d, %v; want %d, counted", i+1, n, ok, i+1)
			}
		}
		// Full: not counted, and another agent has its own count.
		if n, ok := claim("web01", "a5", T0.Add(5*time.Minute)); ok || n != limit {
			t.Fatalf("attempt past the limit: %d, %v; want %d, refused", n, ok, limit)
		}
		if n, ok := claim("db01", "b0", T0.Add(5*time.Minute)); !ok || n != 1 {
			t.Errorf("another agent's first attempt: %d, %v", n, ok)
		}
		// A released attempt (a right secret) makes room; releasing an
		// unknown id is no error.
		if err := s.ReleaseUninstallAttempt(ctx, "a4"); err != nil {
			t.Fatal(err)
		}
		if err := s.ReleaseUninstallAttempt(ctx, "nope"); err != nil {
			t.Errorf("release of an unknown attempt: %v", err)
		}
		if n, ok := claim("web01", "a6", T0.Add(6*time.Minute)); !ok || n != limit {
			t.Fatalf("after a release: %d, %v; want %d, counted", n, ok, limit)
		}
		// The first attempt (T0) leaves the window at T0+10m exactly: one
		// more is counted; then none until the next leaves.
		if n, ok := claim("web01", "a7", T0.Add(window-time.Microsecond)); ok || n != limit {
			t.Errorf("just inside the window: %d, %v; want refused", n, ok)
		}
		if n, ok := claim("web01", "a8", T0.Add(window)); !ok || n != limit {
			t.Errorf("once the first left the window: %d, %v; want %d, counted", n, ok, limit)
		}
		// Deleted with the agent.
		if err := s.PutAgent(ctx, agents.Agent{Name: "db01", Kind: agents.KindResident, Enrolled: T0}); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteAgent(ctx, "db01"); err != nil {
			t.Fatal(err)
		}
		if n, ok := claim("db01", "b1", T0.Add(6*time.Minute)); !ok || n != 1 {
			t.Errorf("after the agent was deleted: %d, %v; want its count to start again", n, ok)
		}
	})
}
