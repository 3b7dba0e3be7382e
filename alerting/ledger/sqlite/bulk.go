package sqlite

import (
	"context"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/sqlstore"
)

// bulk is SQLite's side of sqlstore.Bulk: prepared statements on the
// single write connection.
type bulk struct{}

var _ sqlstore.Bulk = bulk{}

func (bulk) InsertEntries(ctx context.Context, tx sqlstore.DB, es []incident.Entry) error {
	return insertEntries(ctx, sqlTx(tx), es)
}

func (bulk) InsertNotifications(ctx context.Context, tx sqlstore.DB, ns []ledger.Notification, now time.Time) error {
	return insertNotifications(ctx, sqlTx(tx), ns, now)
}

func (bulk) SaveTransition(ctx context.Context, tx sqlstore.DB, inc *plan.Incident, e incident.Entry) error {
	if _, err := tx.Exec(ctx, `UPDATE incidents SET state = ?, acked_at = ?, acked_by = ?, resolved_at = ?,
		resolved_by = ?, closed_at = ?, closed_by = ?, owner = ?, last_seq = ? WHERE id = ?`,
		inc.State, nullMicros(inc.AckedAt), inc.AckedBy, nullMicros(inc.ResolvedAt), inc.ResolvedBy,
		nullMicros(inc.ClosedAt), inc.ClosedBy, inc.Owner, inc.LastSeq, inc.ID); err != nil {
		return err
	}
	return insertEntries(ctx, sqlTx(tx), []incident.Entry{e})
}

func (bulk) AddSamples(ctx context.Context, tx sqlstore.DB, buckets []ledger.Bucket, kept []ledger.Sample) error {
	return addSamples(ctx, sqlTx(tx), buckets, kept)
}

// LockAudit has nothing to do: BEGIN IMMEDIATE on the single write
// connection already serialises appends.
func (bulk) LockAudit(context.Context, sqlstore.DB) error { return nil }

// LockName has nothing to do, as LockAudit.
func (bulk) LockName(context.Context, sqlstore.DB, int32, string) error { return nil }
