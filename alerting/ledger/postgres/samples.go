package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unyo-ops/unyo/alerting/ledger"
)

var (
	_ ledger.SampleStore = (*Store)(nil)
	_ ledger.SketchStore = (*Store)(nil)
)

// AddSamples stores samples with COPY and folds them into the rollups with
// one multi-row upsert, in one transaction. Series ids are made (or found)
// with one statement per batch. Rollup rows are upserted in key order so
// that two nodes writing at once lock them in the same order.
func (s *Store) AddSamples(ctx context.Context, samples []ledger.Sample) error {
	buckets, kept := ledger.Aggregate(samples)
	if len(kept) == 0 {
		return nil
	}
	return s.tx(ctx, "add samples", func(tx pgx.Tx) error {
		keys := map[ledger.SeriesKey]int64{}
		var ts, ns, ls []string
		for _, b := range buckets {
			if _, ok := keys[b.Key.Series]; !ok {
				keys[b.Key.Series] = 0
				ts, ns, ls = append(ts, b.Key.Series.Target), append(ns, b.Key.Series.Name), append(ls, b.Key.Series.Labels)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO sample_series (target, name, labels)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ORDER BY 1, 2, 3
			ON CONFLICT (target, name, labels) DO NOTHING`, ts, ns, ls); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT s.id, s.target, s.name, s.labels FROM sample_series s
			JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(target, name, labels)
			ON s.target = k.target AND s.name = k.name AND s.labels = k.labels`, ts, ns, ls)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			var k ledger.SeriesKey
			if err := rows.Scan(&id, &k.Target, &k.Name, &k.Labels); err != nil {
				rows.Close()
				return err
			}
			keys[k] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		i := 0
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"samples"}, []string{"series_id", "t", "value"},
			pgx.CopyFromFunc(func() ([]any, error) {
				if i == len(kept) {
					return nil, nil
				}
				x := kept[i]
				i++
				return []any{keys[ledger.SeriesOf(x)], x.Time.UnixMicro(), x.Value}, nil
			})); err != nil {
			return err
		}
		n := len(buckets)
		ids, res, starts := make([]int64, n), make([]int32, n), make([]int64, n)
		mins, maxs, sums, counts := make([]float64, n), make([]float64, n), make([]float64, n), make([]int64, n)
		for j, b := range buckets {
			ids[j], res[j], starts[j] = keys[b.Key.Series], int32(b.Key.Resolution/time.Second), b.Key.Start
			mins[j], maxs[j], sums[j], counts[j] = b.Min, b.Max, b.Sum, b.Count
		}
		_, err = tx.Exec(ctx, `INSERT INTO sample_rollups (series_id, res, bucket, min, max, sum, count)
			SELECT * FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::float8[], $5::float8[], $6::float8[], $7::bigint[])
			ORDER BY 1, 2, 3
			ON CONFLICT (series_id, res, bucket) DO UPDATE SET
				min = least(sample_rollups.min, excluded.min), max = greatest(sample_rollups.max, excluded.max),
				sum = sample_rollups.sum + excluded.sum, count = sample_rollups.count + excluded.count`,
			ids, res, starts, mins, maxs, sums, counts)
		if err != nil {
			return err
		}
		cells := ledger.AggregateSketch(kept)
		n = len(cells)
		sids, months, bs, cs := make([]int64, n), make([]int64, n), make([]int32, n), make([]int64, n)
		for j, c := range cells {
			sids[j], months[j], bs[j], cs[j] = keys[c.Series], c.Month, c.Bucket, c.Count
		}
		_, err = tx.Exec(ctx, `INSERT INTO sample_sketches (series_id, month, bucket, count)
			SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::bigint[])
			ORDER BY 1, 2, 3
			ON CONFLICT (series_id, month, bucket) DO UPDATE SET count = sample_sketches.count + excluded.count`,
			sids, months, bs, cs)
		return err
	})
}

type seriesRow struct {
	target, name string
	labels       map[string]string
}

// series returns the ids and rows of the series the query selects.
func (s *Store) series(ctx context.Context, q ledger.SampleQuery) ([]int64, map[int64]seriesRow, error) {
	where, args := []string{"true"}, []any{}
	if q.Target != "" {
		args = append(args, q.Target)
		where = append(where, fmt.Sprintf("target = $%d", len(args)))
	}
	if q.Name != "" {
		args = append(args, q.Name)
		where = append(where, fmt.Sprintf("name = $%d", len(args)))
	}
	rows, err := s.pool.Query(ctx, "SELECT id, target, name, labels FROM sample_series WHERE "+strings.Join(where, " AND "), args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var ids []int64
	m := map[int64]seriesRow{}
	for rows.Next() {
		var id int64
		var r seriesRow
		var l string
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

func timeRange(col string, q ledger.SampleQuery, args []any) (string, []any) {
	var b strings.Builder
	if !q.From.IsZero() {
		args = append(args, q.From.UnixMicro())
		fmt.Fprintf(&b, " AND %s >= $%d", col, len(args))
	}
	if !q.To.IsZero() {
		args = append(args, q.To.UnixMicro())
		fmt.Fprintf(&b, " AND %s < $%d", col, len(args))
	}
	return b.String(), args
}

// Samples returns raw samples, oldest first.
func (s *Store) Samples(ctx context.Context, q ledger.SampleQuery) ([]ledger.Sample, error) {
	limit, err := ledger.CheckQuery(q)
	if err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	ids, byID, err := s.series(ctx, q)
	if err != nil {
		return nil, s.wrap("samples", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	tr, args := timeRange("t", q, []any{ids})
	args = append(args, limit)
	rows, err := s.pool.Query(ctx, "SELECT series_id, t, value FROM samples WHERE series_id = ANY($1)"+tr+
		fmt.Sprintf(" ORDER BY t, series_id LIMIT $%d", len(args)), args...)
	if err != nil {
		return nil, s.wrap("samples", err)
	}
	defer rows.Close()
	var out []ledger.Sample
	for rows.Next() {
		var id, t int64
		var v float64
		if err := rows.Scan(&id, &t, &v); err != nil {
			return nil, s.wrap("samples", err)
		}
		r := byID[id]
		out = append(out, ledger.Sample{Target: r.target, Name: r.name, Labels: ledger.CloneLabels(r.labels), Value: v, Time: time.UnixMicro(t).UTC()})
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("samples", err)
	}
	return out, nil
}

// Rollups returns rollups of one resolution, oldest bucket first.
func (s *Store) Rollups(ctx context.Context, q ledger.RollupQuery) ([]ledger.Rollup, error) {
	limit, err := ledger.CheckQuery(q.SampleQuery)
	if err != nil {
		return nil, err
	}
	if !ledger.ValidResolution(q.Resolution) {
		return nil, fmt.Errorf("%w: resolution %s: want 1m, 1h or 24h", ledger.ErrBadQuery, q.Resolution)
	}
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	ids, byID, err := s.series(ctx, q.SampleQuery)
	if err != nil {
		return nil, s.wrap("rollups", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	tr, args := timeRange("bucket", q.SampleQuery, []any{ids, int32(q.Resolution / time.Second)})
	args = append(args, limit)
	rows, err := s.pool.Query(ctx, "SELECT series_id, bucket, min, max, sum, count FROM sample_rollups WHERE series_id = ANY($1) AND res = $2"+tr+
		fmt.Sprintf(" ORDER BY bucket, series_id LIMIT $%d", len(args)), args...)
	if err != nil {
		return nil, s.wrap("rollups", err)
	}
	defer rows.Close()
	var out []ledger.Rollup
	for rows.Next() {
		var id, b int64
		r := ledger.Rollup{Resolution: q.Resolution}
		if err := rows.Scan(&id, &b, &r.Min, &r.Max, &r.Sum, &r.Count); err != nil {
			return nil, s.wrap("rollups", err)
		}
		sr := byID[id]
		r.Target, r.Name, r.Labels, r.Start = sr.target, sr.name, ledger.CloneLabels(sr.labels), time.UnixMicro(b).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("rollups", err)
	}
	return out, nil
}

// Sketches returns the monthly sketch cells of the selected series.
func (s *Store) Sketches(ctx context.Context, q ledger.SampleQuery) ([]ledger.SketchRow, error) {
	limit, err := ledger.CheckQuery(q)
	if err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	ids, byID, err := s.series(ctx, q)
	if err != nil {
		return nil, s.wrap("sketches", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	tr, args := timeRange("month", q, []any{ids})
	args = append(args, limit)
	rows, err := s.pool.Query(ctx, "SELECT series_id, month, bucket, count FROM sample_sketches WHERE series_id = ANY($1)"+tr+
		fmt.Sprintf(" ORDER BY series_id, month, bucket LIMIT $%d", len(args)), args...)
	if err != nil {
		return nil, s.wrap("sketches", err)
	}
	defer rows.Close()
	var out []ledger.SketchRow
	for rows.Next() {
		var id, m int64
		var r ledger.SketchRow
		if err := rows.Scan(&id, &m, &r.Bucket, &r.Count); err != nil {
			return nil, s.wrap("sketches", err)
		}
		sr := byID[id]
		r.Target, r.Name, r.Labels, r.Month = sr.target, sr.name, ledger.CloneLabels(sr.labels), time.UnixMicro(m).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("sketches", err)
	}
	return out, nil
}

// PurgeSketches deletes the sketches of months that started before before.
func (s *Store) PurgeSketches(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.tx(ctx, "purge sketches", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM sample_sketches WHERE month < $1", before.UnixMicro())
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// PurgeSamples deletes raw samples older than before.
func (s *Store) PurgeSamples(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.tx(ctx, "purge samples", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM samples WHERE t < $1", before.UnixMicro())
		n = tag.RowsAffected()
		return err
	})
	return n, err
}

// PurgeRollups deletes rollups of one resolution whose bucket started
// before before.
func (s *Store) PurgeRollups(ctx context.Context, resolution time.Duration, before time.Time) (int64, error) {
	if !ledger.ValidResolution(resolution) {
		return 0, fmt.Errorf("%w: resolution %s: want 1m, 1h or 24h", ledger.ErrBadQuery, resolution)
	}
	var n int64
	err := s.tx(ctx, "purge rollups", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "DELETE FROM sample_rollups WHERE res = $1 AND bucket < $2", int32(resolution/time.Second), before.UnixMicro())
		n = tag.RowsAffected()
		return err
	})
	return n, err
}
