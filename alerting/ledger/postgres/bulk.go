package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/sqlstore"
)

// bulk is PostgreSQL's side of sqlstore.Bulk: set-based statements
// (unnest, COPY) and pipelined batches.
type bulk struct{}

var _ sqlstore.Bulk = bulk{}

func (bulk) InsertEntries(ctx context.Context, tx sqlstore.DB, es []incident.Entry) error {
	b := &pgx.Batch{}
	queueEntries(b, es)
	return sendBatch(ctx, pgTx(tx), b)
}

func (bulk) InsertNotifications(ctx context.Context, tx sqlstore.DB, ns []ledger.Notification, now time.Time) error {
	return insertNotifications(ctx, pgTx(tx), ns, now)
}

// SaveTransition sends the incident update and the entry as one pipeline.
func (bulk) SaveTransition(ctx context.Context, tx sqlstore.DB, inc *plan.Incident, e incident.Entry) error {
	b := &pgx.Batch{}
	b.Queue(`UPDATE incidents SET state = $2, acked_at = $3, acked_by = $4, resolved_at = $5, resolved_by = $6,
		closed_at = $7, closed_by = $8, owner = $9, last_seq = $10 WHERE id = $1`,
		inc.ID, string(inc.State), inc.AckedAt, inc.AckedBy, inc.ResolvedAt, inc.ResolvedBy, inc.ClosedAt,
		inc.ClosedBy, inc.Owner, inc.LastSeq)
	queueEntries(b, []incident.Entry{e})
	return sendBatch(ctx, pgTx(tx), b)
}

func (bulk) AddSamples(ctx context.Context, tx sqlstore.DB, buckets []ledger.Bucket, kept []ledger.Sample) error {
	return addSamples(ctx, pgTx(tx), buckets, kept)
}

// LockAudit takes pg_advisory_xact_lock(AuditLockKey): appends from any
// number of pools and nodes on the database run one after the other; the
// lock is released at commit, after the new entry is visible to the next
// appender.
func (bulk) LockAudit(ctx context.Context, tx sqlstore.DB) error {
	_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", AuditLockKey)
	return err
}

// LockName takes pg_advisory_xact_lock(space, hashtext(name)); two names
// of one hash share a lock, which only makes them wait for each other.
func (bulk) LockName(ctx context.Context, tx sqlstore.DB, space int32, name string) error {
	_, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(?::integer, hashtext(?))", space, name)
	return err
}
