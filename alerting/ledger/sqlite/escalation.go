package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
)

// The escalation store's methods are the shared ones (package sqlstore);
// this file holds SQLite's notification insert.
var _ ledger.EscalationStore = (*Store)(nil)

// insertNotifications inserts pending notifications after every one there
// (pos); only the write connection calls it, so max(pos) is stable.
func insertNotifications(ctx context.Context, tx *sql.Tx, ns []ledger.Notification, now time.Time) error {
	if len(ns) == 0 {
		return nil
	}
	var pos int64
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(pos), 0) FROM notifications").Scan(&pos); err != nil {
		return err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO notifications (id, incident_id, group_key, kind, channel,
		destination, role, level, state, not_before, created_at, pos) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for _, n := range ns {
		if err := plan.CheckNotification(n); err != nil {
			return err
		}
		pos++
		if _, err := ins.ExecContext(ctx, n.Key, n.IncidentID, n.GroupKey, n.Kind, n.Channel, n.Destination, n.Role,
			n.Level, micros(plan.NotBefore(n, now)), micros(now), pos); err != nil {
			return err
		}
	}
	return nil
}
