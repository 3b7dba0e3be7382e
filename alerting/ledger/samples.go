package ledger

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"slices"
	"time"
)

// Rollup resolutions. Buckets start at multiples of the resolution since
// the Unix epoch, so day buckets are UTC days.
const (
	Minute = time.Minute
	Hour   = time.Hour
	Day    = 24 * time.Hour
)

// Resolutions lists the rollup resolutions every SampleStore keeps.
var Resolutions = []time.Duration{Minute, Hour, Day}

// ErrBadQuery: a sample or rollup query asks for something the store does
// not keep (an unknown resolution, an inverted time range).
var ErrBadQuery = errors.New("ledger: bad sample query")

// Sample is one measured value of a series (target, name, labels).
type Sample struct {
	Target string            `json:"target"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	Value  float64           `json:"value"`
	Time   time.Time         `json:"time"`
}

// Rollup summarises the samples of one series in one bucket
// [Start, Start+Resolution).
type Rollup struct {
	Target     string            `json:"target"`
	Name       string            `json:"name"`
	Labels     map[string]string `json:"labels,omitempty"`
	Resolution time.Duration     `json:"resolution"`
	Start      time.Time         `json:"start"`
	Min        float64           `json:"min"`
	Max        float64           `json:"max"`
	Sum        float64           `json:"sum"`
	Count      int64             `json:"count"`
}

// Avg is the mean of the bucket's samples.
func (r Rollup) Avg() float64 {
	if r.Count == 0 {
		return math.NaN()
	}
	return r.Sum / float64(r.Count)
}

// SampleQuery selects samples: zero values select everything. Labels
// selects series whose labels include every given pair.
type SampleQuery struct {
	Target string
	Name   string
	Labels map[string]string
	From   time.Time // inclusive; zero: no lower bound
	To     time.Time // exclusive; zero: no upper bound
	// Limit caps the rows returned (0 means 10000), oldest first.
	Limit int
}

// RollupQuery selects rollups of one resolution; From and To compare with
// the bucket start.
type RollupQuery struct {
	SampleQuery
	Resolution time.Duration
}

// SampleStore keeps metric samples and their rollups. It is an optional
// interface: a Store that implements it (both stores in this module do)
// receives the monitor's samples. Every method is safe for concurrent use.
//
// Rules every implementation keeps (ledgertest.RunSamples checks them):
//   - AddSamples stores the batch in one transaction and, in the same
//     transaction, folds it into the 1 minute, 1 hour and 1 day rollups
//     (min, max, sum, count per series and bucket). Rollups are maintained
//     incrementally, so they are exact at every commit and a purge of raw
//     samples leaves them as they were.
//   - Samples and Rollups return rows oldest first (series by target, name,
//     labels within one time); a series' labels are compared as a set, so
//     map order never makes two series.
//   - PurgeSamples deletes raw samples older than before; PurgeRollups
//     deletes rollups of one resolution whose bucket started before before.
//     Both return the number of rows deleted.
//   - Values that are NaN or infinite are not stored (AddSamples skips
//     them); times are kept to the microsecond.
type SampleStore interface {
	AddSamples(ctx context.Context, samples []Sample) error
	Samples(ctx context.Context, q SampleQuery) ([]Sample, error)
	Rollups(ctx context.Context, q RollupQuery) ([]Rollup, error)
	PurgeSamples(ctx context.Context, before time.Time) (int64, error)
	PurgeRollups(ctx context.Context, resolution time.Duration, before time.Time) (int64, error)
}

// LabelsKey is the canonical text of a label set, as stores keep it: JSON
// with sorted keys, "{}" for none.
func LabelsKey(l map[string]string) string {
	if len(l) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(l) // maps marshal with sorted keys
	return string(b)
}

// ParseLabelsKey is the inverse of LabelsKey (nil for "{}").
func ParseLabelsKey(s string) map[string]string {
	if s == "" || s == "{}" {
		return nil
	}
	var l map[string]string
	if json.Unmarshal([]byte(s), &l) != nil {
		return nil
	}
	return l
}

// SeriesKey identifies a series.
type SeriesKey struct {
	Target, Name, Labels string // Labels as LabelsKey
}

// SeriesOf returns the key of a sample's series.
func SeriesOf(s Sample) SeriesKey {
	return SeriesKey{Target: s.Target, Name: s.Name, Labels: LabelsKey(s.Labels)}
}

// BucketKey is one rollup row: a series, a resolution and a bucket start.
type BucketKey struct {
	Series     SeriesKey
	Resolution time.Duration
	Start      int64 // microseconds since the Unix epoch
}

// Bucket is an aggregate a store merges into its stored rollup row.
type Bucket struct {
	Key      BucketKey
	Min, Max float64
	Sum      float64
	Count    int64
}

// Aggregate folds samples into one Bucket per series, resolution and
// bucket, sorted by key (so stores that lock rows take them in one order).
// Samples with NaN or infinite values are left out; kept returns the rest.
func Aggregate(samples []Sample) (buckets []Bucket, kept []Sample) {
	idx := map[BucketKey]int{}
	for _, s := range samples {
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			continue
		}
		kept = append(kept, s)
		sk := SeriesOf(s)
		us := s.Time.UnixMicro()
		for _, res := range Resolutions {
			r := res.Microseconds()
			start := us - ((us%r)+r)%r
			k := BucketKey{Series: sk, Resolution: res, Start: start}
			if i, ok := idx[k]; ok {
				b := &buckets[i]
				b.Min, b.Max = min(b.Min, s.Value), max(b.Max, s.Value)
				b.Sum += s.Value
				b.Count++
				continue
			}
			idx[k] = len(buckets)
			buckets = append(buckets, Bucket{Key: k, Min: s.Value, Max: s.Value, Sum: s.Value, Count: 1})
		}
	}
	slices.SortFunc(buckets, func(a, b Bucket) int {
		return cmp.Or(cmp.Compare(a.Key.Series.Target, b.Key.Series.Target), cmp.Compare(a.Key.Series.Name, b.Key.Series.Name),
			cmp.Compare(a.Key.Series.Labels, b.Key.Series.Labels), cmp.Compare(a.Key.Resolution, b.Key.Resolution),
			cmp.Compare(a.Key.Start, b.Key.Start))
	})
	return buckets, kept
}

// ValidResolution reports whether res is one of Resolutions.
func ValidResolution(res time.Duration) bool { return slices.Contains(Resolutions, res) }

// LabelsMatch reports whether have includes every pair of want.
func LabelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// CheckQuery validates a query and returns its limit.
func CheckQuery(q SampleQuery) (int, error) {
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		return 0, errors.Join(ErrBadQuery, errors.New("to before from"))
	}
	if q.Limit < 0 {
		return 0, errors.Join(ErrBadQuery, errors.New("negative limit"))
	}
	if q.Limit == 0 {
		return 10000, nil
	}
	return q.Limit, nil
}

// CloneLabels copies a label map (nil for none).
func CloneLabels(l map[string]string) map[string]string {
	if len(l) == 0 {
		return nil
	}
	return maps.Clone(l)
}
