package node

import (
	"context"
	"fmt"
	"time"

	"github.com/unyo-ops/unyo/agents"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

var _ agents.Store = (*lazyStore)(nil)

func (l *lazyStore) agentsStore() (agents.Store, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	as, ok := s.(agents.Store)
	if !ok {
		return nil, fmt.Errorf("%w: this ledger store keeps no agents", ledger.ErrUnavailable)
	}
	return as, nil
}

func (l *lazyStore) PutAgent(ctx context.Context, a agents.Agent) error {
	s, err := l.agentsStore()
	if err != nil {
		return err
	}
	return s.PutAgent(ctx, a)
}

func (l *lazyStore) GetAgent(ctx context.Context, name string) (agents.Agent, error) {
	s, err := l.agentsStore()
	if err != nil {
		return agents.Agent{}, err
	}
	return s.GetAgent(ctx, name)
}

func (l *lazyStore) AgentByHostID(ctx context.Context, hostID string) (agents.Agent, error) {
	s, err := l.agentsStore()
	if err != nil {
		return agents.Agent{}, err
	}
	return s.AgentByHostID(ctx, hostID)
}

func (l *lazyStore) ListAgents(ctx context.Context) ([]agents.Agent, error) {
	s, err := l.agentsStore()
	if err != nil {
		return nil, err
	}
	return s.ListAgents(ctx)
}

func (l *lazyStore) DeleteAgent(ctx context.Context, name string) error {
	s, err := l.agentsStore()
	if err != nil {
		return err
	}
	return s.DeleteAgent(ctx, name)
}

func (l *lazyStore) TouchAgents(ctx context.Context, seen []agents.Seen) error {
	s, err := l.agentsStore()
	if err != nil {
		return err
	}
	return s.TouchAgents(ctx, seen)
}

func (l *lazyStore) CreateEnrollToken(ctx context.Context, t agents.EnrollToken) error {
	s, err := l.agentsStore()
	if err != nil {
		return err
	}
	return s.CreateEnrollToken(ctx, t)
}

func (l *lazyStore) ListEnrollTokens(ctx context.Context) ([]agents.EnrollToken, error) {
	s, err := l.agentsStore()
	if err != nil {
		return nil, err
	}
	return s.ListEnrollTokens(ctx)
}

func (l *lazyStore) RevokeEnrollToken(ctx context.Context, id string, at time.Time) error {
	s, err := l.agentsStore()
	if err != nil {
		return err
	}
	return s.RevokeEnrollToken(ctx, id, at)
}

func (l *lazyStore) UseEnrollToken(ctx context.Context, hash string, now time.Time) (agents.EnrollToken, error) {
	s, err := l.agentsStore()
	if err != nil {
		return agents.EnrollToken{}, err
	}
	return s.UseEnrollToken(ctx, hash, now)
}

func (l *lazyStore) PutInventory(ctx context.Context, inv agents.StoredInventory) error {
	s, err := l.agentsStore()
	if err != nil {
		return err
	}
	return s.PutInventory(ctx, inv)
}

func (l *lazyStore) Inventories(ctx context.Context, agent string, limit int) ([]agents.StoredInventory, error) {
	s, err := l.agentsStore()
	if err != nil {
		return nil, err
	}
	return s.Inventories(ctx, agent, limit)
}

func (l *lazyStore) SetGroupSecret(ctx context.Context, g agents.GroupSecret) error {
	s, err := l.agentsStore()
	if err != nil {
		return err
	}
	return s.SetGroupSecret(ctx, g)
}

func (l *lazyStore) GetGroupSecret(ctx context.Context, group string) (agents.GroupSecret, error) {
	s, err := l.agentsStore()
	if err != nil {
		return agents.GroupSecret{}, err
	}
	return s.GetGroupSecret(ctx, group)
}

func (l *lazyStore) ClaimUninstallAttempt(ctx context.Context, a agents.UninstallAttempt, since time.Time, max int) (int, bool, error) {
	s, err := l.agentsStore()
	if err != nil {
		return 0, false, err
	}
	return s.ClaimUninstallAttempt(ctx, a, since, max)
}

func (l *lazyStore) ReleaseUninstallAttempt(ctx context.Context, id string) error {
	s, err := l.agentsStore()
	if err != nil {
		return err
	}
	return s.ReleaseUninstallAttempt(ctx, id)
}
