package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/sqlstore"
)

// maxAttempts bounds the retries of a batch that lost a race.
const maxAttempts = 20

const (
	incidentCols = sqlstore.IncidentCols
	entryCols    = sqlstore.EntryCols
)

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

// The reads, Transition and the other ledger.Store methods are the shared
// ones (package sqlstore); this file holds PostgreSQL's write path.

// ApplyEvents applies the batch in one transaction; see ledger.Store and the
// package doc for how. A batch that loses a race with another writer is
// retried from the start.
func (s *Store) ApplyEvents(ctx context.Context, in []incident.Event) ([]incident.Change, error) {
	evs, now, err := sqlstore.PrepareEvents(s.core, in)
	if err != nil || evs == nil {
		return nil, err
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
func sendBatch(ctx context.Context, tx pgRunner, b *pgx.Batch) error {
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

func scanIncident(r pgx.Row) (plan.Incident, error) { return sqlstore.ScanIncident(dialect{}, r) }

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
