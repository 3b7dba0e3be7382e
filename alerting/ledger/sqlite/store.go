package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
)

const defaultLimit = 1000

const incidentCols = `id, dedup_key, source, target, check_name, severity, state, message, runbook, labels,
	count, first_seen, last_seen, opened_at, recovered, recovered_at, acked_at, acked_by,
	resolved_at, resolved_by, closed_at, closed_by, owner, last_seq`

const entryCols = `incident_id, seq, at, kind, by_name, comment, severity, state`

// entrySelectCols are entryCols and the receive time (NULL unless it
// differs from at; migration 0008 keeps it in table timeline_received).
const entrySelectCols = entryCols + `, (SELECT r.received_at FROM timeline_received r
	WHERE r.incident_id = timeline.incident_id AND r.seq = timeline.seq) AS received_at`

// ApplyEvents applies the batch in one write transaction; see ledger.Store.
func (s *Store) ApplyEvents(ctx context.Context, in []incident.Event) (changes []incident.Change, err error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	if len(in) == 0 {
		return nil, nil
	}
	now := s.now()
	evs, err := plan.Prepare(in, now)
	if err != nil {
		return nil, fmt.Errorf("sqlite ledger: apply events: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.wrap("apply events", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			err = s.wrap("apply events", err)
		}
	}()

	// Event IDs already in the ledger.
	applied := make(map[string]int64)
	get, err := tx.PrepareContext(ctx, "SELECT incident_id FROM events WHERE id = ?")
	if err != nil {
		return nil, err
	}
	defer get.Close()
	for _, e := range evs {
		if _, ok := applied[e.ID]; ok {
			continue
		}
		var id sql.NullInt64
		switch err := get.QueryRowContext(ctx, e.ID).Scan(&id); {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, err
		default:
			applied[e.ID] = id.Int64
		}
	}

	// Active incidents of the batch's dedup keys.
	active, err := incidentsByKey(ctx, tx, "SELECT "+incidentCols+" FROM incidents WHERE dedup_key = ? AND state IN ('open', 'acknowledged')",
		plan.Keys(evs, applied))
	if err != nil {
		return nil, err
	}
	// The newest resolved or closed incident of the keys with none active
	// (the manual-resolve rule, see plan.Apply).
	prev, err := incidentsByKey(ctx, tx, "SELECT "+incidentCols+" FROM incidents WHERE dedup_key = ? ORDER BY id DESC LIMIT 1",
		plan.Inactive(plan.Keys(evs, applied), active))
	if err != nil {
		return nil, err
	}

	res := plan.Apply(evs, applied, active, prev, now)

	if len(res.Created) > 0 {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO incidents (dedup_key, source, target, check_name, severity, state,
			message, runbook, labels, count, first_seen, last_seen, opened_at, recovered, recovered_at, last_seq)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return nil, err
		}
		defer ins.Close()
		ids := make([]int64, len(res.Created))
		for i, inc := range res.Created {
			r, err := ins.ExecContext(ctx, inc.DedupKey, inc.Source, inc.Target, inc.Check, inc.Severity, inc.State,
				inc.Message, inc.Runbook, labelsJSON(inc.Labels), inc.Count, micros(inc.FirstSeen), micros(inc.LastSeen),
				micros(inc.OpenedAt), inc.Recovered, nullMicros(inc.RecoveredAt), inc.LastSeq)
			if err != nil {
				return nil, err
			}
			if ids[i], err = r.LastInsertId(); err != nil {
				return nil, err
			}
		}
		res.SetIDs(ids)
	}
	if len(res.Updated) > 0 {
		upd, err := tx.PrepareContext(ctx, `UPDATE incidents SET severity = ?, message = ?, runbook = ?, count = ?,
			first_seen = ?, last_seen = ?, recovered = ?, recovered_at = ?, last_seq = ? WHERE id = ?`)
		if err != nil {
			return nil, err
		}
		defer upd.Close()
		for _, inc := range res.Updated {
			if _, err := upd.ExecContext(ctx, inc.Severity, inc.Message, inc.Runbook, inc.Count, micros(inc.FirstSeen),
				micros(inc.LastSeen), inc.Recovered, nullMicros(inc.RecoveredAt), inc.LastSeq, inc.ID); err != nil {
				return nil, err
			}
		}
	}
	if err := insertEntries(ctx, tx, res.Entries); err != nil {
		return nil, err
	}
	insEv, err := tx.PrepareContext(ctx, `INSERT INTO events (id, incident_id, source, target, check_name, severity, status,
		dedup_key, message, runbook, time, labels, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, err
	}
	defer insEv.Close()
	insRcv, err := tx.PrepareContext(ctx, `INSERT INTO event_received (event_id, received_at) VALUES (?, ?)`)
	if err != nil {
		return nil, err
	}
	defer insRcv.Close()
	appliedAt := micros(now)
	for _, e := range res.Events {
		incID := sql.NullInt64{Int64: e.IncidentID, Valid: e.IncidentID != 0}
		if _, err := insEv.ExecContext(ctx, e.ID, incID, e.Source, e.Target, e.Check, e.Severity, e.Status,
			e.DedupKey, e.Message, e.Runbook, micros(e.Time), labelsJSON(e.Labels), appliedAt); err != nil {
			return nil, err
		}
		if _, err := insRcv.ExecContext(ctx, e.ID, micros(e.Received)); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return res.Changes, nil
}

// incidentsByKey runs q (one dedup key argument, at most one incident) for
// each key and returns the incidents found by key.
func incidentsByKey(ctx context.Context, tx *sql.Tx, q string, keys []string) (map[string]*plan.Incident, error) {
	out := make(map[string]*plan.Incident)
	if len(keys) == 0 {
		return out, nil
	}
	st, err := tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	for _, k := range keys {
		inc, err := scanIncident(st.QueryRowContext(ctx, k))
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return nil, err
		default:
			out[k] = &inc
		}
	}
	return out, nil
}

// insertEntries appends entries to the timeline after every entry already
// there (pos). Only the write connection calls it, so max(pos) is stable.
func insertEntries(ctx context.Context, tx *sql.Tx, es []incident.Entry) error {
	if len(es) == 0 {
		return nil
	}
	var pos int64
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(pos), 0) FROM timeline").Scan(&pos); err != nil {
		return err
	}
	ins, err := tx.PrepareContext(ctx, "INSERT INTO timeline ("+entryCols+", pos) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
	if err != nil {
		return err
	}
	defer ins.Close()
	for _, e := range es {
		pos++
		if _, err := ins.ExecContext(ctx, e.IncidentID, e.Seq, micros(e.At), e.Kind, e.By, e.Comment, e.Severity, e.State, pos); err != nil {
			return err
		}
		if e.Received != nil {
			if _, err := tx.ExecContext(ctx, "INSERT INTO timeline_received (incident_id, seq, received_at) VALUES (?, ?, ?)",
				e.IncidentID, e.Seq, micros(*e.Received)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Incident returns the incident with this id, or incident.ErrNotFound.
func (s *Store) Incident(ctx context.Context, id int64) (incident.Incident, error) {
	if s.closed.Load() {
		return incident.Incident{}, ledger.ErrClosed
	}
	inc, err := scanIncident(s.r.QueryRowContext(ctx, "SELECT "+incidentCols+" FROM incidents WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return incident.Incident{}, fmt.Errorf("sqlite ledger: incident %d: %w", id, incident.ErrNotFound)
	}
	if err != nil {
		return incident.Incident{}, s.wrap(fmt.Sprintf("incident %d", id), err)
	}
	return inc.Incident, nil
}

// Incidents returns the incidents f selects, newest (highest id) first.
func (s *Store) Incidents(ctx context.Context, f ledger.Filter) ([]incident.Incident, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	var (
		where []string
		args  []any
	)
	if len(f.States) > 0 {
		ph := make([]string, len(f.States))
		for i, st := range f.States {
			ph[i] = "?"
			args = append(args, string(st))
		}
		where = append(where, "state IN ("+strings.Join(ph, ", ")+")")
	}
	if f.Target != "" {
		where = append(where, "target = ?")
		args = append(args, f.Target)
	}
	if f.BeforeID > 0 {
		where = append(where, "id < ?")
		args = append(args, f.BeforeID)
	}
	q := "SELECT " + incidentCols + " FROM incidents"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.wrap("incidents", err)
	}
	defer rows.Close()
	var out []incident.Incident
	for rows.Next() {
		inc, err := scanIncident(rows)
		if err != nil {
			return nil, s.wrap("incidents", err)
		}
		out = append(out, inc.Incident)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("incidents", err)
	}
	return out, nil
}

// Timeline returns the incident's entries in seq order, or
// incident.ErrNotFound.
func (s *Store) Timeline(ctx context.Context, id int64) ([]incident.Entry, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, s.wrap("timeline", err)
	}
	defer tx.Rollback()
	es, err := queryEntries(ctx, tx, "SELECT "+entrySelectCols+" FROM timeline WHERE incident_id = ? ORDER BY seq", id)
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("timeline %d", id), err)
	}
	if len(es) == 0 {
		var one int
		err := tx.QueryRowContext(ctx, "SELECT 1 FROM incidents WHERE id = ?", id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlite ledger: timeline %d: %w", id, incident.ErrNotFound)
		}
		if err != nil {
			return nil, s.wrap(fmt.Sprintf("timeline %d", id), err)
		}
	}
	return es, nil
}

// Transition applies an operator action in one write transaction.
func (s *Store) Transition(ctx context.Context, id int64, a incident.Action) (_ incident.Incident, _ incident.Entry, err error) {
	if s.closed.Load() {
		return incident.Incident{}, incident.Entry{}, ledger.ErrClosed
	}
	op := fmt.Sprintf("transition %d %s", id, a.Kind)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return incident.Incident{}, incident.Entry{}, s.wrap(op, err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	inc, err := scanIncident(tx.QueryRowContext(ctx, "SELECT "+incidentCols+" FROM incidents WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return incident.Incident{}, incident.Entry{}, fmt.Errorf("sqlite ledger: %s: %w", op, incident.ErrNotFound)
	}
	if err != nil {
		return incident.Incident{}, incident.Entry{}, s.wrap(op, err)
	}
	e, err := plan.Transition(&inc, a, s.now())
	if err != nil {
		return incident.Incident{}, incident.Entry{}, fmt.Errorf("sqlite ledger: %s: %w", op, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE incidents SET state = ?, acked_at = ?, acked_by = ?, resolved_at = ?,
		resolved_by = ?, closed_at = ?, closed_by = ?, owner = ?, last_seq = ? WHERE id = ?`,
		inc.State, nullMicros(inc.AckedAt), inc.AckedBy, nullMicros(inc.ResolvedAt), inc.ResolvedBy,
		nullMicros(inc.ClosedAt), inc.ClosedBy, inc.Owner, inc.LastSeq, inc.ID); err != nil {
		return incident.Incident{}, incident.Entry{}, s.wrap(op, err)
	}
	if err := insertEntries(ctx, tx, []incident.Entry{e}); err != nil {
		return incident.Incident{}, incident.Entry{}, s.wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return incident.Incident{}, incident.Entry{}, s.wrap(op, err)
	}
	return inc.Incident, e, nil
}

// EventApplied reports whether the event ID is in the ledger and its incident.
func (s *Store) EventApplied(ctx context.Context, eventID string) (bool, int64, error) {
	if s.closed.Load() {
		return false, 0, ledger.ErrClosed
	}
	var id sql.NullInt64
	err := s.r.QueryRowContext(ctx, "SELECT incident_id FROM events WHERE id = ?", eventID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, s.wrap("event applied", err)
	}
	return true, id.Int64, nil
}

// EventCount returns how many distinct events the ledger holds.
func (s *Store) EventCount(ctx context.Context) (int64, error) {
	if s.closed.Load() {
		return 0, ledger.ErrClosed
	}
	var n int64
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil {
		return 0, s.wrap("event count", err)
	}
	return n, nil
}

// Pending returns up to limit unpublished timeline entries in the order they
// were appended (limit <= 0 means 1000).
func (s *Store) Pending(ctx context.Context, limit int) ([]incident.Entry, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	if limit <= 0 {
		limit = defaultLimit
	}
	es, err := queryEntries(ctx, s.r, "SELECT "+entrySelectCols+" FROM timeline WHERE published = 0 ORDER BY pos LIMIT ?", limit)
	if err != nil {
		return nil, s.wrap("pending", err)
	}
	return es, nil
}

// MarkPublished marks entries published; unknown keys are ignored.
func (s *Store) MarkPublished(ctx context.Context, keys []ledger.EntryKey) (err error) {
	if s.closed.Load() {
		return ledger.ErrClosed
	}
	if len(keys) == 0 {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.wrap("mark published", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
			err = s.wrap("mark published", err)
		}
	}()
	upd, err := tx.PrepareContext(ctx, "UPDATE timeline SET published = 1 WHERE incident_id = ? AND seq = ? AND published = 0")
	if err != nil {
		return err
	}
	defer upd.Close()
	for _, k := range keys {
		if _, err := upd.ExecContext(ctx, k.IncidentID, k.Seq); err != nil {
			return err
		}
	}
	return tx.Commit()
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func queryEntries(ctx context.Context, q queryer, query string, args ...any) ([]incident.Entry, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []incident.Entry
	for rows.Next() {
		var (
			e   incident.Entry
			at  int64
			rcv sql.NullInt64
		)
		if err := rows.Scan(&e.IncidentID, &e.Seq, &at, &e.Kind, &e.By, &e.Comment, &e.Severity, &e.State, &rcv); err != nil {
			return nil, err
		}
		e.At = fromMicros(at)
		if rcv.Valid {
			t := fromMicros(rcv.Int64)
			e.Received = &t
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func scanIncident(r scanner) (plan.Incident, error) {
	var (
		inc                              plan.Incident
		labels                           sql.NullString
		first, last, opened              int64
		recoveredAt, ackedAt, resolvedAt sql.NullInt64
		closedAt                         sql.NullInt64
	)
	err := r.Scan(&inc.ID, &inc.DedupKey, &inc.Source, &inc.Target, &inc.Check, &inc.Severity, &inc.State,
		&inc.Message, &inc.Runbook, &labels, &inc.Count, &first, &last, &opened, &inc.Recovered, &recoveredAt,
		&ackedAt, &inc.AckedBy, &resolvedAt, &inc.ResolvedBy, &closedAt, &inc.ClosedBy, &inc.Owner, &inc.LastSeq)
	if err != nil {
		return plan.Incident{}, err
	}
	if labels.Valid {
		if err := json.Unmarshal([]byte(labels.String), &inc.Labels); err != nil {
			return plan.Incident{}, fmt.Errorf("incident %d labels: %w", inc.ID, err)
		}
	}
	inc.FirstSeen, inc.LastSeen, inc.OpenedAt = fromMicros(first), fromMicros(last), fromMicros(opened)
	inc.RecoveredAt = ptrMicros(recoveredAt)
	inc.AckedAt = ptrMicros(ackedAt)
	inc.ResolvedAt = ptrMicros(resolvedAt)
	inc.ClosedAt = ptrMicros(closedAt)
	return inc, nil
}

func labelsJSON(m map[string]string) any {
	if len(m) == 0 {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil { // cannot happen for map[string]string
		panic(err)
	}
	return string(b)
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func ptrMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}
