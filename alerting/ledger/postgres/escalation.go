package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
)

var _ ledger.EscalationStore = (*Store)(nil)

const escCols = `incident_id, policy, snapshot, state, reason, cycle, rep, step, level, next_at, last_seq,
	flaps, flap_since, flapping, version, created_at, updated_at`

const notifCols = `id, incident_id, group_key, kind, channel, destination, role, level, state, attempts,
	not_before, claimed_by, claim_until, last_error, created_at, sent_at`

const maintCols = `id, name, scope, pattern, start_at, end_at, cron, duration, time_zone, comment, created_by,
	created_at, ended_at, ended_by`

// tx runs fn in a transaction, wrapping its error with op.
func (s *Store) tx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	if s.closed.Load() {
		return ledger.ErrClosed
	}
	if err := pgx.BeginFunc(ctx, s.pool, fn); err != nil {
		var fe *incident.FieldError
		if errors.As(err, &fe) {
			return err
		}
		return s.wrap(op, err)
	}
	return nil
}

func snapshotJSON(b []byte) string {
	if len(b) == 0 {
		return "{}"
	}
	return string(b)
}

// StartEscalation inserts e unless the incident has an escalation.
func (s *Store) StartEscalation(ctx context.Context, e ledger.Escalation) (ledger.Escalation, bool, error) {
	var (
		out     ledger.Escalation
		created bool
	)
	now := plan.Time(s.now())
	err := s.tx(ctx, "start escalation", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO escalations (`+escCols+`)
			VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1, $15, $15)
			ON CONFLICT (incident_id) DO NOTHING`,
			e.IncidentID, e.Policy, snapshotJSON(e.Snapshot), string(e.State), e.Reason, e.Cycle, e.Repeat, e.Step,
			e.Level, e.NextAt, e.LastSeq, e.Flaps, e.FlapSince, e.Flapping, now)
		if err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation
				return fmt.Errorf("incident %d: %w", e.IncidentID, incident.ErrNotFound)
			}
			return err
		}
		created = tag.RowsAffected() == 1
		out, err = scanEscalation(tx.QueryRow(ctx, "SELECT "+escCols+" FROM escalations WHERE incident_id = $1", e.IncidentID))
		return err
	})
	return out, created, err
}

// Escalation returns the incident's escalation.
func (s *Store) Escalation(ctx context.Context, id int64) (ledger.Escalation, error) {
	if s.closed.Load() {
		return ledger.Escalation{}, ledger.ErrClosed
	}
	e, err := scanEscalation(s.pool.QueryRow(ctx, "SELECT "+escCols+" FROM escalations WHERE incident_id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return e, fmt.Errorf("postgres ledger: escalation %d: %w", id, incident.ErrNotFound)
	}
	if err != nil {
		return e, s.wrap("escalation", err)
	}
	return e, nil
}

// DueEscalations returns escalations whose NextAt has come, earliest first.
func (s *Store) DueEscalations(ctx context.Context, now time.Time, limit int) ([]ledger.Escalation, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	if limit <= 0 {
		limit = defaultLimit
	}
	rows, err := s.pool.Query(ctx, "SELECT "+escCols+` FROM escalations WHERE next_at IS NOT NULL AND next_at <= $1
		ORDER BY next_at, incident_id LIMIT $2`, now, limit)
	if err != nil {
		return nil, s.wrap("due escalations", err)
	}
	defer rows.Close()
	var out []ledger.Escalation
	for rows.Next() {
		e, err := scanEscalation(rows)
		if err != nil {
			return nil, s.wrap("due escalations", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("due escalations", err)
	}
	return out, nil
}

// UpdateEscalation writes e if its version is current, with notifications
// and notes, in one transaction.
func (s *Store) UpdateEscalation(ctx context.Context, e ledger.Escalation, ns []ledger.Notification, notes []ledger.Note) (ledger.Escalation, error) {
	now := plan.Time(s.now())
	var out ledger.Escalation
	err := s.tx(ctx, fmt.Sprintf("update escalation %d", e.IncidentID), func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE escalations SET state = $1, reason = $2, cycle = $3, rep = $4, step = $5,
			level = $6, next_at = $7, last_seq = $8, flaps = $9, flap_since = $10, flapping = $11,
			version = version + 1, updated_at = $12 WHERE incident_id = $13 AND version = $14`,
			string(e.State), e.Reason, e.Cycle, e.Repeat, e.Step, e.Level, e.NextAt, e.LastSeq, e.Flaps,
			e.FlapSince, e.Flapping, now, e.IncidentID, e.Version)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return plan.Conflict(e.Version)
		}
		if err := insertNotifications(ctx, tx, ns, now); err != nil {
			return err
		}
		for _, n := range notes {
			if n.IncidentID == 0 {
				n.IncidentID = e.IncidentID
			}
			if _, err := appendNote(ctx, tx, n, now); err != nil {
				return err
			}
		}
		out, err = scanEscalation(tx.QueryRow(ctx, "SELECT "+escCols+" FROM escalations WHERE incident_id = $1", e.IncidentID))
		return err
	})
	return out, err
}

func insertNotifications(ctx context.Context, tx pgx.Tx, ns []ledger.Notification, now time.Time) error {
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

// appendNote appends one system entry, with the incident row locked.
func appendNote(ctx context.Context, tx pgx.Tx, n ledger.Note, now time.Time) (incident.Entry, error) {
	if err := plan.CheckNote(n); err != nil {
		return incident.Entry{}, err
	}
	var (
		seq        int32
		state, sev string
	)
	err := tx.QueryRow(ctx, "UPDATE incidents SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq, state, severity",
		n.IncidentID).Scan(&seq, &state, &sev)
	if errors.Is(err, pgx.ErrNoRows) {
		return incident.Entry{}, plan.NoIncident(n.IncidentID)
	}
	if err != nil {
		return incident.Entry{}, err
	}
	e := plan.NoteEntry(n, int(seq), state, sev, now)
	_, err = tx.Exec(ctx, "INSERT INTO timeline ("+entryCols+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		e.IncidentID, seq, e.At, string(e.Kind), e.By, e.Comment, sev, state)
	return e, err
}

// Note appends a system entry to the incident's timeline.
func (s *Store) Note(ctx context.Context, id int64, n ledger.Note) (incident.Entry, error) {
	n.IncidentID = id
	var e incident.Entry
	err := s.tx(ctx, fmt.Sprintf("note %d", id), func(tx pgx.Tx) error {
		var err error
		e, err = appendNote(ctx, tx, n, s.now())
		return err
	})
	return e, err
}

// ClaimNotifications leases due notification groups to c.Owner, unless a
// higher fence has claimed before.
func (s *Store) ClaimNotifications(ctx context.Context, c ledger.Claim) ([]ledger.Notification, error) {
	if c.MaxGroups <= 0 {
		c.MaxGroups = plan.DefaultMaxGroups
	}
	now := c.Now
	prefixed := "n." + strings.Join(strings.Split(strings.Join(strings.Fields(notifCols), " "), ", "), ", n.")
	var out []ledger.Notification
	err := s.tx(ctx, "claim notifications", func(tx pgx.Tx) error {
		if err := raiseFence(ctx, tx, c, s.now()); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `WITH g AS (
				SELECT DISTINCT group_key FROM notifications
				WHERE state = 'pending' AND not_before <= $1 AND (claim_until IS NULL OR claim_until <= $1)
				LIMIT $4)
			UPDATE notifications AS n SET claimed_by = $2, claim_until = $3
			FROM g WHERE n.group_key = g.group_key AND n.state = 'pending'
				AND (n.claim_until IS NULL OR n.claim_until <= $1)
			RETURNING `+prefixed, now, c.Owner, now.Add(c.Lease), c.MaxGroups)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			n, err := scanNotification(rows)
			if err != nil {
				return err
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	ledger.SortNotifications(out)
	return out, nil
}

// raiseFence refuses a claim whose fence is below the highest seen and
// otherwise records it as the highest. The row lock orders concurrent
// claimers.
func raiseFence(ctx context.Context, tx pgx.Tx, c ledger.Claim, now time.Time) error {
	if _, err := tx.Exec(ctx, `INSERT INTO escalation_fence (id, fence, owner, at) VALUES (1, $1, $2, $3)
		ON CONFLICT (id) DO NOTHING`, c.Fence, c.Owner, plan.Time(now)); err != nil {
		return err
	}
	var (
		fence int64
		owner string
	)
	if err := tx.QueryRow(ctx, `SELECT fence, owner FROM escalation_fence WHERE id = 1 FOR UPDATE`).Scan(&fence, &owner); err != nil {
		return err
	}
	if record, err := plan.Fence(c, fence, owner, true); err != nil || !record {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE escalation_fence SET fence = $1, owner = $2, at = $3 WHERE id = 1`,
		c.Fence, c.Owner, plan.Time(now))
	return err
}

// ReleaseNotifications ends owner's claim on the pending notifications.
func (s *Store) ReleaseNotifications(ctx context.Context, keys []string, owner string) error {
	if len(keys) == 0 {
		return nil
	}
	return s.tx(ctx, "release notifications", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE notifications SET claimed_by = '', claim_until = NULL
			WHERE id = ANY($1::text[]) AND claimed_by = $2 AND state = 'pending'`, keys, owner)
		return err
	})
}

// Fence returns the highest claim fence and its owner.
func (s *Store) Fence(ctx context.Context) (int64, string, error) {
	if s.closed.Load() {
		return 0, "", ledger.ErrClosed
	}
	var (
		fence int64
		owner string
	)
	err := s.pool.QueryRow(ctx, `SELECT fence, owner FROM escalation_fence WHERE id = 1`).Scan(&fence, &owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", s.wrap("fence", err)
	}
	return fence, owner, nil
}

// FinishNotifications records an attempt on notifications owner claimed.
func (s *Store) FinishNotifications(ctx context.Context, keys []string, owner string, a ledger.Attempt) error {
	if len(keys) == 0 {
		return nil
	}
	now := plan.Time(s.now())
	at := plan.OrNow(a.At, now)
	return s.tx(ctx, "finish notifications", func(tx pgx.Tx) error {
		var (
			q    string
			args []any
		)
		outcome, kind := plan.AttemptOutcome(a)
		switch outcome {
		case plan.Sent:
			q = `UPDATE notifications SET state = 'sent', attempts = attempts + 1, sent_at = $3, last_error = '',
				claimed_by = '', claim_until = NULL`
			args = []any{at}
		case plan.Retry:
			q = `UPDATE notifications SET attempts = attempts + 1, last_error = $3, not_before = $4,
				claimed_by = '', claim_until = NULL`
			args = []any{a.Err, a.RetryAt}
		default:
			q = `UPDATE notifications SET state = 'failed', attempts = attempts + 1, last_error = $3,
				claimed_by = '', claim_until = NULL`
			args = []any{a.Err}
		}
		q += ` WHERE id = ANY($1::text[]) AND claimed_by = $2 AND state = 'pending' RETURNING incident_id`
		rows, err := tx.Query(ctx, q, append([]any{keys, owner}, args...)...)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		incs := plan.Distinct(ids)
		if len(incs) == 0 {
			return nil
		}
		// One entry per incident, set-based: bump last_seq and append.
		_, err = tx.Exec(ctx, `WITH u AS (
				UPDATE incidents SET last_seq = last_seq + 1 WHERE id = ANY($1::bigint[])
				RETURNING id, last_seq, state, severity)
			INSERT INTO timeline (`+entryCols+`)
			SELECT id, last_seq, $2, $3, $4, $5, severity, state FROM u ORDER BY id`,
			incs, plan.Time(at), string(kind), a.By, a.Comment)
		return err
	})
}

// CancelNotifications cancels pending notifications of the incident.
func (s *Store) CancelNotifications(ctx context.Context, id int64, kinds ...string) (int, error) {
	if s.closed.Load() {
		return 0, ledger.ErrClosed
	}
	q := "UPDATE notifications SET state = 'cancelled', claimed_by = '', claim_until = NULL WHERE incident_id = $1 AND state = 'pending'"
	args := []any{id}
	if len(kinds) > 0 {
		q += " AND kind = ANY($2::text[])"
		args = append(args, kinds)
	}
	tag, err := s.pool.Exec(ctx, q, args...)
	if err != nil {
		return 0, s.wrap("cancel notifications", err)
	}
	return int(tag.RowsAffected()), nil
}

// Notifications returns the incident's notifications, oldest first.
func (s *Store) Notifications(ctx context.Context, id int64) ([]ledger.Notification, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	rows, err := s.pool.Query(ctx, "SELECT "+notifCols+" FROM notifications WHERE incident_id = $1 ORDER BY pos", id)
	if err != nil {
		return nil, s.wrap("notifications", err)
	}
	defer rows.Close()
	var out []ledger.Notification
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, s.wrap("notifications", err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("notifications", err)
	}
	return out, nil
}

// AddMaintenance stores a new window.
func (s *Store) AddMaintenance(ctx context.Context, m ledger.Maintenance) (ledger.Maintenance, error) {
	if err := m.Validate(); err != nil {
		return m, err
	}
	if s.closed.Load() {
		return m, ledger.ErrClosed
	}
	m.CreatedAt = plan.Time(s.now())
	m.Start = plan.Time(m.Start)
	if m.End != nil {
		e := plan.Time(*m.End)
		m.End = &e
	}
	m.EndedAt, m.EndedBy = nil, ""
	err := s.pool.QueryRow(ctx, `INSERT INTO maintenance (name, scope, pattern, start_at, end_at, cron, duration,
		time_zone, comment, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
		m.Name, m.Scope, m.Match, m.Start, m.End, m.Cron, m.Duration.Microseconds(), m.TimeZone, m.Comment,
		m.CreatedBy, m.CreatedAt).Scan(&m.ID)
	if err != nil {
		return m, s.wrap("add maintenance", err)
	}
	return m, nil
}

// Maintenances returns every window by id.
func (s *Store) Maintenances(ctx context.Context) ([]ledger.Maintenance, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	rows, err := s.pool.Query(ctx, "SELECT "+maintCols+" FROM maintenance ORDER BY id")
	if err != nil {
		return nil, s.wrap("maintenances", err)
	}
	defer rows.Close()
	var out []ledger.Maintenance
	for rows.Next() {
		m, err := scanMaintenance(rows)
		if err != nil {
			return nil, s.wrap("maintenances", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("maintenances", err)
	}
	return out, nil
}

// EndMaintenance ends a window at at.
func (s *Store) EndMaintenance(ctx context.Context, id int64, by string, at time.Time) (ledger.Maintenance, error) {
	var m ledger.Maintenance
	if at.IsZero() {
		at = s.now()
	}
	err := s.tx(ctx, fmt.Sprintf("end maintenance %d", id), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "UPDATE maintenance SET ended_at = $1, ended_by = $2 WHERE id = $3 AND ended_at IS NULL",
			plan.Time(at), by, id); err != nil {
			return err
		}
		var err error
		m, err = scanMaintenance(tx.QueryRow(ctx, "SELECT "+maintCols+" FROM maintenance WHERE id = $1", id))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("maintenance %d: %w", id, incident.ErrNotFound)
		}
		return err
	})
	return m, err
}

// SetReport writes the fault report of a resolved or closed incident.
func (s *Store) SetReport(ctx context.Context, r ledger.Report) (ledger.Report, incident.Entry, error) {
	if err := r.Validate(); err != nil {
		return r, incident.Entry{}, err
	}
	now := plan.Time(s.now())
	if r.At.IsZero() {
		r.At = now
	}
	r.At = plan.Time(r.At)
	var e incident.Entry
	err := s.tx(ctx, fmt.Sprintf("report %d", r.IncidentID), func(tx pgx.Tx) error {
		var state string
		err := tx.QueryRow(ctx, "SELECT state FROM incidents WHERE id = $1 FOR NO KEY UPDATE", r.IncidentID).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("incident %d: %w", r.IncidentID, incident.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if st := incident.State(state); st != incident.Resolved && st != incident.Closed {
			return fmt.Errorf("%w: a fault report is written once the incident is resolved (it is %s)", incident.ErrInvalidTransition, st)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO reports (incident_id, cause, action, prevention, reported_by, role, at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (incident_id) DO UPDATE SET cause = excluded.cause,
			action = excluded.action, prevention = excluded.prevention, reported_by = excluded.reported_by,
			role = excluded.role, at = excluded.at`,
			r.IncidentID, r.Cause, r.Action, r.Prevention, r.ReportedBy, r.Role, r.At); err != nil {
			return err
		}
		comment := "fault report by " + r.ReportedBy
		if r.Role != "" {
			comment += " (" + r.Role + ")"
		}
		e, err = appendNote(ctx, tx, ledger.Note{IncidentID: r.IncidentID, Kind: incident.KindReported, By: r.ReportedBy,
			Comment: comment, At: r.At}, now)
		return err
	})
	return r, e, err
}

// Report returns the incident's fault report.
func (s *Store) Report(ctx context.Context, id int64) (ledger.Report, error) {
	if s.closed.Load() {
		return ledger.Report{}, ledger.ErrClosed
	}
	var r ledger.Report
	err := s.pool.QueryRow(ctx, `SELECT incident_id, cause, action, prevention, reported_by, role, at
		FROM reports WHERE incident_id = $1`, id).Scan(&r.IncidentID, &r.Cause, &r.Action, &r.Prevention, &r.ReportedBy, &r.Role, &r.At)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("postgres ledger: report %d: %w", id, incident.ErrNotFound)
	}
	if err != nil {
		return r, s.wrap("report", err)
	}
	r.At = r.At.UTC()
	return r, nil
}

func scanEscalation(r pgx.Row) (ledger.Escalation, error) {
	var (
		e                            ledger.Escalation
		state                        string
		cycle, rep, step, level, seq int32
		flaps                        int32
	)
	err := r.Scan(&e.IncidentID, &e.Policy, &e.Snapshot, &state, &e.Reason, &cycle, &rep, &step, &level,
		&e.NextAt, &seq, &flaps, &e.FlapSince, &e.Flapping, &e.Version, &e.CreatedAt, &e.UpdatedAt)
	if err != nil {
		return ledger.Escalation{}, err
	}
	e.State = ledger.EscalationState(state)
	e.Cycle, e.Repeat, e.Step, e.Level, e.LastSeq, e.Flaps = int(cycle), int(rep), int(step), int(level), int(seq), int(flaps)
	e.NextAt, e.FlapSince = utc(e.NextAt), utc(e.FlapSince)
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return e, nil
}

func scanNotification(r pgx.Row) (ledger.Notification, error) {
	var (
		n               ledger.Notification
		state           string
		level, attempts int32
	)
	err := r.Scan(&n.Key, &n.IncidentID, &n.GroupKey, &n.Kind, &n.Channel, &n.Destination, &n.Role, &level, &state,
		&attempts, &n.NotBefore, &n.ClaimedBy, &n.ClaimUntil, &n.LastError, &n.CreatedAt, &n.SentAt)
	if err != nil {
		return n, err
	}
	n.State = ledger.NotificationState(state)
	n.Level, n.Attempts = int(level), int(attempts)
	n.NotBefore, n.CreatedAt = n.NotBefore.UTC(), n.CreatedAt.UTC()
	n.ClaimUntil, n.SentAt = utc(n.ClaimUntil), utc(n.SentAt)
	return n, nil
}

func scanMaintenance(r pgx.Row) (ledger.Maintenance, error) {
	var (
		m   ledger.Maintenance
		dur int64
	)
	err := r.Scan(&m.ID, &m.Name, &m.Scope, &m.Match, &m.Start, &m.End, &m.Cron, &dur, &m.TimeZone, &m.Comment,
		&m.CreatedBy, &m.CreatedAt, &m.EndedAt, &m.EndedBy)
	if err != nil {
		return m, err
	}
	m.Start, m.CreatedAt = m.Start.UTC(), m.CreatedAt.UTC()
	m.End, m.EndedAt = utc(m.End), utc(m.EndedAt)
	m.Duration = time.Duration(dur) * time.Microsecond
	return m, nil
}
