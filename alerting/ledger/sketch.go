package ledger

import (
	"cmp"
	"context"
	"math"
	"slices"
	"time"
)

// A sketch keeps, per series and UTC calendar month, how many samples fell
// into each logarithmic value bucket, so a month's percentiles (p95) are
// known without its raw samples, within SketchRelativeError of the value.
// Bucket boundaries are powers of SketchGamma: a positive value v falls in
// bucket i = ceil(log_γ v), the range (γ^(i-1), γ^i], whose representative
// 2γ^i/(γ+1) is within (γ−1)/(γ+1) of every value in it. Zero (|v| below
// 1e-12) has its own bucket and a negative value mirrors its absolute
// value's. Buckets merge by adding counts, exactly, like the rollups.
const (
	SketchGamma = 1.02
	// SketchRelativeError bounds |estimate − true| / |true| of a quantile
	// read from a sketch: (γ−1)/(γ+1).
	SketchRelativeError = (SketchGamma - 1) / (SketchGamma + 1)
	sketchOffset        = 10001 // bucket numbers of positive values start here
	sketchMaxIndex      = 5000  // |log_γ v| beyond this is clamped (γ^5000 ≈ 1e43)
)

var logGamma = math.Log(SketchGamma)

// SketchBucket returns the bucket number of v (see the sketch comment).
func SketchBucket(v float64) int32 {
	switch {
	case math.Abs(v) < 1e-12:
		return 0
	case v < 0:
		return -SketchBucket(-v)
	}
	i := math.Ceil(math.Log(v) / logGamma)
	// log may land a hair above an exact power: keep γ^(i-1) < v.
	if math.Pow(SketchGamma, i-1) >= v {
		i--
	}
	i = max(-sketchMaxIndex, min(sketchMaxIndex, i))
	return int32(i) + sketchOffset
}

// SketchValue is the representative value of bucket b.
func SketchValue(b int32) float64 {
	switch {
	case b == 0:
		return 0
	case b < 0:
		return -SketchValue(-b)
	}
	i := float64(b - sketchOffset)
	return 2 * math.Pow(SketchGamma, i) / (SketchGamma + 1)
}

// MonthStart is the start of v's UTC calendar month.
func MonthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// Sketch is a mergeable value distribution: bucket → count.
type Sketch map[int32]int64

// Add counts n samples of bucket b.
func (s Sketch) Add(b int32, n int64) { s[b] += n }

// Merge adds o's counts.
func (s Sketch) Merge(o Sketch) {
	for b, n := range o {
		s[b] += n
	}
}

// Count is the number of samples.
func (s Sketch) Count() int64 {
	var n int64
	for _, c := range s {
		n += c
	}
	return n
}

// Quantile returns the nearest-rank q-quantile (0 < q ≤ 1): the
// representative value of the bucket holding the ⌈q·n⌉-th smallest sample;
// NaN when empty.
func (s Sketch) Quantile(q float64) float64 {
	n := s.Count()
	if n == 0 {
		return math.NaN()
	}
	rank := int64(math.Ceil(q * float64(n)))
	rank = max(1, min(n, rank))
	bs := make([]int32, 0, len(s))
	for b := range s {
		bs = append(bs, b)
	}
	// Bucket numbers order as their values: negative ones mirror positive
	// ones (all above sketchOffset-sketchMaxIndex > 0) and zero is 0.
	slices.Sort(bs)
	var seen int64
	for _, b := range bs {
		seen += s[b]
		if seen >= rank {
			return SketchValue(b)
		}
	}
	return SketchValue(bs[len(bs)-1])
}

// SketchCell is one stored sketch row: a series' count in one bucket of
// one month.
type SketchCell struct {
	Series SeriesKey
	Month  int64 // microseconds since the Unix epoch of the UTC month start
	Bucket int32
	Count  int64
}

// SketchRow is a sketch cell as read back.
type SketchRow struct {
	Target string            `json:"target"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Month  time.Time         `json:"month"`
	Bucket int32             `json:"bucket"`
	Count  int64             `json:"count"`
}

// SketchStore is an optional interface of a SampleStore that also keeps
// monthly sketches (both stores in this module do). Rules
// (ledgertest.RunSamples checks them):
//   - AddSamples folds every kept sample into its series' sketch of its
//     UTC month, in the same transaction (cells from AggregateSketch).
//   - Sketches returns the cells of the series the query selects whose
//     month start is in [From, To) (zero: unbounded), ordered by series
//     (in the store's order), month and bucket; Limit as for samples (0:
//     10000).
//   - PurgeSketches deletes the months that started before before.
type SketchStore interface {
	Sketches(ctx context.Context, q SampleQuery) ([]SketchRow, error)
	PurgeSketches(ctx context.Context, before time.Time) (int64, error)
}

// AggregateSketch folds kept samples (see Aggregate) into sketch cells,
// sorted by series, month and bucket.
func AggregateSketch(kept []Sample) []SketchCell {
	type key struct {
		s      SeriesKey
		month  int64
		bucket int32
	}
	idx := map[key]int{}
	var out []SketchCell
	for _, s := range kept {
		k := key{SeriesOf(s), MonthStart(s.Time).UnixMicro(), SketchBucket(s.Value)}
		if i, ok := idx[k]; ok {
			out[i].Count++
			continue
		}
		idx[k] = len(out)
		out = append(out, SketchCell{Series: k.s, Month: k.month, Bucket: k.bucket, Count: 1})
	}
	slices.SortFunc(out, func(a, b SketchCell) int {
		return cmp.Or(cmp.Compare(a.Series.Target, b.Series.Target), cmp.Compare(a.Series.Name, b.Series.Name),
			cmp.Compare(a.Series.Labels, b.Series.Labels), cmp.Compare(a.Month, b.Month), cmp.Compare(a.Bucket, b.Bucket))
	})
	return out
}
