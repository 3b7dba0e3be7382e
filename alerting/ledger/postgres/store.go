package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
)

const (
	defaultLimit = 1000
	// maxAttempts bounds the retries of a batch that lost a race.
	maxAttempts = 20
)

const incidentCols = `id, dedup_key, source, target, check_name, severity, state, message, runbook, labels,
	count, first_seen, last_seen, opened_at, recovered, recovered_at, acked_at, acked_by,
	resolved_at, resolved_by, closed_at, closed_by, owner, last_seq`

const entryCols = `incident_id, seq, at, kind, by_name, comment, severity, state`

// entrySelectCols are entryCols and the receive time (NULL unless it
// differs from at).
const entrySelectCols = entryCols + `, received_at`

const (
	insertEventsSQL = `INSERT INTO events (id, source, target, check_name, severity, status, dedup_key, message,
		runbook, time, labels, applied_at, received_at)
	SELECT u.id, u.source, u.target, u.check_name, u.severity, u.status, u.dedup_key, u.message, u.runbook,
		u.time, u.labels::jsonb, $12, u.received_at
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::text[], $10::timestamptz[], $11::text[], $13::timestamptz[])
		AS u(id, source, target, check_name, severity, status, dedup_key, message, runbook, time, labels, received_at)
	ON CONFLICT (id) DO NOTHING
	RETURNING id`

	lockActiveSQL = `SELECT ` + incidentCols + ` FROM incidents
	WHERE dedup_key = ANY($1::text[]) AND state IN ('open', 'acknowledged')
	ORDER BY id
	FOR NO KEY UPDATE`

	lastInactiveSQL = `SELECT DISTINCT ON (dedup_key) ` + incidentCols + ` FROM incidents
	WHERE dedup_key = ANY($1::text[]) AND state IN ('resolved', 'closed')
	ORDER BY dedup_key, id DESC`

	insertIncidentsSQL = `INSERT INTO incidents (dedup_key, source, target, check_name, severity, state, message,
		runbook, labels, count, first_seen, last_seen, opened_at, recovered, recovered_at, last_seq)
	SELECT u.dedup_key, u.source, u.target, u.check_name, u.severity, u.state, u.message, u.runbook,
		u.labels::jsonb, u.count, u.first_seen, u.last_seen, u.opened_at, u.recovered, u.recovered_at, u.last_seq
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::text[], $10::bigint[], $11::timestamptz[], $12::timestamptz[], $13::timestamptz[], $14::boolean[],
		$15::timestamptz[], $16::integer[])
		AS u(dedup_key, source, target, check_name, severity, state, message, runbook, labels, count,
			first_seen, last_seen, opened_at, recovered, recovered_at, last_seq)
	RETURNING id, dedup_key`

	updateIncidentsSQL = `UPDATE incidents AS i SET severity = u.severity, message = u.message, runbook = u.runbook,
		count = u.count, first_seen = u.first_seen, last_seen = u.last_seen, recovered = u.recovered,
		recovered_at = u.recovered_at, last_seq = u.last_seq
	FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::timestamptz[],
		$7::timestamptz[], $8::boolean[], $9::timestamptz[], $10::integer[])
		AS u(id, severity, message, runbook, count, first_seen, last_seen, recovered, recovered_at, last_seq)
	WHERE i.id = u.id`

	insertEntriesSQL = `INSERT INTO timeline (` + entrySelectCols + `)
	SELECT * FROM unnest($1::bigint[], $2::integer[], $3::timestamptz[], $4::text[], $5::text[], $6::text[],
		$7::text[], $8::text[], $9::timestamptz[])`

	linkEventsSQL = `UPDATE events AS e SET incident_id = u.incident_id
	FROM unnest($1::text[], $2::bigint[]) AS u(id, incident_id)
	WHERE e.id = u.id`
)

// ApplyEvents applies the batch in one transaction; see ledger.Store and the
// package doc for how. A batch that loses a race with another writer is
// retried from the start.
func (s *Store) ApplyEvents(ctx context.Context, in []incident.Event) ([]incident.Change, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	if len(in) == 0 {
		return nil, nil
	}
	now := s.now()
	evs, err := plan.Prepare(in, now)
	if err != nil {
		return nil, fmt.Errorf("postgres ledger: apply events: %w", err)
	}
	for attempt := 1; ; attempt++ {
		changes, err := s.applyOnce(ctx, evs, now)
		if err == nil {
			return changes, nil
		}
		if !retryable(err) || attempt == maxAttempts {
			return nil, s.wrap("apply events", err)
		}
		// Back off a little, with jitter, so racing writers spread out.
		d := time.Duration(rand.Int64N(int64(attempt) * int64(2*time.Millisecond)))
		select {
		case <-ctx.Done():
			return nil, s.wrap("apply events", context.Cause(ctx))
		case <-time.After(d):
		}
	}
}

// retryable reports whether err means the transaction lost a race and the
// batch can simply run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return true
	case "23505": // unique_violation
		return pe.ConstraintName == "incidents_active_dedup_key"
	}
	return false
}

func (s *Store) applyOnce(ctx context.Context, evs []incident.Event, now time.Time) ([]incident.Change, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	// 1. Record every distinct event ID, in ID order; those not returned
	// were applied before (or by a writer that committed while we waited).
	first := make(map[string]int, len(evs))
	var order []int
	for i, e := range evs {
		if _, ok := first[e.ID]; !ok {
			first[e.ID] = i
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(evs[a].ID, evs[b].ID) })
	n := len(order)
	var (
		ids, sources, targets, checks = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		sevs, statuses, keys, msgs    = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		runbooks                      = make([]string, n)
		times, received               = make([]time.Time, n), make([]time.Time, n)
		labels                        = make([]*string, n)
	)
	for j, i := range order {
		e := &evs[i]
		ids[j], sources[j], targets[j], checks[j] = e.ID, e.Source, e.Target, e.Check
		sevs[j], statuses[j], keys[j], msgs[j] = string(e.Severity), string(e.Status), e.DedupKey, e.Message
		runbooks[j], times[j], labels[j], received[j] = e.Runbook, e.Time, labelsJSON(e.Labels), e.Received
	}
	rows, err := tx.Query(ctx, insertEventsSQL, ids, sources, targets, checks, sevs, statuses, keys, msgs,
		runbooks, times, labels, plan.Time(now), received)
	if err != nil {
		return nil, err
	}
	inserted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	applied := make(map[string]int64)
	if len(inserted) < n {
		isNew := make(map[string]bool, len(inserted))
		for _, id := range inserted {
			isNew[id] = true
		}
		var dups []string
		for _, id := range ids {
			if !isNew[id] {
				dups = append(dups, id)
			}
		}
		rows, err := tx.Query(ctx, "SELECT id, incident_id FROM events WHERE id = ANY($1::text[])", dups)
		if err != nil {
			return nil, err
		}
		var (
			id    string
			incID *int64
		)
		if _, err := pgx.ForEachRow(rows, []any{&id, &incID}, func() error {
			applied[id] = 0
			if incID != nil {
				applied[id] = *incID
			}
			return nil
		}); err != nil {
			return nil, err
		}
		if len(applied) != len(dups) {
			return nil, fmt.Errorf("%d event IDs neither inserted nor found", len(dups)-len(applied))
		}
	}

	// 2. Lock the active incidents of the batch's dedup keys.
	active, err := incidentsByKey(ctx, tx, lockActiveSQL, plan.Keys(evs, applied))
	if err != nil {
		return nil, err
	}
	// The newest resolved or closed incident of the keys with none active
	// (the manual-resolve rule, see plan.Apply); not locked: a recovered
	// flag set twice is the same flag.
	prev, err := incidentsByKey(ctx, tx, lastInactiveSQL, plan.Inactive(plan.Keys(evs, applied), active))
	if err != nil {
		return nil, err
	}

	// 3. Decide, in order.
	res := plan.Apply(evs, applied, active, prev, now)

	// 4. Write.
	if len(res.Created) > 0 {
		if err := insertIncidents(ctx, tx, res); err != nil {
			return nil, err
		}
	}
	b := &pgx.Batch{}
	if len(res.Updated) > 0 {
		queueUpdates(b, res.Updated)
	}
	if len(res.Entries) > 0 {
		queueEntries(b, res.Entries)
	}
	var linkIDs []string
	var linkInc []int64
	for _, e := range res.Events {
		if e.IncidentID != 0 {
			linkIDs = append(linkIDs, e.ID)
			linkInc = append(linkInc, e.IncidentID)
		}
	}
	if len(linkIDs) > 0 {
		b.Queue(linkEventsSQL, linkIDs, linkInc)
	}
	if err := sendBatch(ctx, tx, b); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return res.Changes, nil
}

// incidentsByKey runs q (one incident per key at most) for keys and
// returns the incidents by dedup key.
func incidentsByKey(ctx context.Context, tx pgx.Tx, q string, keys []string) (map[string]*plan.Incident, error) {
	out := make(map[string]*plan.Incident)
	if len(keys) == 0 {
		return out, nil
	}
	rows, err := tx.Query(ctx, q, keys)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		inc, err := scanIncident(rows)
		if err != nil {
			return nil, err
		}
		out[inc.DedupKey] = &inc
	}
	return out, rows.Err()
}

func insertIncidents(ctx context.Context, tx pgx.Tx, res *plan.Result) error {
	n := len(res.Created)
	var (
		keys, sources, targets, checks = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		sevs, states, msgs, runbooks   = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		labels                         = make([]*string, n)
		counts                         = make([]int64, n)
		first, last, opened            = make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
		recovered                      = make([]bool, n)
		recoveredAt                    = make([]*time.Time, n)
		lastSeq                        = make([]int32, n)
	)
	for i, inc := range res.Created {
		keys[i], sources[i], targets[i], checks[i] = inc.DedupKey, inc.Source, inc.Target, inc.Check
		sevs[i], states[i], msgs[i], runbooks[i] = string(inc.Severity), string(inc.State), inc.Message, inc.Runbook
		labels[i], counts[i] = labelsJSON(inc.Labels), inc.Count
		first[i], last[i], opened[i] = inc.FirstSeen, inc.LastSeen, inc.OpenedAt
		recovered[i], recoveredAt[i], lastSeq[i] = inc.Recovered, inc.RecoveredAt, int32(inc.LastSeq)
	}
	rows, err := tx.Query(ctx, insertIncidentsSQL, keys, sources, targets, checks, sevs, states, msgs, runbooks,
		labels, counts, first, last, opened, recovered, recoveredAt, lastSeq)
	if err != nil {
		return err
	}
	// New incidents of one batch have distinct dedup keys (one active
	// incident per key, and events never end one), so the key maps the
	// returned ids back.
	byKey := make(map[string]int64, n)
	var (
		id  int64
		key string
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &key}, func() error {
		byKey[key] = id
		return nil
	}); err != nil {
		return err
	}
	ids := make([]int64, n)
	for i, inc := range res.Created {
		if ids[i] = byKey[inc.DedupKey]; ids[i] == 0 {
			return fmt.Errorf("no id returned for new incident %q", inc.DedupKey)
		}
	}
	res.SetIDs(ids)
	return nil
}

func queueUpdates(b *pgx.Batch, incs []*plan.Incident) {
	n := len(incs)
	var (
		ids, counts     = make([]int64, n), make([]int64, n)
		sevs, msgs, rbs = make([]string, n), make([]string, n), make([]string, n)
		first, last     = make([]time.Time, n), make([]time.Time, n)
		recovered       = make([]bool, n)
		recoveredAt     = make([]*time.Time, n)
		lastSeq         = make([]int32, n)
	)
	for i, inc := range incs {
		ids[i], counts[i] = inc.ID, inc.Count
		sevs[i], msgs[i], rbs[i] = string(inc.Severity), inc.Message, inc.Runbook
		first[i], last[i] = inc.FirstSeen, inc.LastSeen
		recovered[i], recoveredAt[i], lastSeq[i] = inc.Recovered, inc.RecoveredAt, int32(inc.LastSeq)
	}
	b.Queue(updateIncidentsSQL, ids, sevs, msgs, rbs, counts, first, last, recovered, recoveredAt, lastSeq)
}

func queueEntries(b *pgx.Batch, es []incident.Entry) {
	n := len(es)
	var (
		incIDs                          = make([]int64, n)
		seqs                            = make([]int32, n)
		ats                             = make([]time.Time, n)
		kinds, bys, comments, sevs, sts = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		rcvs                            = make([]*time.Time, n)
	)
	for i, e := range es {
		incIDs[i], seqs[i], ats[i], rcvs[i] = e.IncidentID, int32(e.Seq), e.At, e.Received
		kinds[i], bys[i], comments[i], sevs[i], sts[i] = string(e.Kind), e.By, e.Comment, string(e.Severity), string(e.State)
	}
	b.Queue(insertEntriesSQL, incIDs, seqs, ats, kinds, bys, comments, sevs, sts, rcvs)
}

// sendBatch sends b as one pipeline and returns the first error.
func sendBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	br := tx.SendBatch(ctx, b)
	var errs []error
	for range b.Len() {
		if _, err := br.Exec(); err != nil {
			errs = append(errs, err)
			break
		}
	}
	errs = append(errs, br.Close())
	return errors.Join(errs...)
}

// Incident returns the incident with this id, or incident.ErrNotFound.
func (s *Store) Incident(ctx context.Context, id int64) (incident.Incident, error) {
	if s.closed.Load() {
		return incident.Incident{}, ledger.ErrClosed
	}
	inc, err := scanIncident(s.pool.QueryRow(ctx, "SELECT "+incidentCols+" FROM incidents WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return incident.Incident{}, fmt.Errorf("postgres ledger: incident %d: %w", id, incident.ErrNotFound)
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
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, st := range f.States {
			states[i] = string(st)
		}
		where = append(where, "state = ANY("+arg(states)+"::text[])")
	}
	if f.Target != "" {
		where = append(where, "target = "+arg(f.Target))
	}
	if f.BeforeID > 0 {
		where = append(where, "id < "+arg(f.BeforeID))
	}
	q := "SELECT " + incidentCols + " FROM incidents"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	q += " ORDER BY id DESC LIMIT " + arg(limit)
	rows, err := s.pool.Query(ctx, q, args...)
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
	es, err := s.queryEntries(ctx, "SELECT "+entrySelectCols+" FROM timeline WHERE incident_id = $1 ORDER BY seq", id)
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("timeline %d", id), err)
	}
	if len(es) == 0 {
		// Every incident has its opened entry, so this is a miss unless the
		// incident is being created right now.
		var exists bool
		if err := s.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM incidents WHERE id = $1)", id).Scan(&exists); err != nil {
			return nil, s.wrap(fmt.Sprintf("timeline %d", id), err)
		}
		if !exists {
			return nil, fmt.Errorf("postgres ledger: timeline %d: %w", id, incident.ErrNotFound)
		}
	}
	return es, nil
}

// Transition applies an operator action with the incident row locked.
func (s *Store) Transition(ctx context.Context, id int64, a incident.Action) (incident.Incident, incident.Entry, error) {
	if s.closed.Load() {
		return incident.Incident{}, incident.Entry{}, ledger.ErrClosed
	}
	op := fmt.Sprintf("transition %d %s", id, a.Kind)
	var (
		inc plan.Incident
		e   incident.Entry
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		inc, err = scanIncident(tx.QueryRow(ctx, "SELECT "+incidentCols+" FROM incidents WHERE id = $1 FOR NO KEY UPDATE", id))
		if errors.Is(err, pgx.ErrNoRows) {
			return incident.ErrNotFound
		}
		if err != nil {
			return err
		}
		if e, err = plan.Transition(&inc, a, s.now()); err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE incidents SET state = $2, acked_at = $3, acked_by = $4, resolved_at = $5, resolved_by = $6,
			closed_at = $7, closed_by = $8, owner = $9, last_seq = $10 WHERE id = $1`,
			inc.ID, string(inc.State), inc.AckedAt, inc.AckedBy, inc.ResolvedAt, inc.ResolvedBy, inc.ClosedAt,
			inc.ClosedBy, inc.Owner, inc.LastSeq)
		queueEntries(b, []incident.Entry{e})
		return sendBatch(ctx, tx, b)
	})
	if err != nil {
		return incident.Incident{}, incident.Entry{}, s.wrap(op, err)
	}
	return inc.Incident, e, nil
}

// EventApplied reports whether the event ID is in the ledger and its incident.
func (s *Store) EventApplied(ctx context.Context, eventID string) (bool, int64, error) {
	if s.closed.Load() {
		return false, 0, ledger.ErrClosed
	}
	var id *int64
	err := s.pool.QueryRow(ctx, "SELECT incident_id FROM events WHERE id = $1", eventID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, s.wrap("event applied", err)
	}
	if id == nil {
		return true, 0, nil
	}
	return true, *id, nil
}

// EventCount returns how many distinct events the ledger holds.
func (s *Store) EventCount(ctx context.Context) (int64, error) {
	if s.closed.Load() {
		return 0, ledger.ErrClosed
	}
	var n int64
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM events").Scan(&n); err != nil {
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
	es, err := s.queryEntries(ctx, "SELECT "+entrySelectCols+" FROM timeline WHERE NOT published ORDER BY pos LIMIT $1", limit)
	if err != nil {
		return nil, s.wrap("pending", err)
	}
	return es, nil
}

// MarkPublished marks entries published; unknown keys are ignored.
func (s *Store) MarkPublished(ctx context.Context, keys []ledger.EntryKey) error {
	if s.closed.Load() {
		return ledger.ErrClosed
	}
	if len(keys) == 0 {
		return nil
	}
	ids := make([]int64, len(keys))
	seqs := make([]int32, len(keys))
	for i, k := range keys {
		ids[i], seqs[i] = k.IncidentID, int32(k.Seq)
	}
	_, err := s.pool.Exec(ctx, `UPDATE timeline AS t SET published = true
		FROM unnest($1::bigint[], $2::integer[]) AS u(incident_id, seq)
		WHERE t.incident_id = u.incident_id AND t.seq = u.seq AND NOT t.published`, ids, seqs)
	if err != nil {
		return s.wrap("mark published", err)
	}
	return nil
}

func (s *Store) queryEntries(ctx context.Context, q string, args ...any) ([]incident.Entry, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var (
		e                incident.Entry
		seq              int32
		kind, sev, state string
		rcv              *time.Time
	)
	var out []incident.Entry
	_, err = pgx.ForEachRow(rows, []any{&e.IncidentID, &seq, &e.At, &kind, &e.By, &e.Comment, &sev, &state, &rcv}, func() error {
		e.Seq, e.Kind, e.Severity, e.State, e.At = int(seq), incident.Kind(kind), incident.Severity(sev), incident.State(state), e.At.UTC()
		e.Received = nil
		if rcv != nil {
			t := rcv.UTC()
			e.Received = &t
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

func scanIncident(r pgx.Row) (plan.Incident, error) {
	var (
		inc                                        plan.Incident
		sev, state                                 string
		labels                                     []byte
		lastSeq                                    int32
		recoveredAt, ackedAt, resolvedAt, closedAt *time.Time
	)
	err := r.Scan(&inc.ID, &inc.DedupKey, &inc.Source, &inc.Target, &inc.Check, &sev, &state,
		&inc.Message, &inc.Runbook, &labels, &inc.Count, &inc.FirstSeen, &inc.LastSeen, &inc.OpenedAt, &inc.Recovered,
		&recoveredAt, &ackedAt, &inc.AckedBy, &resolvedAt, &inc.ResolvedBy, &closedAt, &inc.ClosedBy, &inc.Owner, &lastSeq)
	if err != nil {
		return plan.Incident{}, err
	}
	inc.Severity, inc.State, inc.LastSeq = incident.Severity(sev), incident.State(state), int(lastSeq)
	if len(labels) > 0 {
		if err := json.Unmarshal(labels, &inc.Labels); err != nil {
			return plan.Incident{}, fmt.Errorf("incident %d labels: %w", inc.ID, err)
		}
	}
	inc.FirstSeen, inc.LastSeen, inc.OpenedAt = inc.FirstSeen.UTC(), inc.LastSeen.UTC(), inc.OpenedAt.UTC()
	inc.RecoveredAt, inc.AckedAt, inc.ResolvedAt, inc.ClosedAt = utc(recoveredAt), utc(ackedAt), utc(resolvedAt), utc(closedAt)
	return inc, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func labelsJSON(m map[string]string) *string {
	if len(m) == 0 {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil { // cannot happen for map[string]string
		panic(err)
	}
	s := string(b)
	return &s
}
