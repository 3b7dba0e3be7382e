package web

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
)

func sampleStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestTargetCharts(t *testing.T) {
	ctx := context.Background()
	st := sampleStore(t)
	to := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	var batch []ledger.Sample
	for i := range 3 * 24 * 60 { // three days of one-minute samples
		at := to.Add(-time.Duration(i+1) * time.Minute)
		batch = append(batch,
			ledger.Sample{Target: "web-01", Name: "cpu_percent", Value: float64(i % 100), Time: at},
			ledger.Sample{Target: "web-01", Name: "disk_used_bytes", Labels: map[string]string{"mount": "/"}, Value: 1e9, Time: at},
			ledger.Sample{Target: "web-01", Name: "disk_used_bytes", Labels: map[string]string{"mount": "/var"}, Value: 2e9, Time: at},
			ledger.Sample{Target: "other", Name: "cpu_percent", Value: 1, Time: at})
	}
	if err := st.AddSamples(ctx, batch); err != nil {
		t.Fatal(err)
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	for _, tc := range []struct {
		rng, step string
		band      bool
	}{{"1h", "raw", false}, {"24h", "1m", false}, {"7d", "1h", true}} {
		t.Run(tc.rng, func(t *testing.T) {
			r, ok := parseRange(tc.rng)
			if !ok {
				t.Fatal("range not known")
			}
			cs, err := targetCharts(ctx, st, "web-01", to, r, tokyo)
			if err != nil {
				t.Fatal(err)
			}
			if cs.Step != tc.step || cs.Truncated || len(cs.Charts) != 2 {
				t.Fatalf("step %q truncated %v charts %d", cs.Step, cs.Truncated, len(cs.Charts))
			}
			cpu, disk := cs.Charts[0], cs.Charts[1]
			if cpu.Metric != "cpu_percent" || cpu.Unit != "%" || cpu.Series != 1 || disk.Unit != "B" || disk.Series != 2 {
				t.Errorf("charts %+v %+v", cpu, disk)
			}
			svg := string(disk.SVG)
			for _, want := range []string{`data-series="mount=/"`, `data-series="mount=/var"`, "JST", "web-01: disk_used_bytes"} {
				if !strings.Contains(svg, want) {
					t.Errorf("disk chart lacks %q", want)
				}
			}
			if strings.Contains(string(cpu.SVG), "plot-band") != tc.band {
				t.Errorf("band drawn: %v, want %v", !tc.band, tc.band)
			}
			if !strings.Contains(string(cpu.SVG), ">100%<") {
				t.Error("cpu axis does not run to 100%")
			}
		})
	}
	if _, ok := parseRange("2y"); ok {
		t.Error("unknown range accepted")
	}
	cs, err := targetCharts(ctx, st, "nobody", to, metricRanges[0], time.UTC)
	if err != nil || len(cs.Charts) != 0 {
		t.Errorf("no samples: %v, %d charts", err, len(cs.Charts))
	}
}
