package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
)

// The sample store's methods are the shared ones (package sqlstore); this
// file holds SQLite's sample write.
var (
	_ ledger.SampleStore = (*Store)(nil)
	_ ledger.SketchStore = (*Store)(nil)
)

// addSamples stores samples and folds them into the rollups and sketches,
// in the write transaction tx on the single write connection.
func addSamples(ctx context.Context, tx *sql.Tx, buckets []ledger.Bucket, kept []ledger.Sample) error {
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
}
