package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/sqlstore"
)

const (
	incidentCols = sqlstore.IncidentCols
	entryCols    = sqlstore.EntryCols
)

// entrySelectCols are entryCols and the receive time (NULL unless it
// differs from at; migration 0008 keeps it in table timeline_received).
const entrySelectCols = entryCols + `, (SELECT r.received_at FROM timeline_received r
	WHERE r.incident_id = timeline.incident_id AND r.seq = timeline.seq) AS received_at`

// The reads, Transition and the other ledger.Store methods are the shared
// ones (package sqlstore); this file holds SQLite's write path.

// ApplyEvents applies the batch in one write transaction; see ledger.Store.
func (s *Store) ApplyEvents(ctx context.Context, in []incident.Event) (changes []incident.Change, err error) {
	evs, now, err := sqlstore.PrepareEvents(s.core, in)
	if err != nil || evs == nil {
		return nil, err
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

type scanner interface{ Scan(dest ...any) error }

func scanIncident(r scanner) (plan.Incident, error) { return sqlstore.ScanIncident(dialect{}, r) }

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
