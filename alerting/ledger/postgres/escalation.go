package postgres

import (
	"context"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
)

// The escalation store's methods are the shared ones (package sqlstore);
// this file holds PostgreSQL's notification insert.
var _ ledger.EscalationStore = (*Store)(nil)

func insertNotifications(ctx context.Context, tx pgRunner, ns []ledger.Notification, now time.Time) error {
	if len(ns) == 0 {
		return nil
	}
	n := len(ns)
	var (
		keys, groups, kinds, chans, dests, roles = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		incs                                     = make([]int64, n)
		levels                                   = make([]int32, n)
		notBefore                                = make([]time.Time, n)
	)
	for i, x := range ns {
		if err := plan.CheckNotification(x); err != nil {
			return err
		}
		keys[i], groups[i], kinds[i], chans[i], dests[i], roles[i] = x.Key, x.GroupKey, x.Kind, x.Channel, x.Destination, x.Role
		incs[i], levels[i], notBefore[i] = x.IncidentID, int32(x.Level), plan.NotBefore(x, now)
	}
	_, err := tx.Exec(ctx, `INSERT INTO notifications (id, incident_id, group_key, kind, channel, destination, role,
		level, state, not_before, created_at)
		SELECT u.id, u.incident_id, u.group_key, u.kind, u.channel, u.destination, u.role, u.level, 'pending',
			u.not_before, $10
		FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::integer[], $9::timestamptz[]) WITH ORDINALITY
			AS u(id, incident_id, group_key, kind, channel, destination, role, level, not_before, ord)
		ORDER BY u.ord
		ON CONFLICT (id) DO NOTHING`, keys, incs, groups, kinds, chans, dests, roles, levels, notBefore, now)
	return err
}
