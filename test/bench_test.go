package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/postgres"
	"github.com/unyo-ops/unyo/alerting/ledger/postgres/pgtest"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/node"
	"github.com/unyo-ops/unyo/test/testutil"
)

// BenchmarkEventsToLedger measures events/s from the bus into the ledger
// through the pipeline, with dedup (500 keys, so most events are
// occurrences). Run: go test -run '^$' -bench EventsToLedger -benchtime 50000x ./test/
func BenchmarkEventsToLedger(b *testing.B) {
	for _, st := range []struct {
		name string
		open func(b *testing.B) func(ctx context.Context) (ledger.Store, error)
	}{
		{"sqlite", func(b *testing.B) func(ctx context.Context) (ledger.Store, error) {
			path := filepath.Join(b.TempDir(), "ledger.db")
			return func(ctx context.Context) (ledger.Store, error) { return sqlite.Open(ctx, path) }
		}},
		{"postgres", func(b *testing.B) func(ctx context.Context) (ledger.Store, error) {
			url := pgtest.NewDatabase(b)
			return func(ctx context.Context) (ledger.Store, error) { return postgres.Open(ctx, url) }
		}},
	} {
		b.Run(st.name, func(b *testing.B) {
			ctx := context.Background()
			n, err := node.New(ctx, node.Options{HTTPListen: "127.0.0.1:0",
				Bus: bus.Options{StoreDir: b.TempDir()}, OpenStore: st.open(b)})
			if err != nil {
				b.Fatal(err)
			}
			if err := n.Start(ctx); err != nil {
				b.Fatal(err)
			}
			defer n.Stop(ctx)
			if err := n.WaitStore(ctx); err != nil {
				b.Fatal(err)
			}
			// The clock runs from the first publish until the ledger holds
			// every event: end to end, bus included.
			evs := make([]incident.Event, b.N)
			now := time.Now()
			for i := range evs {
				evs[i] = incident.Event{ID: fmt.Sprintf("b%d", i), Source: "bench", Target: fmt.Sprintf("h%d", i%500),
					Check: "cpu", Severity: incident.Warning, Status: incident.Problem, Time: now, DedupKey: fmt.Sprintf("h%d/cpu", i%500)}
			}
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < len(evs); i += 2000 {
				if err := n.Bus().PublishBatch(ctx, evs[i:min(i+2000, len(evs))]); err != nil {
					b.Fatal(err)
				}
			}
			for {
				c, err := n.Store().EventCount(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if c >= int64(b.N) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
		})
	}
}

// BenchmarkServeStartup starts the real binary on the embedded default and
// reports the time until /readyz answers 200 and the resident memory after
// two idle seconds. Run: go test -run '^$' -bench ServeStartup -benchtime 5x ./test/
func BenchmarkServeStartup(b *testing.B) {
	testutil.Binary(b)
	var total time.Duration
	var rss int64
	for range b.N {
		dir := b.TempDir()
		addr := testutil.FreePort(b)
		cfg := filepath.Join(dir, "unyo.yaml")
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf("node:\n  data_dir: %q\nhttp:\n  listen: %q\ncluster:\n  bind: 127.0.0.1:0\nlog:\n  level: warn\n", dir, addr)), 0o600); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		p := testutil.Serve(b, cfg, addr)
		total += time.Since(start)
		time.Sleep(2 * time.Second)
		r, err := p.RSS()
		if err != nil {
			b.Fatal(err)
		}
		rss = max(rss, r)
		p.Stop()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-ready")
	b.ReportMetric(float64(rss)/(1<<20), "MiB-idle-rss")
}

// BenchmarkEventLatency measures one event at a time from API publish to
// ledger commit on an idle node (the incident is visible when
// EventApplied answers true). Run:
// go test -run '^$' -bench EventLatency -benchtime 200x ./test/
func BenchmarkEventLatency(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "ledger.db")
	n, err := node.New(ctx, node.Options{HTTPListen: "127.0.0.1:0", Bus: bus.Options{StoreDir: b.TempDir()},
		OpenStore: func(ctx context.Context) (ledger.Store, error) { return sqlite.Open(ctx, path) }})
	if err != nil {
		b.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer n.Stop(ctx)
	if err := n.WaitStore(ctx); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		ev := incident.Event{ID: fmt.Sprintf("l%d", i), Source: "bench", Target: "h", Check: "c",
			Severity: incident.Minor, Status: incident.Problem, Time: time.Now(), DedupKey: "h/c"}
		start := time.Now()
		if err := n.Bus().Publish(ctx, ev); err != nil {
			b.Fatal(err)
		}
		for {
			ok, _, err := n.Store().EventApplied(ctx, ev.ID)
			if err != nil {
				b.Fatal(err)
			}
			if ok {
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
