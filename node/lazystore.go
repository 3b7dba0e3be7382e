package node

import (
	"context"
	"fmt"
	"sync"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

// lazyStore is a ledger.Store that answers ledger.ErrNotOpen until the real
// store is set, or ledger.ErrUnavailable with the last open error once an
// attempt to open it has failed (a real failure, which callers may log).
type lazyStore struct {
	mu      sync.RWMutex
	s       ledger.Store
	openErr error
}

func (l *lazyStore) get() (ledger.Store, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.s == nil {
		if l.openErr != nil {
			return nil, fmt.Errorf("%w: not open yet: %w", ledger.ErrUnavailable, l.openErr)
		}
		return nil, ledger.ErrNotOpen
	}
	return l.s, nil
}

func (l *lazyStore) set(s ledger.Store, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.s, l.openErr = s, err
}

func (l *lazyStore) ApplyEvents(ctx context.Context, evs []incident.Event) ([]incident.Change, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.ApplyEvents(ctx, evs)
}

func (l *lazyStore) Incident(ctx context.Context, id int64) (incident.Incident, error) {
	s, err := l.get()
	if err != nil {
		return incident.Incident{}, err
	}
	return s.Incident(ctx, id)
}

func (l *lazyStore) Incidents(ctx context.Context, f ledger.Filter) ([]incident.Incident, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.Incidents(ctx, f)
}

func (l *lazyStore) Timeline(ctx context.Context, id int64) ([]incident.Entry, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.Timeline(ctx, id)
}

func (l *lazyStore) Transition(ctx context.Context, id int64, a incident.Action) (incident.Incident, incident.Entry, error) {
	s, err := l.get()
	if err != nil {
		return incident.Incident{}, incident.Entry{}, err
	}
	return s.Transition(ctx, id, a)
}

func (l *lazyStore) EventApplied(ctx context.Context, eventID string) (bool, int64, error) {
	s, err := l.get()
	if err != nil {
		return false, 0, err
	}
	return s.EventApplied(ctx, eventID)
}

func (l *lazyStore) EventCount(ctx context.Context) (int64, error) {
	s, err := l.get()
	if err != nil {
		return 0, err
	}
	return s.EventCount(ctx)
}

func (l *lazyStore) Pending(ctx context.Context, limit int) ([]incident.Entry, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	return s.Pending(ctx, limit)
}

func (l *lazyStore) MarkPublished(ctx context.Context, keys []ledger.EntryKey) error {
	s, err := l.get()
	if err != nil {
		return err
	}
	return s.MarkPublished(ctx, keys)
}

func (l *lazyStore) Ping(ctx context.Context) error {
	s, err := l.get()
	if err != nil {
		return err
	}
	return s.Ping(ctx)
}

func (l *lazyStore) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s == nil {
		return nil
	}
	err := l.s.Close()
	l.s = nil
	return err
}
