package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
)

var _ ledger.RunHistoryStore = (*Store)(nil)

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC()
}

func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// RecordRun implements ledger.RunHistoryStore.
func (s *Store) RecordRun(ctx context.Context, r ledger.RunRecord) error {
	params, err := plan.RunParams(r.Params)
	if err != nil {
		return err
	}
	return s.tx(ctx, "record run", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO job_runs (id, jobnet, scheduled, trigger, by_whom, params, parent, status, created, ended, gen)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (id) DO UPDATE SET status = excluded.status, ended = excluded.ended, gen = excluded.gen`,
			r.ID, r.Jobnet, r.Scheduled.UTC(), r.Trigger, r.By, string(params), r.Parent, r.Status,
			r.Created.UTC(), nullTime(r.Ended), r.Gen); err != nil {
			return err
		}
		for _, j := range r.Jobs {
			if _, err := tx.Exec(ctx, `INSERT INTO job_run_jobs (run, job, attempt, state, code, run_on, started, ended, output, reason)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
				ON CONFLICT (run, job, attempt) DO UPDATE SET state = excluded.state, code = excluded.code,
				run_on = excluded.run_on, started = excluded.started, ended = excluded.ended,
				output = excluded.output, reason = excluded.reason`,
				r.ID, j.Job, j.Attempt, j.State, j.Code, j.Where, nullTime(j.Started), nullTime(j.Ended), j.Output, j.Reason); err != nil {
				return err
			}
		}
		return nil
	})
}

const runCols = `id, jobnet, scheduled, trigger, by_whom, params, parent, status, created, ended, gen`

func scanRun(row pgx.Row) (ledger.RunRecord, error) {
	var (
		r      ledger.RunRecord
		params []byte
		ended  *time.Time
	)
	if err := row.Scan(&r.ID, &r.Jobnet, &r.Scheduled, &r.Trigger, &r.By, &params, &r.Parent, &r.Status, &r.Created, &ended, &r.Gen); err != nil {
		return r, err
	}
	r.Scheduled, r.Created, r.Ended = r.Scheduled.UTC(), r.Created.UTC(), fromNull(ended)
	_ = json.Unmarshal(params, &r.Params)
	if len(r.Params) == 0 {
		r.Params = nil
	}
	return r, nil
}

// Runs implements ledger.RunHistoryStore.
func (s *Store) Runs(ctx context.Context, f ledger.RunFilter) ([]ledger.RunRecord, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	limit := plan.RunLimit(f.Limit)
	rows, err := s.pool.Query(ctx, "SELECT "+runCols+` FROM job_runs WHERE ($1 = '' OR jobnet = $1)
		ORDER BY created DESC, id DESC LIMIT $2`, f.Jobnet, limit)
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
	if err := rows.Err(); err != nil {
		return nil, s.wrap("runs", err)
	}
	return out, nil
}

// RunDetail implements ledger.RunHistoryStore.
func (s *Store) RunDetail(ctx context.Context, id string) (ledger.RunRecord, error) {
	if s.closed.Load() {
		return ledger.RunRecord{}, ledger.ErrClosed
	}
	r, err := scanRun(s.pool.QueryRow(ctx, "SELECT "+runCols+" FROM job_runs WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("postgres ledger: %w", plan.NoRun(id))
	}
	if err != nil {
		return r, s.wrap("run", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT job, attempt, state, code, run_on, started, ended, output, reason
		FROM job_run_jobs WHERE run = $1 ORDER BY attempt, job`, id)
	if err != nil {
		return r, s.wrap("run", err)
	}
	defer rows.Close()
	for rows.Next() {
		j := ledger.JobRecord{Run: id}
		var started, ended *time.Time
		if err := rows.Scan(&j.Job, &j.Attempt, &j.State, &j.Code, &j.Where, &started, &ended, &j.Output, &j.Reason); err != nil {
			return r, s.wrap("run", err)
		}
		j.Started, j.Ended = fromNull(started), fromNull(ended)
		r.Jobs = append(r.Jobs, j)
	}
	if err := rows.Err(); err != nil {
		return r, s.wrap("run", err)
	}
	return r, nil
}

// Exec runs one statement outside a transaction (VACUUM cannot run in
// one); the db-maintenance job uses it.
func (s *Store) Exec(ctx context.Context, sql string) error {
	if s.closed.Load() {
		return ledger.ErrClosed
	}
	if _, err := s.pool.Exec(ctx, sql); err != nil {
		return s.wrap("exec", err)
	}
	return nil
}
