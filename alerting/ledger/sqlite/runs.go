package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
)

var _ ledger.RunHistoryStore = (*Store)(nil)

func microsOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func timeOrZero(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

// RecordRun implements ledger.RunHistoryStore.
func (s *Store) RecordRun(ctx context.Context, r ledger.RunRecord) error {
	params, err := plan.RunParams(r.Params)
	if err != nil {
		return err
	}
	return s.writeTx(ctx, "record run", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO job_runs (id, jobnet, scheduled, trigger, by, params, parent, status, created, ended, gen)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET status = excluded.status, ended = excluded.ended, gen = excluded.gen`,
			r.ID, r.Jobnet, microsOrZero(r.Scheduled), r.Trigger, r.By, string(params), r.Parent, r.Status,
			microsOrZero(r.Created), microsOrZero(r.Ended), r.Gen); err != nil {
			return err
		}
		for _, j := range r.Jobs {
			var code any
			if j.Code != nil {
				code = *j.Code
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO job_run_jobs (run, job, attempt, state, code, "where", started, ended, output, reason)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (run, job, attempt) DO UPDATE SET state = excluded.state, code = excluded.code,
				"where" = excluded."where", started = excluded.started, ended = excluded.ended,
				output = excluded.output, reason = excluded.reason`,
				r.ID, j.Job, j.Attempt, j.State, code, j.Where, microsOrZero(j.Started), microsOrZero(j.Ended), j.Output, j.Reason); err != nil {
				return err
			}
		}
		return nil
	})
}

const runCols = `id, jobnet, scheduled, trigger, by, params, parent, status, created, ended, gen`

func scanRun(sc interface{ Scan(...any) error }) (ledger.RunRecord, error) {
	var (
		r                         ledger.RunRecord
		params                    string
		scheduled, created, ended int64
	)
	if err := sc.Scan(&r.ID, &r.Jobnet, &scheduled, &r.Trigger, &r.By, &params, &r.Parent, &r.Status, &created, &ended, &r.Gen); err != nil {
		return r, err
	}
	r.Scheduled, r.Created, r.Ended = timeOrZero(scheduled), timeOrZero(created), timeOrZero(ended)
	if params != "" && params != "{}" && params != "null" {
		_ = json.Unmarshal([]byte(params), &r.Params)
	}
	return r, nil
}

// Runs implements ledger.RunHistoryStore.
func (s *Store) Runs(ctx context.Context, f ledger.RunFilter) ([]ledger.RunRecord, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	limit := plan.RunLimit(f.Limit)
	q := "SELECT " + runCols + " FROM job_runs"
	var args []any
	if f.Jobnet != "" {
		q += " WHERE jobnet = ?"
		args = append(args, f.Jobnet)
	}
	q += " ORDER BY created DESC, id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.wrap("runs", err)
	}
	defer rows.Close()
	var out []ledger.RunRecord
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, s.wrap("runs", err)
		}
		out = append(out, r)
	}
	return out, s.wrapNil("runs", rows.Err())
}

// RunDetail implements ledger.RunHistoryStore.
func (s *Store) RunDetail(ctx context.Context, id string) (ledger.RunRecord, error) {
	if s.closed.Load() {
		return ledger.RunRecord{}, ledger.ErrClosed
	}
	r, err := scanRun(s.r.QueryRowContext(ctx, "SELECT "+runCols+" FROM job_runs WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("sqlite ledger: %w", plan.NoRun(id))
	}
	if err != nil {
		return r, s.wrap("run", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT job, attempt, state, code, "where", started, ended, output, reason
		FROM job_run_jobs WHERE run = ? ORDER BY attempt, rowid`, id)
	if err != nil {
		return r, s.wrap("run", err)
	}
	defer rows.Close()
	for rows.Next() {
		j := ledger.JobRecord{Run: id}
		var (
			code           sql.NullInt64
			started, ended int64
		)
		if err := rows.Scan(&j.Job, &j.Attempt, &j.State, &code, &j.Where, &started, &ended, &j.Output, &j.Reason); err != nil {
			return r, s.wrap("run", err)
		}
		if code.Valid {
			c := int(code.Int64)
			j.Code = &c
		}
		j.Started, j.Ended = timeOrZero(started), timeOrZero(ended)
		r.Jobs = append(r.Jobs, j)
	}
	return r, s.wrapNil("run", rows.Err())
}
