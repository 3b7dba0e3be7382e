package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unyo-ops/unyo/alerting/ledger"
)

// The sample store's methods are the shared ones (package sqlstore); this
// file holds PostgreSQL's sample write.
var (
	_ ledger.SampleStore = (*Store)(nil)
	_ ledger.SketchStore = (*Store)(nil)
)

// addSamples stores samples with COPY and folds them into the rollups with
// one multi-row upsert, in the transaction tx. Series ids are made (or
// found) with one statement per batch. Rollup rows are upserted in key
// order so that two nodes writing at once lock them in the same order.
func addSamples(ctx context.Context, tx pgRunner, buckets []ledger.Bucket, kept []ledger.Sample) error {
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
}
