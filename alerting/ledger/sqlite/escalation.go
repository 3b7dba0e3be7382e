package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

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

// writeTx runs fn in a write transaction.
func (s *Store) writeTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	if s.closed.Load() {
		return ledger.ErrClosed
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap(op, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		var fe *incident.FieldError
		switch {
		case errors.As(err, &fe):
			return err
		case plan.Domain(err):
			return fmt.Errorf("sqlite ledger: %s: %w", op, err)
		}
		return s.wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// StartEscalation inserts e unless the incident has an escalation.
func (s *Store) StartEscalation(ctx context.Context, e ledger.Escalation) (ledger.Escalation, bool, error) {
	var (
		out     ledger.Escalation
		created bool
	)
	now := plan.Time(s.now())
	err := s.writeTx(ctx, "start escalation", func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `INSERT INTO escalations (`+escCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (incident_id) DO NOTHING`,
			e.IncidentID, e.Policy, string(e.Snapshot), e.State, e.Reason, e.Cycle, e.Repeat, e.Step, e.Level,
			nullMicros(e.NextAt), e.LastSeq, e.Flaps, nullMicros(e.FlapSince), e.Flapping, micros(now), micros(now))
		if err != nil {
			if strings.Contains(err.Error(), "FOREIGN KEY") {
				return fmt.Errorf("incident %d: %w", e.IncidentID, incident.ErrNotFound)
			}
			return err
		}
		n, _ := r.RowsAffected()
		created = n == 1
		out, err = scanEscalation(tx.QueryRowContext(ctx, "SELECT "+escCols+" FROM escalations WHERE incident_id = ?", e.IncidentID))
		return err
	})
	return out, created, err
}

// Escalation returns the incident's escalation.
func (s *Store) Escalation(ctx context.Context, id int64) (ledger.Escalation, error) {
	if s.closed.Load() {
		return ledger.Escalation{}, ledger.ErrClosed
	}
	e, err := scanEscalation(s.r.QueryRowContext(ctx, "SELECT "+escCols+" FROM escalations WHERE incident_id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("sqlite ledger: escalation %d: %w", id, incident.ErrNotFound)
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
	rows, err := s.r.QueryContext(ctx, "SELECT "+escCols+` FROM escalations WHERE next_at IS NOT NULL AND next_at <= ?
		ORDER BY next_at, incident_id LIMIT ?`, micros(now), limit)
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
	err := s.writeTx(ctx, fmt.Sprintf("update escalation %d", e.IncidentID), func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE escalations SET state = ?, reason = ?, cycle = ?, rep = ?, step = ?,
			level = ?, next_at = ?, last_seq = ?, flaps = ?, flap_since = ?, flapping = ?, version = version + 1,
			updated_at = ? WHERE incident_id = ? AND version = ?`,
			e.State, e.Reason, e.Cycle, e.Repeat, e.Step, e.Level, nullMicros(e.NextAt), e.LastSeq, e.Flaps,
			nullMicros(e.FlapSince), e.Flapping, micros(now), e.IncidentID, e.Version)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n != 1 {
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
		out, err = scanEscalation(tx.QueryRowContext(ctx, "SELECT "+escCols+" FROM escalations WHERE incident_id = ?", e.IncidentID))
		return err
	})
	return out, err
}

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

// appendNote appends one system entry; only the write connection calls it.
func appendNote(ctx context.Context, tx *sql.Tx, n ledger.Note, now time.Time) (incident.Entry, error) {
	if err := plan.CheckNote(n); err != nil {
		return incident.Entry{}, err
	}
	var (
		seq        int
		state, sev string
	)
	err := tx.QueryRowContext(ctx, "UPDATE incidents SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq, state, severity",
		n.IncidentID).Scan(&seq, &state, &sev)
	if errors.Is(err, sql.ErrNoRows) {
		return incident.Entry{}, plan.NoIncident(n.IncidentID)
	}
	if err != nil {
		return incident.Entry{}, err
	}
	e := plan.NoteEntry(n, seq, state, sev, now)
	return e, insertEntries(ctx, tx, []incident.Entry{e})
}

// Note appends a system entry to the incident's timeline.
func (s *Store) Note(ctx context.Context, id int64, n ledger.Note) (incident.Entry, error) {
	n.IncidentID = id
	var e incident.Entry
	err := s.writeTx(ctx, fmt.Sprintf("note %d", id), func(tx *sql.Tx) error {
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
	var out []ledger.Notification
	err := s.writeTx(ctx, "claim notifications", func(tx *sql.Tx) error {
		if err := raiseFence(ctx, tx, c, s.now()); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT group_key FROM notifications WHERE state = 'pending'
			AND not_before <= ? AND (claim_until IS NULL OR claim_until <= ?) LIMIT ?`, micros(now), micros(now), c.MaxGroups)
		if err != nil {
			return err
		}
		var groups []any
		for rows.Next() {
			var g string
			if err := rows.Scan(&g); err != nil {
				rows.Close()
				return err
			}
			groups = append(groups, g)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if len(groups) == 0 {
			return nil
		}
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(groups)), ", ")
		args := append([]any{c.Owner, micros(now.Add(c.Lease)), micros(now)}, groups...)
		rows, err = tx.QueryContext(ctx, `UPDATE notifications SET claimed_by = ?, claim_until = ?
			WHERE state = 'pending' AND (claim_until IS NULL OR claim_until <= ?) AND group_key IN (`+ph+`)
			RETURNING `+notifCols, args...)
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
// otherwise records it as the highest.
func raiseFence(ctx context.Context, tx *sql.Tx, c ledger.Claim, now time.Time) error {
	var (
		fence int64
		owner string
	)
	err := tx.QueryRowContext(ctx, `SELECT fence, owner FROM escalation_fence WHERE id = 1`).Scan(&fence, &owner)
	found := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if record, err := plan.Fence(c, fence, owner, found); err != nil || !record {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO escalation_fence (id, fence, owner, at) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET fence = excluded.fence, owner = excluded.owner, at = excluded.at`,
		c.Fence, c.Owner, micros(now))
	return err
}

// ReleaseNotifications ends owner's claim on the pending notifications.
func (s *Store) ReleaseNotifications(ctx context.Context, keys []string, owner string) error {
	if len(keys) == 0 {
		return nil
	}
	return s.writeTx(ctx, "release notifications", func(tx *sql.Tx) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `UPDATE notifications SET claimed_by = '', claim_until = NULL
				WHERE id = ? AND claimed_by = ? AND state = 'pending'`, k, owner); err != nil {
				return err
			}
		}
		return nil
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
	err := s.r.QueryRowContext(ctx, `SELECT fence, owner FROM escalation_fence WHERE id = 1`).Scan(&fence, &owner)
	if errors.Is(err, sql.ErrNoRows) {
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
	return s.writeTx(ctx, "finish notifications", func(tx *sql.Tx) error {
		var (
			q    string
			args []any
		)
		outcome, kind := plan.AttemptOutcome(a)
		switch outcome {
		case plan.Sent:
			q = `UPDATE notifications SET state = 'sent', attempts = attempts + 1, sent_at = ?, last_error = '',
				claimed_by = '', claim_until = NULL WHERE id = ? AND claimed_by = ? AND state = 'pending' RETURNING incident_id`
			args = []any{micros(plan.OrNow(a.At, now))}
		case plan.Retry:
			q = `UPDATE notifications SET attempts = attempts + 1, last_error = ?, not_before = ?,
				claimed_by = '', claim_until = NULL WHERE id = ? AND claimed_by = ? AND state = 'pending' RETURNING incident_id`
			args = []any{a.Err, micros(a.RetryAt)}
		default:
			q = `UPDATE notifications SET state = 'failed', attempts = attempts + 1, last_error = ?,
				claimed_by = '', claim_until = NULL WHERE id = ? AND claimed_by = ? AND state = 'pending' RETURNING incident_id`
			args = []any{a.Err}
		}
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		defer st.Close()
		var ids []int64
		for _, k := range keys {
			var id int64
			err := st.QueryRowContext(ctx, append(append([]any{}, args...), k, owner)...).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				continue // no longer ours
			}
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		for _, id := range plan.Distinct(ids) {
			if _, err := appendNote(ctx, tx, ledger.Note{IncidentID: id, Kind: kind, By: a.By, Comment: a.Comment, At: a.At}, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// CancelNotifications cancels pending notifications of the incident.
func (s *Store) CancelNotifications(ctx context.Context, id int64, kinds ...string) (int, error) {
	var n int64
	err := s.writeTx(ctx, "cancel notifications", func(tx *sql.Tx) error {
		q := "UPDATE notifications SET state = 'cancelled', claimed_by = '', claim_until = NULL WHERE incident_id = ? AND state = 'pending'"
		args := []any{id}
		if len(kinds) > 0 {
			q += " AND kind IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(kinds)), ", ") + ")"
			for _, k := range kinds {
				args = append(args, k)
			}
		}
		r, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	return int(n), err
}

// Notifications returns the incident's notifications, oldest first.
func (s *Store) Notifications(ctx context.Context, id int64) ([]ledger.Notification, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	rows, err := s.r.QueryContext(ctx, "SELECT "+notifCols+" FROM notifications WHERE incident_id = ? ORDER BY pos", id)
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
	m.CreatedAt = plan.Time(s.now())
	m.Start = plan.Time(m.Start)
	if m.End != nil {
		e := plan.Time(*m.End)
		m.End = &e
	}
	m.EndedAt, m.EndedBy = nil, ""
	err := s.writeTx(ctx, "add maintenance", func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `INSERT INTO maintenance (name, scope, pattern, start_at, end_at, cron, duration,
			time_zone, comment, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.Name, m.Scope, m.Match, micros(m.Start), nullMicros(m.End), m.Cron, m.Duration.Microseconds(),
			m.TimeZone, m.Comment, m.CreatedBy, micros(m.CreatedAt))
		if err != nil {
			return err
		}
		m.ID, err = r.LastInsertId()
		return err
	})
	return m, err
}

// Maintenances returns every window by id.
func (s *Store) Maintenances(ctx context.Context) ([]ledger.Maintenance, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	rows, err := s.r.QueryContext(ctx, "SELECT "+maintCols+" FROM maintenance ORDER BY id")
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
	err := s.writeTx(ctx, fmt.Sprintf("end maintenance %d", id), func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE maintenance SET ended_at = ?, ended_by = ? WHERE id = ? AND ended_at IS NULL",
			micros(plan.Time(at)), by, id); err != nil {
			return err
		}
		var err error
		m, err = scanMaintenance(tx.QueryRowContext(ctx, "SELECT "+maintCols+" FROM maintenance WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
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
	err := s.writeTx(ctx, fmt.Sprintf("report %d", r.IncidentID), func(tx *sql.Tx) error {
		var state string
		err := tx.QueryRowContext(ctx, "SELECT state FROM incidents WHERE id = ?", r.IncidentID).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("incident %d: %w", r.IncidentID, incident.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if st := incident.State(state); st != incident.Resolved && st != incident.Closed {
			return fmt.Errorf("%w: a fault report is written once the incident is resolved (it is %s)", incident.ErrInvalidTransition, st)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO reports (incident_id, cause, action, prevention, reported_by, role, at)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (incident_id) DO UPDATE SET cause = excluded.cause,
			action = excluded.action, prevention = excluded.prevention, reported_by = excluded.reported_by,
			role = excluded.role, at = excluded.at`,
			r.IncidentID, r.Cause, r.Action, r.Prevention, r.ReportedBy, r.Role, micros(r.At)); err != nil {
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
	var (
		r  ledger.Report
		at int64
	)
	err := s.r.QueryRowContext(ctx, `SELECT incident_id, cause, action, prevention, reported_by, role, at
		FROM reports WHERE incident_id = ?`, id).Scan(&r.IncidentID, &r.Cause, &r.Action, &r.Prevention, &r.ReportedBy, &r.Role, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("sqlite ledger: report %d: %w", id, incident.ErrNotFound)
	}
	if err != nil {
		return r, s.wrap("report", err)
	}
	r.At = fromMicros(at)
	return r, nil
}

func scanEscalation(r scanner) (ledger.Escalation, error) {
	var (
		e                 ledger.Escalation
		snap              string
		nextAt, flapSince sql.NullInt64
		created, updated  int64
		state             string
	)
	err := r.Scan(&e.IncidentID, &e.Policy, &snap, &state, &e.Reason, &e.Cycle, &e.Repeat, &e.Step, &e.Level,
		&nextAt, &e.LastSeq, &e.Flaps, &flapSince, &e.Flapping, &e.Version, &created, &updated)
	if err != nil {
		return ledger.Escalation{}, err
	}
	e.Snapshot = []byte(snap)
	e.State = ledger.EscalationState(state)
	e.NextAt, e.FlapSince = ptrMicros(nextAt), ptrMicros(flapSince)
	e.CreatedAt, e.UpdatedAt = fromMicros(created), fromMicros(updated)
	return e, nil
}

func scanNotification(r scanner) (ledger.Notification, error) {
	var (
		n                  ledger.Notification
		state              string
		notBefore, created int64
		claimUntil, sentAt sql.NullInt64
	)
	err := r.Scan(&n.Key, &n.IncidentID, &n.GroupKey, &n.Kind, &n.Channel, &n.Destination, &n.Role, &n.Level, &state,
		&n.Attempts, &notBefore, &n.ClaimedBy, &claimUntil, &n.LastError, &created, &sentAt)
	if err != nil {
		return n, err
	}
	n.State = ledger.NotificationState(state)
	n.NotBefore, n.CreatedAt = fromMicros(notBefore), fromMicros(created)
	n.ClaimUntil, n.SentAt = ptrMicros(claimUntil), ptrMicros(sentAt)
	return n, nil
}

func scanMaintenance(r scanner) (ledger.Maintenance, error) {
	var (
		m              ledger.Maintenance
		start, created int64
		dur            int64
		end, ended     sql.NullInt64
	)
	err := r.Scan(&m.ID, &m.Name, &m.Scope, &m.Match, &start, &end, &m.Cron, &dur, &m.TimeZone, &m.Comment,
		&m.CreatedBy, &created, &ended, &m.EndedBy)
	if err != nil {
		return m, err
	}
	m.Start, m.CreatedAt = fromMicros(start), fromMicros(created)
	m.End, m.EndedAt = ptrMicros(end), ptrMicros(ended)
	m.Duration = time.Duration(dur) * time.Microsecond
	return m, nil
}
