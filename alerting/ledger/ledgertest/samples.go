package ledgertest

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
)

// RunSamples runs the conformance suite of ledger.SampleStore. open must
// return a new, empty store that implements it.
func RunSamples(t *testing.T, open func(t *testing.T) ledger.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, ss ledger.SampleStore)
	}{
		{"RoundTrip", testSamplesRoundTrip},
		{"LabelsAreASet", testSamplesLabels},
		{"RollupsExact", testRollupsExact},
		{"RollupsIncremental", testRollupsIncremental},
		{"PurgeKeepsRollups", testPurge},
		{"BadQueries", testBadQueries},
		{"ConcurrentWriters", testConcurrentSamples},
		{"Sketches", testSketches},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			ss, ok := s.(ledger.SampleStore)
			if !ok {
				t.Fatalf("%T does not implement ledger.SampleStore", s)
			}
			tt.fn(t, ss)
		})
	}
}

// S0 is the start of the sample scenarios: a UTC day boundary plus a few
// seconds, with nanoseconds that the store drops.
var S0 = time.Date(2025, 3, 1, 0, 0, 7, 250_000_999, time.UTC)

func addSamples(t *testing.T, ss ledger.SampleStore, xs ...ledger.Sample) {
	t.Helper()
	if err := ss.AddSamples(ctx(t), xs); err != nil {
		t.Fatalf("AddSamples: %v", err)
	}
}

func testSamplesRoundTrip(t *testing.T, ss ledger.SampleStore) {
	addSamples(t, ss,
		ledger.Sample{Target: "web01", Name: "ping_rtt_avg_seconds", Value: 0.0012, Time: S0},
		ledger.Sample{Target: "web01", Name: "ping_rtt_avg_seconds", Value: 0.0015, Time: S0.Add(10 * time.Second)},
		ledger.Sample{Target: "db01", Name: "ping_rtt_avg_seconds", Value: 0.002, Time: S0.Add(5 * time.Second)},
		ledger.Sample{Target: "db01", Name: "bad", Value: math.NaN(), Time: S0},
		ledger.Sample{Target: "db01", Name: "bad", Value: math.Inf(1), Time: S0},
	)
	got, err := ss.Samples(ctx(t), ledger.SampleQuery{Name: "ping_rtt_avg_seconds"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Target != "web01" || got[1].Target != "db01" || got[2].Value != 0.0015 {
		t.Fatalf("Samples = %+v, want 3 oldest first", got)
	}
	sameTime(t, "first sample", got[0].Time, S0)
	checkUTC(t, "sample time", got[0].Time)
	if got[0].Labels != nil {
		t.Errorf("labels of a sample without labels = %v, want nil", got[0].Labels)
	}
	got, err = ss.Samples(ctx(t), ledger.SampleQuery{Target: "web01", From: S0.Add(time.Second), To: S0.Add(time.Minute)})
	if err != nil || len(got) != 1 || got[0].Value != 0.0015 {
		t.Fatalf("time range: %+v, %v; want the second web01 sample", got, err)
	}
	if got, err := ss.Samples(ctx(t), ledger.SampleQuery{Name: "bad"}); err != nil || len(got) != 0 {
		t.Errorf("NaN and Inf stored: %+v, %v", got, err)
	}
	if got, err := ss.Samples(ctx(t), ledger.SampleQuery{Limit: 2}); err != nil || len(got) != 2 {
		t.Errorf("limit 2: %d rows, %v", len(got), err)
	}
	if got, err := ss.Samples(ctx(t), ledger.SampleQuery{Target: "nobody"}); err != nil || len(got) != 0 {
		t.Errorf("unknown target: %+v, %v", got, err)
	}
	if err := ss.AddSamples(ctx(t), nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
}

func testSamplesLabels(t *testing.T, ss ledger.SampleStore) {
	l1 := map[string]string{"descr": "/", "target": "db01"}
	l2 := map[string]string{"target": "db01", "descr": "/"} // same set
	addSamples(t, ss,
		ledger.Sample{Target: "db01", Name: "snmp_storage_used_percent", Labels: l1, Value: 40, Time: S0},
		ledger.Sample{Target: "db01", Name: "snmp_storage_used_percent", Labels: l2, Value: 41, Time: S0.Add(time.Second)},
		ledger.Sample{Target: "db01", Name: "snmp_storage_used_percent", Labels: map[string]string{"descr": "/var"}, Value: 70, Time: S0},
	)
	got, err := ss.Samples(ctx(t), ledger.SampleQuery{Target: "db01", Labels: map[string]string{"descr": "/"}})
	if err != nil || len(got) != 2 || got[0].Labels["descr"] != "/" || got[0].Labels["target"] != "db01" {
		t.Fatalf("label subset: %+v, %v; want the two / samples", got, err)
	}
	r, err := ss.Rollups(ctx(t), ledger.RollupQuery{SampleQuery: ledger.SampleQuery{Target: "db01"}, Resolution: ledger.Minute})
	if err != nil || len(r) != 2 {
		t.Fatalf("rollups: %+v, %v; want one per series (2)", r, err)
	}
}

func testRollupsExact(t *testing.T, ss ledger.SampleStore) {
	// 2 hours of a sample every 10 s: values 0..719.
	var xs []ledger.Sample
	for i := range 720 {
		xs = append(xs, ledger.Sample{Target: "web01", Name: "cpu", Value: float64(i), Time: S0.Add(time.Duration(i) * 10 * time.Second)})
	}
	addSamples(t, ss, xs...)
	q := ledger.SampleQuery{Target: "web01", Name: "cpu"}
	m, err := ss.Rollups(ctx(t), ledger.RollupQuery{SampleQuery: q, Resolution: ledger.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// S0 is 7.25 s past midnight: the samples fill minutes 00:00 to 01:59.
	if len(m) != 120 {
		t.Fatalf("%d minute rollups, want 120", len(m))
	}
	first := m[0]
	sameTime(t, "first minute", first.Start, S0.Truncate(time.Minute))
	if first.Count != 6 || first.Min != 0 || first.Max != 5 || first.Sum != 15 || first.Avg() != 2.5 || first.Resolution != ledger.Minute {
		t.Errorf("first minute = %+v, want count 6 min 0 max 5 sum 15", first)
	}
	h, err := ss.Rollups(ctx(t), ledger.RollupQuery{SampleQuery: q, Resolution: ledger.Hour})
	if err != nil || len(h) != 2 {
		t.Fatalf("hour rollups %+v, %v; want 2", h, err)
	}
	var total int64
	for _, r := range h {
		total += r.Count
	}
	if total != 720 || h[0].Count != 360 || h[0].Min != 0 || h[0].Max != 359 {
		t.Errorf("hours = %+v, want 360 + 360 samples in the first two", h)
	}
	d, err := ss.Rollups(ctx(t), ledger.RollupQuery{SampleQuery: q, Resolution: ledger.Day})
	if err != nil || len(d) != 1 {
		t.Fatalf("day rollups %+v, %v; want 1", d, err)
	}
	sameTime(t, "day bucket", d[0].Start, time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC))
	if d[0].Count != 720 || d[0].Sum != 719*720/2 || d[0].Max != 719 {
		t.Errorf("day = %+v", d[0])
	}
	// The range selects on the bucket start.
	r, err := ss.Rollups(ctx(t), ledger.RollupQuery{SampleQuery: ledger.SampleQuery{Target: "web01", From: S0.Truncate(time.Hour).Add(time.Hour), To: S0.Add(24 * time.Hour)}, Resolution: ledger.Hour})
	if err != nil || len(r) != 1 || r[0].Min != 360 {
		t.Errorf("hour range: %+v, %v; want the second hour", r, err)
	}
}

func testRollupsIncremental(t *testing.T, ss ledger.SampleStore) {
	// The same minute filled by three batches gives the same rollup as one.
	for _, v := range []float64{5, -3, 12} {
		addSamples(t, ss, ledger.Sample{Target: "sw1", Name: "snmp_if_in_bits_per_second", Labels: map[string]string{"if": "ge-0/0/1"}, Value: v, Time: S0})
	}
	r, err := ss.Rollups(ctx(t), ledger.RollupQuery{SampleQuery: ledger.SampleQuery{Target: "sw1"}, Resolution: ledger.Minute})
	if err != nil || len(r) != 1 {
		t.Fatalf("rollups %+v, %v", r, err)
	}
	if r[0].Min != -3 || r[0].Max != 12 || r[0].Sum != 14 || r[0].Count != 3 || r[0].Labels["if"] != "ge-0/0/1" {
		t.Errorf("rollup = %+v, want min -3 max 12 sum 14 count 3", r[0])
	}
}

func testPurge(t *testing.T, ss ledger.SampleStore) {
	for i := range 10 {
		addSamples(t, ss, ledger.Sample{Target: "web01", Name: "cpu", Value: float64(i), Time: S0.Add(time.Duration(i) * time.Hour)})
	}
	n, err := ss.PurgeSamples(ctx(t), S0.Add(5*time.Hour))
	if err != nil || n != 5 {
		t.Fatalf("PurgeSamples = %d, %v; want 5", n, err)
	}
	got, err := ss.Samples(ctx(t), ledger.SampleQuery{})
	if err != nil || len(got) != 5 || got[0].Value != 5 {
		t.Fatalf("after purge: %+v, %v", got, err)
	}
	h, err := ss.Rollups(ctx(t), ledger.RollupQuery{Resolution: ledger.Hour})
	if err != nil || len(h) != 10 {
		t.Fatalf("hour rollups after a purge of raw samples: %d, %v; want all 10", len(h), err)
	}
	n, err = ss.PurgeRollups(ctx(t), ledger.Hour, S0.Truncate(time.Hour).Add(3*time.Hour))
	if err != nil || n != 3 {
		t.Fatalf("PurgeRollups = %d, %v; want 3", n, err)
	}
	if m, _ := ss.Rollups(ctx(t), ledger.RollupQuery{Resolution: ledger.Minute}); len(m) != 10 {
		t.Errorf("purging hours touched minutes: %d left", len(m))
	}
}

func testBadQueries(t *testing.T, ss ledger.SampleStore) {
	if _, err := ss.Rollups(ctx(t), ledger.RollupQuery{Resolution: 5 * time.Minute}); !errors.Is(err, ledger.ErrBadQuery) {
		t.Errorf("5m resolution: %v, want ErrBadQuery", err)
	}
	if _, err := ss.Samples(ctx(t), ledger.SampleQuery{From: S0, To: S0.Add(-time.Second)}); !errors.Is(err, ledger.ErrBadQuery) {
		t.Errorf("inverted range: %v, want ErrBadQuery", err)
	}
	if _, err := ss.PurgeRollups(ctx(t), time.Second, S0); !errors.Is(err, ledger.ErrBadQuery) {
		t.Errorf("purge 1s rollups: %v, want ErrBadQuery", err)
	}
}

func testConcurrentSamples(t *testing.T, ss ledger.SampleStore) {
	// Four writers fold into the same series and buckets at once.
	const writers, batches, per = 4, 10, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				xs := make([]ledger.Sample, per)
				for i := range xs {
					xs[i] = ledger.Sample{Target: fmt.Sprintf("n%d", i%5), Name: "x", Value: 1, Time: S0.Add(time.Duration(w*batches+b) * time.Second)}
				}
				if err := ss.AddSamples(ctx(t), xs); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	d, err := ss.Rollups(ctx(t), ledger.RollupQuery{Resolution: ledger.Day})
	if err != nil || len(d) != 5 {
		t.Fatalf("day rollups %+v, %v", d, err)
	}
	for _, r := range d {
		if r.Count != writers*batches*per/5 || r.Sum != float64(r.Count) {
			t.Errorf("%s: count %d sum %g, want %d", r.Target, r.Count, r.Sum, writers*batches*per/5)
		}
	}
}

// SampleBatch is the batch size BenchSamples writes.
const SampleBatch = 1000

// BenchSamples measures AddSamples: batches of SampleBatch samples over 500
// series (100 targets × 5 metrics), 10 s apart, as the node's sample
// buffer flushes them. It reports samples/s. open must return a new, empty
// store.
func BenchSamples(b *testing.B, open func(b *testing.B) ledger.Store) {
	ss, ok := open(b).(ledger.SampleStore)
	if !ok {
		b.Fatal("store does not implement ledger.SampleStore")
	}
	names := []string{"ping_rtt_avg_seconds", "ping_loss_percent", "snmp_cpu_load_avg_percent", "snmp_memory_used_percent", "snmp_storage_used_percent"}
	n := 0
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		xs := make([]ledger.Sample, SampleBatch)
		for i := range xs {
			seq := n*SampleBatch + i
			xs[i] = ledger.Sample{Target: fmt.Sprintf("node%03d", seq%100), Name: names[(seq/100)%len(names)],
				Labels: map[string]string{"site": "dc1"}, Value: float64(seq % 97), Time: S0.Add(time.Duration(seq/500) * 10 * time.Second)}
		}
		n++
		b.StartTimer()
		if err := ss.AddSamples(b.Context(), xs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*SampleBatch)/b.Elapsed().Seconds(), "samples/s")
}

// testSketches: monthly sketches are folded in by AddSamples across
// batches and months, read back per series, give p95 within the sketch's
// relative error, and are purged by month.
func testSketches(t *testing.T, ss ledger.SampleStore) {
	sk, ok := ss.(ledger.SketchStore)
	if !ok {
		t.Fatalf("%T does not implement ledger.SketchStore", ss)
	}
	m0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	var batch []ledger.Sample
	for i := 1; i <= 100; i++ { // values 1..100 over the month: p95 is 95
		batch = append(batch, ledger.Sample{Target: "web01", Name: "cpu_percent", Value: float64(i), Time: m0.Add(time.Duration(i) * time.Hour)})
		if i%30 == 0 {
			addSamples(t, ss, batch...)
			batch = nil
		}
	}
	batch = append(batch,
		ledger.Sample{Target: "web01", Name: "cpu_percent", Value: 0, Time: m0.AddDate(0, 1, 0)},
		ledger.Sample{Target: "web01", Name: "cpu_percent", Value: -3, Time: m0.AddDate(0, 1, 0).Add(time.Minute)},
		ledger.Sample{Target: "db01", Name: "cpu_percent", Value: 7, Time: m0})
	addSamples(t, ss, batch...)
	rows, err := sk.Sketches(ctx(t), ledger.SampleQuery{Target: "web01", From: m0, To: m0.AddDate(0, 1, 0), Limit: 100000})
	if err != nil {
		t.Fatalf("Sketches: %v", err)
	}
	s := ledger.Sketch{}
	for _, r := range rows {
		if r.Target != "web01" || !r.Month.Equal(m0) {
			t.Fatalf("row %+v: want web01 of %s", r, m0)
		}
		s.Add(r.Bucket, r.Count)
	}
	if s.Count() != 100 {
		t.Fatalf("count %d, want 100", s.Count())
	}
	if p := s.Quantile(0.95); math.Abs(p-95)/95 > ledger.SketchRelativeError+1e-12 {
		t.Fatalf("p95 %v, want 95 within %v", p, ledger.SketchRelativeError)
	}
	next, err := sk.Sketches(ctx(t), ledger.SampleQuery{Target: "web01", From: m0.AddDate(0, 1, 0)})
	if err != nil || len(next) != 2 {
		t.Fatalf("next month: %+v, %v; want the zero and the negative bucket", next, err)
	}
	if q := (ledger.Sketch{next[0].Bucket: 1, next[1].Bucket: 1}).Quantile(0.5); q != -3*ledger.SketchValue(ledger.SketchBucket(3))/3 {
		t.Fatalf("median of {0, -3}: %v", q)
	}
	n, err := sk.PurgeSketches(ctx(t), m0.AddDate(0, 1, 0))
	if err != nil || n != int64(len(rows))+1 {
		t.Fatalf("PurgeSketches: %d, %v; want %d", n, err, len(rows)+1)
	}
	if rows, _ := sk.Sketches(ctx(t), ledger.SampleQuery{}); len(rows) != 2 {
		t.Fatalf("after purge %d rows, want 2", len(rows))
	}
}
