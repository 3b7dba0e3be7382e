package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
)

var (
	_ ledger.SampleStore = (*Store)(nil)
	_ ledger.SketchStore = (*Store)(nil)
)

// AddSamples stores samples and folds them into the rollups, in one
// transaction on the single write connection.
func (s *Store) AddSamples(ctx context.Context, samples []ledger.Sample) error {
	buckets, kept := ledger.Aggregate(samples)
	if len(kept) == 0 {
		return nil
	}
	return s.writeTx(ctx, "add samples", func(tx *sql.Tx) error {
		ids := map[ledger.SeriesKey]int64{}
		series, err := tx.PrepareContext(ctx, `INSERT INTO sample_series (target, name, labels) VALUES (?, ?, ?)
			ON CONFLICT (target, name, labels) DO UPDATE SET name = excluded.name RETURNING id`)
		if err != nil {
			return err
		}
		defer series.Close()
		id := func(k ledger.SeriesKey) (int64, error) {
			if v, ok := ids[k]; ok {
				return v, nil
			}
			var v int64
			if err := series.QueryRowContext(ctx, k.Target, k.Name, k.Labels).Scan(&v); err != nil {
				return 0, err
			}
			ids[k] = v
			return v, nil
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO samples (series_id, t, value) VALUES (?, ?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, x := range kept {
			sid, err := id(ledger.SeriesOf(x))
			if err != nil {
				return err
			}
			if _, err := ins.ExecContext(ctx, sid, micros(x.Time), x.Value); err != nil {
				return err
			}
		}
		up, err := tx.PrepareContext(ctx, `INSERT INTO sample_rollups (series_id, res, bucket, min, max, sum, count)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (series_id, res, bucket) DO UPDATE SET
				min = min(sample_rollups.min, excluded.min), max = max(sample_rollups.max, excluded.max),
				sum = sample_rollups.sum + excluded.sum, count = sample_rollups.count + excluded.count`)
		if err != nil {
			return err
		}
		defer up.Close()
		for _, b := range buckets {
			sid, err := id(b.Key.Series)
			if err != nil {
				return err
			}
			if _, err := up.ExecContext(ctx, sid, int64(b.Key.Resolution/time.Second), b.Key.Start, b.Min, b.Max, b.Sum, b.Count); err != nil {
				return err
			}
		}
		sk, err := tx.PrepareContext(ctx, `INSERT INTO sample_sketches (series_id, month, bucket, count) VALUES (?, ?, ?, ?)
			ON CONFLICT (series_id, month, bucket) DO UPDATE SET count = sample_sketches.count + excluded.count`)
		if err != nil {
			return err
		}
		defer sk.Close()
		for _, c := range ledger.AggregateSketch(kept) {
			sid, err := id(c.Series)
			if err != nil {
				return err
			}
			if _, err := sk.ExecContext(ctx, sid, c.Month, c.Bucket, c.Count); err != nil {
				return err
			}
		}
		return nil
	})
}

type seriesRow struct {
	id     int64
	key    ledger.SeriesKey
	labels map[string]string
}

// series returns the series the query selects.
func (s *Store) series(ctx context.Context, q ledger.SampleQuery) ([]seriesRow, error) {
	where, args := []string{"1 = 1"}, []any{}
	if q.Target != "" {
		where, args = append(where, "target = ?"), append(args, q.Target)
	}
	if q.Name != "" {
		where, args = append(where, "name = ?"), append(args, q.Name)
	}
	rows, err := s.r.QueryContext(ctx, "SELECT id, target, name, labels FROM sample_series WHERE "+strings.Join(where, " AND "), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []seriesRow
	for rows.Next() {
		var r seriesRow
		if err := rows.Scan(&r.id, &r.key.Target, &r.key.Name, &r.key.Labels); err != nil {
			return nil, err
		}
		r.labels = ledger.ParseLabelsKey(r.key.Labels)
		if ledger.LabelsMatch(r.labels, q.Labels) {
			out = append(out, r)
		}
	}
	return out, rows.Err()
}

func idList(ss []seriesRow) (string, map[int64]seriesRow) {
	var b strings.Builder
	m := make(map[int64]seriesRow, len(ss))
	for i, r := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, r.id)
		m[r.id] = r
	}
	return b.String(), m
}

func timeRange(col string, q ledger.SampleQuery) (string, []any) {
	var where []string
	var args []any
	if !q.From.IsZero() {
		where, args = append(where, col+" >= ?"), append(args, micros(q.From))
	}
	if !q.To.IsZero() {
		where, args = append(where, col+" < ?"), append(args, micros(q.To))
	}
	if len(where) == 0 {
		return "", nil
	}
	return " AND " + strings.Join(where, " AND "), args
}

// Samples returns raw samples, oldest first.
func (s *Store) Samples(ctx context.Context, q ledger.SampleQuery) ([]ledger.Sample, error) {
	limit, err := ledger.CheckQuery(q)
	if err != nil {
		return nil, err
	}
	ss, err := s.series(ctx, q)
	if err != nil || len(ss) == 0 {
		return nil, s.wrapNil("samples", err)
	}
	ids, byID := idList(ss)
	tr, args := timeRange("t", q)
	rows, err := s.r.QueryContext(ctx, "SELECT series_id, t, value FROM samples WHERE series_id IN ("+ids+")"+tr+
		" ORDER BY t, series_id LIMIT ?", append(args, limit)...)
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
		out = append(out, ledger.Sample{Target: r.key.Target, Name: r.key.Name, Labels: ledger.CloneLabels(r.labels), Value: v, Time: fromMicros(t)})
	}
	return out, s.wrapNil("samples", rows.Err())
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
	ss, err := s.series(ctx, q.SampleQuery)
	if err != nil || len(ss) == 0 {
		return nil, s.wrapNil("rollups", err)
	}
	ids, byID := idList(ss)
	// "+res" and "+bucket" keep SQLite on the primary key (series_id,
	// res, bucket): the (res, bucket) index would visit every series' rows
	// of the period and look each up in the table.
	tr, args := timeRange("+bucket", q.SampleQuery)
	rows, err := s.r.QueryContext(ctx, "SELECT series_id, bucket, min, max, sum, count FROM sample_rollups WHERE +res = ? AND series_id IN ("+ids+")"+tr+
		" ORDER BY bucket, series_id LIMIT ?", append(append([]any{int64(q.Resolution / time.Second)}, args...), limit)...)
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
		r.Target, r.Name, r.Labels, r.Start = sr.key.Target, sr.key.Name, ledger.CloneLabels(sr.labels), fromMicros(b)
		out = append(out, r)
	}
	return out, s.wrapNil("rollups", rows.Err())
}

// Sketches returns the monthly sketch cells of the selected series.
func (s *Store) Sketches(ctx context.Context, q ledger.SampleQuery) ([]ledger.SketchRow, error) {
	limit, err := ledger.CheckQuery(q)
	if err != nil {
		return nil, err
	}
	ss, err := s.series(ctx, q)
	if err != nil || len(ss) == 0 {
		return nil, s.wrapNil("sketches", err)
	}
	ids, byID := idList(ss)
	// "+month": by the primary key (series_id, month, bucket), not the
	// month index, which would visit every series of the months.
	tr, args := timeRange("+month", q)
	rows, err := s.r.QueryContext(ctx, "SELECT series_id, month, bucket, count FROM sample_sketches WHERE series_id IN ("+ids+")"+tr+
		" ORDER BY series_id, month, bucket LIMIT ?", append(args, limit)...)
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
		r.Target, r.Name, r.Labels, r.Month = sr.key.Target, sr.key.Name, ledger.CloneLabels(sr.labels), fromMicros(m)
		out = append(out, r)
	}
	return out, s.wrapNil("sketches", rows.Err())
}

// PurgeSketches deletes the sketches of months that started before before.
func (s *Store) PurgeSketches(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.writeTx(ctx, "purge sketches", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM sample_sketches WHERE month < ?", micros(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// PurgeSamples deletes raw samples older than before.
func (s *Store) PurgeSamples(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.writeTx(ctx, "purge samples", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM samples WHERE t < ?", micros(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
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
	err := s.writeTx(ctx, "purge rollups", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM sample_rollups WHERE res = ? AND bucket < ?", int64(resolution/time.Second), micros(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

func (s *Store) wrapNil(op string, err error) error {
	if err == nil {
		return nil
	}
	return s.wrap(op, err)
}
