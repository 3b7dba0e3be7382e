package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
)

// AddSamples stores samples and folds them into the rollups and sketches,
// in one transaction.
func (c *Core) AddSamples(ctx context.Context, samples []ledger.Sample) error {
	buckets, kept := ledger.Aggregate(samples)
	if len(kept) == 0 {
		return nil
	}
	return c.writeTx(ctx, "add samples", func(tx DB) error { return c.bulk.AddSamples(ctx, tx, buckets, kept) })
}

type seriesRow struct {
	target, name string
	labels       map[string]string
}

// series returns the ids and rows of the series the query selects.
func (c *Core) series(ctx context.Context, q ledger.SampleQuery) ([]int64, map[int64]seriesRow, error) {
	where, args := []string{"1 = 1"}, []any{}
	if q.Target != "" {
		where, args = append(where, "target = ?"), append(args, q.Target)
	}
	if q.Name != "" {
		where, args = append(where, "name = ?"), append(args, q.Name)
	}
	rows, err := c.read.Query(ctx, "SELECT id, target, name, labels FROM sample_series WHERE "+strings.Join(where, " AND "), args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var ids []int64
	m := map[int64]seriesRow{}
	for rows.Next() {
		var (
			id int64
			r  seriesRow
			l  string
		)
		if err := rows.Scan(&id, &r.target, &r.name, &l); err != nil {
			return nil, nil, err
		}
		r.labels = ledger.ParseLabelsKey(l)
		if ledger.LabelsMatch(r.labels, q.Labels) {
			ids = append(ids, id)
			m[id] = r
		}
	}
	return ids, m, rows.Err()
}

// timeRange is the query's time bounds on col (microseconds), with args.
func timeRange(col string, q ledger.SampleQuery, args []any) (string, []any) {
	var b strings.Builder
	if !q.From.IsZero() {
		b.WriteString(" AND " + col + " >= ?")
		args = append(args, q.From.UnixMicro())
	}
	if !q.To.IsZero() {
		b.WriteString(" AND " + col + " < ?")
		args = append(args, q.To.UnixMicro())
	}
	return b.String(), args
}

// selectSeries runs the per-series query of op: head is the statement up
// to WHERE, cond what follows the series condition (with ? for args), and
// tail the ORDER BY; the selected series' ids are the first condition.
// It returns nil and no error when no series matches.
func (c *Core) selectSeries(ctx context.Context, op string, q ledger.SampleQuery, head string, pre []any, timeCol, tail string,
	limit int, scan func(r Row, byID map[int64]seriesRow) error) error {
	if c.closed.Load() {
		return ledger.ErrClosed
	}
	ids, byID, err := c.series(ctx, q)
	if err != nil {
		return c.wrap(op, err)
	}
	if len(ids) == 0 {
		return nil
	}
	in, args := c.d.InInt64s("series_id", ids)
	tr, args := timeRange(timeCol, q, append(pre, args...))
	rows, err := c.read.Query(ctx, head+in+tr+tail+" LIMIT ?", append(args, limit)...)
	if err != nil {
		return c.wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows, byID); err != nil {
			return c.wrap(op, err)
		}
	}
	return c.wrapNil(op, rows.Err())
}

// Samples returns raw samples, oldest first.
func (c *Core) Samples(ctx context.Context, q ledger.SampleQuery) ([]ledger.Sample, error) {
	limit, err := ledger.CheckQuery(q)
	if err != nil {
		return nil, err
	}
	var out []ledger.Sample
	err = c.selectSeries(ctx, "samples", q, "SELECT series_id, t, value FROM samples WHERE ", nil, "t",
		" ORDER BY t, series_id", limit, func(row Row, byID map[int64]seriesRow) error {
			var id, t int64
			var v float64
			if err := row.Scan(&id, &t, &v); err != nil {
				return err
			}
			r := byID[id]
			out = append(out, ledger.Sample{Target: r.target, Name: r.name, Labels: ledger.CloneLabels(r.labels), Value: v,
				Time: time.UnixMicro(t).UTC()})
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Rollups returns rollups of one resolution, oldest bucket first.
func (c *Core) Rollups(ctx context.Context, q ledger.RollupQuery) ([]ledger.Rollup, error) {
	limit, err := ledger.CheckQuery(q.SampleQuery)
	if err != nil {
		return nil, err
	}
	if !ledger.ValidResolution(q.Resolution) {
		return nil, fmt.Errorf("%w: resolution %s: want 1m, 1h or 24h", ledger.ErrBadQuery, q.Resolution)
	}
	// Unindexed res and bucket keep SQLite on the primary key (series_id,
	// res, bucket): the (res, bucket) index would visit every series' rows
	// of the period and look each up in the table.
	u := c.schema.Unindexed
	var out []ledger.Rollup
	err = c.selectSeries(ctx, "rollups", q.SampleQuery,
		"SELECT series_id, bucket, min, max, sum, count FROM sample_rollups WHERE "+u+"res = ? AND ",
		[]any{int64(q.Resolution / time.Second)}, u+"bucket", " ORDER BY bucket, series_id", limit,
		func(row Row, byID map[int64]seriesRow) error {
			var id, b int64
			r := ledger.Rollup{Resolution: q.Resolution}
			if err := row.Scan(&id, &b, &r.Min, &r.Max, &r.Sum, &r.Count); err != nil {
				return err
			}
			sr := byID[id]
			r.Target, r.Name, r.Labels, r.Start = sr.target, sr.name, ledger.CloneLabels(sr.labels), time.UnixMicro(b).UTC()
			out = append(out, r)
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Sketches returns the monthly sketch cells of the selected series.
func (c *Core) Sketches(ctx context.Context, q ledger.SampleQuery) ([]ledger.SketchRow, error) {
	limit, err := ledger.CheckQuery(q)
	if err != nil {
		return nil, err
	}
	// Unindexed month: by the primary key (series_id, month, bucket), not
	// the month index, which would visit every series of the months.
	var out []ledger.SketchRow
	err = c.selectSeries(ctx, "sketches", q, "SELECT series_id, month, bucket, count FROM sample_sketches WHERE ", nil,
		c.schema.Unindexed+"month", " ORDER BY series_id, month, bucket", limit,
		func(row Row, byID map[int64]seriesRow) error {
			var id, m int64
			var r ledger.SketchRow
			if err := row.Scan(&id, &m, &r.Bucket, &r.Count); err != nil {
				return err
			}
			sr := byID[id]
			r.Target, r.Name, r.Labels, r.Month = sr.target, sr.name, ledger.CloneLabels(sr.labels), time.UnixMicro(m).UTC()
			out = append(out, r)
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// purge runs a DELETE of op in a write transaction and returns its count.
func (c *Core) purge(ctx context.Context, op, q string, args ...any) (int64, error) {
	var n int64
	err := c.writeTx(ctx, op, func(tx DB) error {
		var err error
		n, err = tx.Exec(ctx, q, args...)
		return err
	})
	return n, err
}

// PurgeSketches deletes the sketches of months that started before before.
func (c *Core) PurgeSketches(ctx context.Context, before time.Time) (int64, error) {
	return c.purge(ctx, "purge sketches", "DELETE FROM sample_sketches WHERE month < ?", before.UnixMicro())
}

// PurgeSamples deletes raw samples older than before.
func (c *Core) PurgeSamples(ctx context.Context, before time.Time) (int64, error) {
	return c.purge(ctx, "purge samples", "DELETE FROM samples WHERE t < ?", before.UnixMicro())
}

// PurgeRollups deletes rollups of one resolution whose bucket started
// before before.
func (c *Core) PurgeRollups(ctx context.Context, resolution time.Duration, before time.Time) (int64, error) {
	if !ledger.ValidResolution(resolution) {
		return 0, fmt.Errorf("%w: resolution %s: want 1m, 1h or 24h", ledger.ErrBadQuery, resolution)
	}
	return c.purge(ctx, "purge rollups", "DELETE FROM sample_rollups WHERE res = ? AND bucket < ?",
		int64(resolution/time.Second), before.UnixMicro())
}
