package ledger_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/unyo-ops/unyo/alerting/ledger"
)

func TestSketchQuantileWithinError(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, scale := range []float64{1e-4, 0.5, 100, 1e9} {
		var xs []float64
		s := ledger.Sketch{}
		for range 5000 {
			v := r.ExpFloat64() * scale
			xs = append(xs, v)
			s.Add(ledger.SketchBucket(v), 1)
		}
		slices.Sort(xs)
		for _, q := range []float64{0.5, 0.95, 0.99, 1} {
			want := xs[int(math.Ceil(q*float64(len(xs))))-1]
			got := s.Quantile(q)
			if math.Abs(got-want)/want > ledger.SketchRelativeError+1e-12 {
				t.Errorf("scale %g q %g: %g, want %g within %g", scale, q, got, want, ledger.SketchRelativeError)
			}
		}
	}
	if !math.IsNaN(ledger.Sketch{}.Quantile(0.95)) {
		t.Error("empty sketch: want NaN")
	}
}

func TestSketchBucketEdges(t *testing.T) {
	for _, v := range []float64{1, ledger.SketchGamma, math.Pow(ledger.SketchGamma, 7), 1e-300, 1e300, -2} {
		b := ledger.SketchBucket(v)
		if rv := ledger.SketchValue(b); math.Abs(v) > 1e-40 && math.Abs(v) < 1e40 && math.Abs(rv-v)/math.Abs(v) > ledger.SketchRelativeError+1e-12 {
			t.Errorf("%g: bucket %d value %g", v, b, rv)
		}
	}
	if ledger.SketchBucket(0) != 0 || ledger.SketchValue(0) != 0 {
		t.Error("zero bucket")
	}
}
