package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
)

// IncidentCols are the columns ScanIncident reads, in order; EntryCols the
// columns of a timeline entry as the stores insert them.
const (
	IncidentCols = `id, dedup_key, source, target, check_name, severity, state, message, runbook, labels,
	count, first_seen, last_seen, opened_at, recovered, recovered_at, acked_at, acked_by,
	resolved_at, resolved_by, closed_at, closed_by, owner, last_seq`

	EntryCols = `incident_id, seq, at, kind, by_name, comment, severity, state`
)

// Incident returns the incident with this id, or incident.ErrNotFound.
func (c *Core) Incident(ctx context.Context, id int64) (incident.Incident, error) {
	if c.closed.Load() {
		return incident.Incident{}, ledger.ErrClosed
	}
	inc, err := ScanIncident(c.d, c.read.QueryRow(ctx, "SELECT "+IncidentCols+" FROM incidents WHERE id = ?", id))
	if c.d.NoRows(err) {
		return incident.Incident{}, c.errorf(fmt.Sprintf("incident %d", id), incident.ErrNotFound)
	}
	if err != nil {
		return incident.Incident{}, c.wrap(fmt.Sprintf("incident %d", id), err)
	}
	return inc.Incident, nil
}

// Incidents returns the incidents f selects, newest (highest id) first.
func (c *Core) Incidents(ctx context.Context, f ledger.Filter) ([]incident.Incident, error) {
	if c.closed.Load() {
		return nil, ledger.ErrClosed
	}
	var (
		where []string
		args  []any
	)
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, st := range f.States {
			states[i] = string(st)
		}
		in, inArgs := c.d.InStrings("state", states)
		where, args = append(where, in), append(args, inArgs...)
	}
	if f.Target != "" {
		where, args = append(where, "target = ?"), append(args, f.Target)
	}
	if f.BeforeID > 0 {
		where, args = append(where, "id < ?"), append(args, f.BeforeID)
	}
	q := "SELECT " + IncidentCols + " FROM incidents"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	rows, err := c.read.Query(ctx, q+" ORDER BY id DESC LIMIT ?", append(args, limit)...)
	out, err := collect(rows, err, func(r Row) (incident.Incident, error) {
		inc, err := ScanIncident(c.d, r)
		return inc.Incident, err
	})
	return out, c.wrapNil("incidents", err)
}

// Timeline returns the incident's entries in seq order, or
// incident.ErrNotFound.
func (c *Core) Timeline(ctx context.Context, id int64) ([]incident.Entry, error) {
	if c.closed.Load() {
		return nil, ledger.ErrClosed
	}
	op := fmt.Sprintf("timeline %d", id)
	es, err := c.queryEntries(ctx, "SELECT "+c.schema.EntrySelectCols+" FROM timeline WHERE incident_id = ? ORDER BY seq", id)
	if err != nil {
		return nil, c.wrap(op, err)
	}
	if len(es) == 0 {
		// Every incident has its opened entry, so this is a miss unless the
		// incident is being created right now.
		var one int
		err := c.read.QueryRow(ctx, "SELECT 1 FROM incidents WHERE id = ?", id).Scan(&one)
		if c.d.NoRows(err) {
			return nil, c.errorf(op, incident.ErrNotFound)
		}
		if err != nil {
			return nil, c.wrap(op, err)
		}
	}
	return es, nil
}

// Transition applies an operator action in one write transaction, with
// the incident row locked.
func (c *Core) Transition(ctx context.Context, id int64, a incident.Action) (incident.Incident, incident.Entry, error) {
	if c.closed.Load() {
		return incident.Incident{}, incident.Entry{}, ledger.ErrClosed
	}
	op := fmt.Sprintf("transition %d %s", id, a.Kind)
	var (
		inc     plan.Incident
		e       incident.Entry
		refused error // by the rules, not the database
	)
	err := c.begin(ctx, func(tx DB) error {
		var err error
		inc, err = ScanIncident(c.d, tx.QueryRow(ctx, "SELECT "+IncidentCols+" FROM incidents WHERE id = ?"+c.d.ForUpdate(), id))
		if c.d.NoRows(err) {
			refused = incident.ErrNotFound
			return refused
		}
		if err != nil {
			return err
		}
		if e, err = plan.Transition(&inc, a, c.now()); err != nil {
			refused = err
			return err
		}
		return c.bulk.SaveTransition(ctx, tx, &inc, e)
	})
	switch {
	case refused != nil:
		return incident.Incident{}, incident.Entry{}, c.errorf(op, refused)
	case err != nil:
		return incident.Incident{}, incident.Entry{}, c.wrap(op, err)
	}
	return inc.Incident, e, nil
}

// EventApplied reports whether the event ID is in the ledger and its incident.
func (c *Core) EventApplied(ctx context.Context, eventID string) (bool, int64, error) {
	if c.closed.Load() {
		return false, 0, ledger.ErrClosed
	}
	var id *int64
	err := c.read.QueryRow(ctx, "SELECT incident_id FROM events WHERE id = ?", eventID).Scan(&id)
	if c.d.NoRows(err) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, c.wrap("event applied", err)
	}
	if id == nil {
		return true, 0, nil
	}
	return true, *id, nil
}

// EventCount returns how many distinct events the ledger holds.
func (c *Core) EventCount(ctx context.Context) (int64, error) {
	if c.closed.Load() {
		return 0, ledger.ErrClosed
	}
	var n int64
	if err := c.read.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil {
		return 0, c.wrap("event count", err)
	}
	return n, nil
}

// Pending returns up to limit unpublished timeline entries in the order they
// were appended (limit <= 0 means 1000).
func (c *Core) Pending(ctx context.Context, limit int) ([]incident.Entry, error) {
	if c.closed.Load() {
		return nil, ledger.ErrClosed
	}
	if limit <= 0 {
		limit = defaultLimit
	}
	es, err := c.queryEntries(ctx, "SELECT "+c.schema.EntrySelectCols+" FROM timeline WHERE "+c.schema.Unpublished+
		" ORDER BY pos LIMIT ?", limit)
	return es, c.wrapNil("pending", err)
}

func (c *Core) queryEntries(ctx context.Context, q string, args ...any) ([]incident.Entry, error) {
	rows, err := c.read.Query(ctx, q, args...)
	return collect(rows, err, c.scanEntry)
}

// scanEntry reads EntryCols and the received time.
func (c *Core) scanEntry(r Row) (incident.Entry, error) {
	var (
		e                incident.Entry
		kind, sev, state string
	)
	err := r.Scan(&e.IncidentID, &e.Seq, c.d.ScanTime(&e.At), &kind, &e.By, &e.Comment, &sev, &state,
		c.d.ScanNullTime(&e.Received))
	e.Kind, e.Severity, e.State = incident.Kind(kind), incident.Severity(sev), incident.State(state)
	return e, err
}

// ScanIncident reads IncidentCols.
func ScanIncident(d Dialect, r Row) (plan.Incident, error) {
	var (
		inc        plan.Incident
		sev, state string
		labels     []byte
	)
	err := r.Scan(&inc.ID, &inc.DedupKey, &inc.Source, &inc.Target, &inc.Check, &sev, &state,
		&inc.Message, &inc.Runbook, &labels, &inc.Count, d.ScanTime(&inc.FirstSeen), d.ScanTime(&inc.LastSeen),
		d.ScanTime(&inc.OpenedAt), &inc.Recovered, d.ScanNullTime(&inc.RecoveredAt), d.ScanNullTime(&inc.AckedAt),
		&inc.AckedBy, d.ScanNullTime(&inc.ResolvedAt), &inc.ResolvedBy, d.ScanNullTime(&inc.ClosedAt), &inc.ClosedBy,
		&inc.Owner, &inc.LastSeq)
	if err != nil {
		return plan.Incident{}, err
	}
	inc.Severity, inc.State = incident.Severity(sev), incident.State(state)
	if len(labels) > 0 {
		if err := json.Unmarshal(labels, &inc.Labels); err != nil {
			return plan.Incident{}, fmt.Errorf("incident %d labels: %w", inc.ID, err)
		}
	}
	return inc, nil
}

// PrepareEvents starts a store's ApplyEvents: ledger.ErrClosed, nil events
// when there is nothing to do, or the batch as plan.Prepare checks and
// completes it at the store's time now.
func PrepareEvents(c *Core, in []incident.Event) (evs []incident.Event, now time.Time, err error) {
	if c.closed.Load() {
		return nil, now, ledger.ErrClosed
	}
	if len(in) == 0 {
		return nil, now, nil
	}
	now = c.now()
	if evs, err = plan.Prepare(in, now); err != nil {
		return nil, now, c.errorf("apply events", err)
	}
	return evs, now, nil
}
