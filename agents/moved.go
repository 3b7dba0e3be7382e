package agents

import "context"

// Moved disables agent in the registry once it reported it moved to
// another cluster: it is no longer expected here (no heartbeat fault)
// and its credential is refused from its next connection. An agent not
// enrolled here (a configured one) is ignored.
func (s *Service) Moved(ctx context.Context, agent string) {
	a, err := s.o.Store.GetAgent(ctx, agent)
	if err != nil || a.Disabled {
		return
	}
	a.Disabled = true
	if err := s.o.Store.PutAgent(ctx, a); err != nil {
		s.log.Warn("moved agent not disabled", "agent", agent, "err", err)
		return
	}
	_ = s.Refresh(ctx)
	s.log.Info("agent moved to another cluster: disabled here", "agent", agent)
}
