package postgres

import (
	"context"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
)

// The run history's methods are the shared ones (package sqlstore); this
// file holds Exec, which the db-maintenance job uses.
var _ ledger.RunHistoryStore = (*Store)(nil)

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

// Exec runs one statement outside a transaction (VACUUM cannot run in
// one); the db-maintenance job uses it.
func (s *Store) Exec(ctx context.Context, sql string) error {
	if s.closed.Load() {
		return ledger.ErrClosed
	}
	if _, err := s.pool.Exec(ctx, sql); err != nil {
		return s.wrap("exec", err)
	}
	return nil
}
