package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
)

func (c *Core) runCols() string {
	return `id, jobnet, scheduled, trigger, ` + c.schema.By + `, params, parent, status, created, ended, gen`
}

// RecordRun implements ledger.RunHistoryStore.
func (c *Core) RecordRun(ctx context.Context, r ledger.RunRecord) error {
	params, err := plan.RunParams(r.Params)
	if err != nil {
		return err
	}
	d, where := c.d, c.schema.RunWhere
	return c.writeTx(ctx, "record run", func(tx DB) error {
		if _, err := tx.Exec(ctx, `INSERT INTO job_runs (`+c.runCols()+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET status = excluded.status, ended = excluded.ended, gen = excluded.gen`,
			r.ID, r.Jobnet, d.KeepTime(r.Scheduled), r.Trigger, r.By, string(params), r.Parent, r.Status,
			d.KeepTime(r.Created), d.OptTime(r.Ended), r.Gen); err != nil {
			return err
		}
		for _, j := range r.Jobs {
			var code any
			if j.Code != nil {
				code = *j.Code
			}
			if _, err := tx.Exec(ctx, `INSERT INTO job_run_jobs (run, job, attempt, state, code, `+where+`, started, ended, output, reason)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (run, job, attempt) DO UPDATE SET state = excluded.state, code = excluded.code,
				`+where+` = excluded.`+where+`, started = excluded.started, ended = excluded.ended,
				output = excluded.output, reason = excluded.reason`,
				r.ID, j.Job, j.Attempt, j.State, code, j.Where, d.OptTime(j.Started), d.OptTime(j.Ended), j.Output, j.Reason); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *Core) scanRun(row Row) (ledger.RunRecord, error) {
	var (
		r      ledger.RunRecord
		params []byte
		d      = c.d
	)
	if err := row.Scan(&r.ID, &r.Jobnet, d.ScanOptTime(&r.Scheduled), &r.Trigger, &r.By, &params, &r.Parent, &r.Status,
		d.ScanOptTime(&r.Created), d.ScanOptTime(&r.Ended), &r.Gen); err != nil {
		return r, err
	}
	if len(params) > 0 {
		_ = json.Unmarshal(params, &r.Params)
	}
	if len(r.Params) == 0 {
		r.Params = nil
	}
	return r, nil
}

// Runs implements ledger.RunHistoryStore.
func (c *Core) Runs(ctx context.Context, f ledger.RunFilter) ([]ledger.RunRecord, error) {
	if c.closed.Load() {
		return nil, ledger.ErrClosed
	}
	q := "SELECT " + c.runCols() + " FROM job_runs"
	var args []any
	if f.Jobnet != "" {
		q += " WHERE jobnet = ?"
		args = append(args, f.Jobnet)
	}
	rows, err := c.read.Query(ctx, q+" ORDER BY created DESC, id DESC LIMIT ?", append(args, plan.RunLimit(f.Limit))...)
	out, err := collect(rows, err, c.scanRun)
	return out, c.wrapNil("runs", err)
}

// RunDetail implements ledger.RunHistoryStore.
func (c *Core) RunDetail(ctx context.Context, id string) (ledger.RunRecord, error) {
	if c.closed.Load() {
		return ledger.RunRecord{}, ledger.ErrClosed
	}
	r, err := c.scanRun(c.read.QueryRow(ctx, "SELECT "+c.runCols()+" FROM job_runs WHERE id = ?", id))
	if c.d.NoRows(err) {
		return r, fmt.Errorf("%s: %w", c.d.Name(), plan.NoRun(id))
	}
	if err != nil {
		return r, c.wrap("run", err)
	}
	d := c.d
	rows, err := c.read.Query(ctx, `SELECT job, attempt, state, code, `+c.schema.RunWhere+`, started, ended, output, reason
		FROM job_run_jobs WHERE run = ? ORDER BY attempt, `+c.schema.JobOrder, id)
	jobs, err := collect(rows, err, func(row Row) (ledger.JobRecord, error) {
		j := ledger.JobRecord{Run: id}
		err := row.Scan(&j.Job, &j.Attempt, &j.State, &j.Code, &j.Where, d.ScanOptTime(&j.Started), d.ScanOptTime(&j.Ended),
			&j.Output, &j.Reason)
		return j, err
	})
	if err != nil {
		return r, c.wrap("run", err)
	}
	r.Jobs = jobs
	return r, nil
}
