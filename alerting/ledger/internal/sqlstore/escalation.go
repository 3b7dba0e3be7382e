package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
)

const defaultLimit = 1000

// EscCols, NotifCols and MaintCols are the columns scanEscalation,
// scanNotification and scanMaintenance read, in order.
const (
	EscCols = `incident_id, policy, snapshot, state, reason, cycle, rep, step, level, next_at, last_seq,
	flaps, flap_since, flapping, version, created_at, updated_at`

	NotifCols = `id, incident_id, group_key, kind, channel, destination, role, level, state, attempts,
	not_before, claimed_by, claim_until, last_error, created_at, sent_at`

	MaintCols = `id, name, scope, pattern, start_at, end_at, cron, duration, time_zone, comment, created_by,
	created_at, ended_at, ended_by`
)

// StartEscalation inserts e unless the incident has an escalation.
func (c *Core) StartEscalation(ctx context.Context, e ledger.Escalation) (ledger.Escalation, bool, error) {
	var (
		out     ledger.Escalation
		created bool
	)
	now := plan.Time(c.now())
	d := c.d
	err := c.writeTx(ctx, "start escalation", func(tx DB) error {
		n, err := tx.Exec(ctx, `INSERT INTO escalations (`+EscCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (incident_id) DO NOTHING`,
			e.IncidentID, e.Policy, d.JSON(e.Snapshot), string(e.State), e.Reason, e.Cycle, e.Repeat, e.Step, e.Level,
			d.NullTime(e.NextAt), e.LastSeq, e.Flaps, d.NullTime(e.FlapSince), e.Flapping, d.Time(now), d.Time(now))
		if err != nil {
			if d.ForeignKey(err) {
				return fmt.Errorf("incident %d: %w", e.IncidentID, incident.ErrNotFound)
			}
			return err
		}
		created = n == 1
		out, err = c.scanEscalation(tx.QueryRow(ctx, "SELECT "+EscCols+" FROM escalations WHERE incident_id = ?", e.IncidentID))
		return err
	})
	return out, created, err
}

// Escalation returns the incident's escalation.
func (c *Core) Escalation(ctx context.Context, id int64) (ledger.Escalation, error) {
	if c.closed.Load() {
		return ledger.Escalation{}, ledger.ErrClosed
	}
	e, err := c.scanEscalation(c.read.QueryRow(ctx, "SELECT "+EscCols+" FROM escalations WHERE incident_id = ?", id))
	if c.d.NoRows(err) {
		return e, c.errorf(fmt.Sprintf("escalation %d", id), incident.ErrNotFound)
	}
	if err != nil {
		return e, c.wrap("escalation", err)
	}
	return e, nil
}

// DueEscalations returns escalations whose NextAt has come, earliest first.
func (c *Core) DueEscalations(ctx context.Context, now time.Time, limit int) ([]ledger.Escalation, error) {
	if c.closed.Load() {
		return nil, ledger.ErrClosed
	}
	if limit <= 0 {
		limit = defaultLimit
	}
	rows, err := c.read.Query(ctx, "SELECT "+EscCols+` FROM escalations WHERE next_at IS NOT NULL AND next_at <= ?
		ORDER BY next_at, incident_id LIMIT ?`, c.d.Time(now), limit)
	out, err := collect(rows, err, c.scanEscalation)
	return out, c.wrapNil("due escalations", err)
}

// UpdateEscalation writes e if its version is current, with notifications
// and notes, in one transaction.
func (c *Core) UpdateEscalation(ctx context.Context, e ledger.Escalation, ns []ledger.Notification, notes []ledger.Note) (ledger.Escalation, error) {
	now := plan.Time(c.now())
	d := c.d
	var out ledger.Escalation
	err := c.writeTx(ctx, fmt.Sprintf("update escalation %d", e.IncidentID), func(tx DB) error {
		n, err := tx.Exec(ctx, `UPDATE escalations SET state = ?, reason = ?, cycle = ?, rep = ?, step = ?,
			level = ?, next_at = ?, last_seq = ?, flaps = ?, flap_since = ?, flapping = ?, version = version + 1,
			updated_at = ? WHERE incident_id = ? AND version = ?`,
			string(e.State), e.Reason, e.Cycle, e.Repeat, e.Step, e.Level, d.NullTime(e.NextAt), e.LastSeq, e.Flaps,
			d.NullTime(e.FlapSince), e.Flapping, d.Time(now), e.IncidentID, e.Version)
		if err != nil {
			return err
		}
		if n != 1 {
			return plan.Conflict(e.Version)
		}
		if len(ns) > 0 {
			if err := c.bulk.InsertNotifications(ctx, tx, ns, now); err != nil {
				return err
			}
		}
		for _, n := range notes {
			if n.IncidentID == 0 {
				n.IncidentID = e.IncidentID
			}
			if _, err := c.appendNote(ctx, tx, n, now); err != nil {
				return err
			}
		}
		out, err = c.scanEscalation(tx.QueryRow(ctx, "SELECT "+EscCols+" FROM escalations WHERE incident_id = ?", e.IncidentID))
		return err
	})
	return out, err
}

// appendNote appends one system entry to n's incident inside the write
// transaction tx.
func (c *Core) appendNote(ctx context.Context, tx DB, n ledger.Note, now time.Time) (incident.Entry, error) {
	return AppendNote(ctx, c.d, c.bulk, tx, n, now)
}

// AppendNote appends one system entry to n's incident inside the write
// transaction tx, for a store's own code.
func AppendNote(ctx context.Context, d Dialect, b Bulk, tx DB, n ledger.Note, now time.Time) (incident.Entry, error) {
	if err := plan.CheckNote(n); err != nil {
		return incident.Entry{}, err
	}
	var (
		seq        int
		state, sev string
	)
	err := tx.QueryRow(ctx, "UPDATE incidents SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq, state, severity",
		n.IncidentID).Scan(&seq, &state, &sev)
	if d.NoRows(err) {
		return incident.Entry{}, plan.NoIncident(n.IncidentID)
	}
	if err != nil {
		return incident.Entry{}, err
	}
	e := plan.NoteEntry(n, seq, state, sev, now)
	return e, b.InsertEntries(ctx, tx, []incident.Entry{e})
}

// Note appends a system entry to the incident's timeline.
func (c *Core) Note(ctx context.Context, id int64, n ledger.Note) (incident.Entry, error) {
	n.IncidentID = id
	var e incident.Entry
	err := c.writeTx(ctx, fmt.Sprintf("note %d", id), func(tx DB) error {
		var err error
		e, err = c.appendNote(ctx, tx, n, c.now())
		return err
	})
	return e, err
}

// ClaimNotifications leases due notification groups to c.Owner, unless a
// higher fence has claimed before.
func (c *Core) ClaimNotifications(ctx context.Context, cl ledger.Claim) ([]ledger.Notification, error) {
	if cl.MaxGroups <= 0 {
		cl.MaxGroups = plan.DefaultMaxGroups
	}
	now := c.d.Time(cl.Now)
	var out []ledger.Notification
	err := c.writeTx(ctx, "claim notifications", func(tx DB) error {
		if err := c.raiseFence(ctx, tx, cl); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE notifications SET claimed_by = ?, claim_until = ?
			WHERE state = 'pending' AND (claim_until IS NULL OR claim_until <= ?) AND group_key IN (
				SELECT DISTINCT group_key FROM notifications
				WHERE state = 'pending' AND not_before <= ? AND (claim_until IS NULL OR claim_until <= ?)
				LIMIT ?)
			RETURNING `+NotifCols, cl.Owner, c.d.Time(cl.Now.Add(cl.Lease)), now, now, now, cl.MaxGroups)
		out, err = collect(rows, err, c.scanNotification)
		return err
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
func (c *Core) raiseFence(ctx context.Context, tx DB, cl ledger.Claim) error {
	at := c.d.Time(plan.Time(c.now()))
	if _, err := tx.Exec(ctx, `INSERT INTO escalation_fence (id, fence, owner, at) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, cl.Fence, cl.Owner, at); err != nil {
		return err
	}
	var (
		fence int64
		owner string
	)
	if err := tx.QueryRow(ctx, `SELECT fence, owner FROM escalation_fence WHERE id = 1`+c.d.ForUpdate()).Scan(&fence, &owner); err != nil {
		return err
	}
	if record, err := plan.Fence(cl, fence, owner, true); err != nil || !record {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE escalation_fence SET fence = ?, owner = ?, at = ? WHERE id = 1`, cl.Fence, cl.Owner, at)
	return err
}

// ReleaseNotifications ends owner's claim on the pending notifications.
func (c *Core) ReleaseNotifications(ctx context.Context, keys []string, owner string) error {
	if len(keys) == 0 {
		return nil
	}
	in, args := c.d.InStrings("id", keys)
	return c.writeTx(ctx, "release notifications", func(tx DB) error {
		_, err := tx.Exec(ctx, `UPDATE notifications SET claimed_by = '', claim_until = NULL
			WHERE `+in+` AND claimed_by = ? AND state = 'pending'`, append(args, owner)...)
		return err
	})
}

// Fence returns the highest claim fence and its owner.
func (c *Core) Fence(ctx context.Context) (int64, string, error) {
	if c.closed.Load() {
		return 0, "", ledger.ErrClosed
	}
	var (
		fence int64
		owner string
	)
	err := c.read.QueryRow(ctx, `SELECT fence, owner FROM escalation_fence WHERE id = 1`).Scan(&fence, &owner)
	if c.d.NoRows(err) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", c.wrap("fence", err)
	}
	return fence, owner, nil
}

// FinishNotifications records an attempt on notifications owner claimed.
func (c *Core) FinishNotifications(ctx context.Context, keys []string, owner string, a ledger.Attempt) error {
	if len(keys) == 0 {
		return nil
	}
	now := plan.Time(c.now())
	d := c.d
	var (
		q    string
		args []any
	)
	outcome, kind := plan.AttemptOutcome(a)
	switch outcome {
	case plan.Sent:
		q = `UPDATE notifications SET state = 'sent', attempts = attempts + 1, sent_at = ?, last_error = '',
			claimed_by = '', claim_until = NULL`
		args = []any{d.Time(plan.OrNow(a.At, now))}
	case plan.Retry:
		q = `UPDATE notifications SET attempts = attempts + 1, last_error = ?, not_before = ?,
			claimed_by = '', claim_until = NULL`
		args = []any{a.Err, d.Time(a.RetryAt)}
	default:
		q = `UPDATE notifications SET state = 'failed', attempts = attempts + 1, last_error = ?,
			claimed_by = '', claim_until = NULL`
		args = []any{a.Err}
	}
	in, inArgs := d.InStrings("id", keys)
	q += ` WHERE ` + in + ` AND claimed_by = ? AND state = 'pending' RETURNING incident_id`
	args = append(append(args, inArgs...), owner)
	return c.writeTx(ctx, "finish notifications", func(tx DB) error {
		rows, err := tx.Query(ctx, q, args...)
		ids, err := collect(rows, err, func(r Row) (id int64, err error) { return id, r.Scan(&id) })
		if err != nil {
			return err
		}
		for _, id := range plan.Distinct(ids) {
			if _, err := c.appendNote(ctx, tx, ledger.Note{IncidentID: id, Kind: kind, By: a.By, Comment: a.Comment, At: a.At}, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// CancelNotifications cancels pending notifications of the incident.
func (c *Core) CancelNotifications(ctx context.Context, id int64, kinds ...string) (int, error) {
	q := "UPDATE notifications SET state = 'cancelled', claimed_by = '', claim_until = NULL WHERE incident_id = ? AND state = 'pending'"
	args := []any{id}
	if len(kinds) > 0 {
		in, inArgs := c.d.InStrings("kind", kinds)
		q += " AND " + in
		args = append(args, inArgs...)
	}
	var n int64
	err := c.writeTx(ctx, "cancel notifications", func(tx DB) error {
		var err error
		n, err = tx.Exec(ctx, q, args...)
		return err
	})
	return int(n), err
}

// Notifications returns the incident's notifications, oldest first.
func (c *Core) Notifications(ctx context.Context, id int64) ([]ledger.Notification, error) {
	if c.closed.Load() {
		return nil, ledger.ErrClosed
	}
	rows, err := c.read.Query(ctx, "SELECT "+NotifCols+" FROM notifications WHERE incident_id = ? ORDER BY pos", id)
	out, err := collect(rows, err, c.scanNotification)
	return out, c.wrapNil("notifications", err)
}

// AddMaintenance stores a new window.
func (c *Core) AddMaintenance(ctx context.Context, m ledger.Maintenance) (ledger.Maintenance, error) {
	if err := m.Validate(); err != nil {
		return m, err
	}
	m.CreatedAt = plan.Time(c.now())
	m.Start = plan.Time(m.Start)
	if m.End != nil {
		e := plan.Time(*m.End)
		m.End = &e
	}
	m.EndedAt, m.EndedBy = nil, ""
	d := c.d
	err := c.writeTx(ctx, "add maintenance", func(tx DB) error {
		return tx.QueryRow(ctx, `INSERT INTO maintenance (name, scope, pattern, start_at, end_at, cron, duration,
			time_zone, comment, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			m.Name, m.Scope, m.Match, d.Time(m.Start), d.NullTime(m.End), m.Cron, m.Duration.Microseconds(),
			m.TimeZone, m.Comment, m.CreatedBy, d.Time(m.CreatedAt)).Scan(&m.ID)
	})
	return m, err
}

// Maintenances returns every window by id.
func (c *Core) Maintenances(ctx context.Context) ([]ledger.Maintenance, error) {
	if c.closed.Load() {
		return nil, ledger.ErrClosed
	}
	rows, err := c.read.Query(ctx, "SELECT "+MaintCols+" FROM maintenance ORDER BY id")
	out, err := collect(rows, err, c.scanMaintenance)
	return out, c.wrapNil("maintenances", err)
}

// EndMaintenance ends a window at at.
func (c *Core) EndMaintenance(ctx context.Context, id int64, by string, at time.Time) (ledger.Maintenance, error) {
	var m ledger.Maintenance
	if at.IsZero() {
		at = c.now()
	}
	err := c.writeTx(ctx, fmt.Sprintf("end maintenance %d", id), func(tx DB) error {
		if _, err := tx.Exec(ctx, "UPDATE maintenance SET ended_at = ?, ended_by = ? WHERE id = ? AND ended_at IS NULL",
			c.d.Time(plan.Time(at)), by, id); err != nil {
			return err
		}
		var err error
		m, err = c.scanMaintenance(tx.QueryRow(ctx, "SELECT "+MaintCols+" FROM maintenance WHERE id = ?", id))
		if c.d.NoRows(err) {
			return fmt.Errorf("maintenance %d: %w", id, incident.ErrNotFound)
		}
		return err
	})
	return m, err
}

// SetReport writes the fault report of a resolved or closed incident.
func (c *Core) SetReport(ctx context.Context, r ledger.Report) (ledger.Report, incident.Entry, error) {
	if err := r.Validate(); err != nil {
		return r, incident.Entry{}, err
	}
	now := plan.Time(c.now())
	if r.At.IsZero() {
		r.At = now
	}
	r.At = plan.Time(r.At)
	var e incident.Entry
	err := c.writeTx(ctx, fmt.Sprintf("report %d", r.IncidentID), func(tx DB) error {
		var state string
		err := tx.QueryRow(ctx, "SELECT state FROM incidents WHERE id = ?"+c.d.ForUpdate(), r.IncidentID).Scan(&state)
		if c.d.NoRows(err) {
			return fmt.Errorf("incident %d: %w", r.IncidentID, incident.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if st := incident.State(state); st != incident.Resolved && st != incident.Closed {
			return fmt.Errorf("%w: a fault report is written once the incident is resolved (it is %s)", incident.ErrInvalidTransition, st)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO reports (incident_id, cause, action, prevention, reported_by, role, at)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (incident_id) DO UPDATE SET cause = excluded.cause,
			action = excluded.action, prevention = excluded.prevention, reported_by = excluded.reported_by,
			role = excluded.role, at = excluded.at`,
			r.IncidentID, r.Cause, r.Action, r.Prevention, r.ReportedBy, r.Role, c.d.Time(r.At)); err != nil {
			return err
		}
		comment := "fault report by " + r.ReportedBy
		if r.Role != "" {
			comment += " (" + r.Role + ")"
		}
		e, err = c.appendNote(ctx, tx, ledger.Note{IncidentID: r.IncidentID, Kind: incident.KindReported, By: r.ReportedBy,
			Comment: comment, At: r.At}, now)
		return err
	})
	return r, e, err
}

// Report returns the incident's fault report.
func (c *Core) Report(ctx context.Context, id int64) (ledger.Report, error) {
	if c.closed.Load() {
		return ledger.Report{}, ledger.ErrClosed
	}
	var r ledger.Report
	err := c.read.QueryRow(ctx, `SELECT incident_id, cause, action, prevention, reported_by, role, at
		FROM reports WHERE incident_id = ?`, id).Scan(&r.IncidentID, &r.Cause, &r.Action, &r.Prevention, &r.ReportedBy,
		&r.Role, c.d.ScanTime(&r.At))
	if c.d.NoRows(err) {
		return r, c.errorf(fmt.Sprintf("report %d", id), incident.ErrNotFound)
	}
	if err != nil {
		return r, c.wrap("report", err)
	}
	return r, nil
}

func (c *Core) scanEscalation(r Row) (ledger.Escalation, error) {
	var (
		e     ledger.Escalation
		state string
		snap  []byte
		d     = c.d
	)
	err := r.Scan(&e.IncidentID, &e.Policy, &snap, &state, &e.Reason, &e.Cycle, &e.Repeat, &e.Step, &e.Level,
		d.ScanNullTime(&e.NextAt), &e.LastSeq, &e.Flaps, d.ScanNullTime(&e.FlapSince), &e.Flapping, &e.Version,
		d.ScanTime(&e.CreatedAt), d.ScanTime(&e.UpdatedAt))
	if err != nil {
		return ledger.Escalation{}, err
	}
	e.State, e.Snapshot = ledger.EscalationState(state), snap
	return e, nil
}

func (c *Core) scanNotification(r Row) (ledger.Notification, error) {
	var (
		n     ledger.Notification
		state string
		d     = c.d
	)
	err := r.Scan(&n.Key, &n.IncidentID, &n.GroupKey, &n.Kind, &n.Channel, &n.Destination, &n.Role, &n.Level, &state,
		&n.Attempts, d.ScanTime(&n.NotBefore), &n.ClaimedBy, d.ScanNullTime(&n.ClaimUntil), &n.LastError,
		d.ScanTime(&n.CreatedAt), d.ScanNullTime(&n.SentAt))
	if err != nil {
		return n, err
	}
	n.State = ledger.NotificationState(state)
	return n, nil
}

func (c *Core) scanMaintenance(r Row) (ledger.Maintenance, error) {
	var (
		m   ledger.Maintenance
		dur int64
		d   = c.d
	)
	err := r.Scan(&m.ID, &m.Name, &m.Scope, &m.Match, d.ScanTime(&m.Start), d.ScanNullTime(&m.End), &m.Cron, &dur,
		&m.TimeZone, &m.Comment, &m.CreatedBy, d.ScanTime(&m.CreatedAt), d.ScanNullTime(&m.EndedAt), &m.EndedBy)
	if err != nil {
		return m, err
	}
	m.Duration = time.Duration(dur) * time.Microsecond
	return m, nil
}
