package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/postgres"
	"github.com/unyo-ops/unyo/alerting/ledger/postgres/pgtest"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/console"
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

// benchNode starts an in-process node on the embedded default (SQLite
// ledger) whose first admin has testutil.AdminToken, and returns it with
// its base URL.
func benchNode(b *testing.B) (*node.Node, string) {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "ledger.db")
	n, err := node.New(ctx, node.Options{HTTPListen: "127.0.0.1:0", Bus: bus.Options{StoreDir: b.TempDir()},
		OpenStore: func(ctx context.Context) (ledger.Store, error) { return sqlite.Open(ctx, path) },
		Auth:      node.AuthOptions{BootstrapToken: testutil.AdminToken}})
	if err != nil {
		b.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Stop(ctx) })
	if err := n.WaitStore(ctx); err != nil {
		b.Fatal(err)
	}
	return n, "http://" + n.Addr()
}

// benchGet sends GET url with token ("" : none) on c and returns an error
// unless the answer is want; the body is read to the end (so the
// connection is kept).
func benchGet(c *http.Client, url, token string, want int) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("GET %s: %s, want %d", url, resp.Status, want)
	}
	return nil
}

// BenchmarkLogin measures password logins per second through
// POST /api/v1/login of an in-process node, with the default Argon2id
// parameters (m=19 MiB, t=2, p=1) and parallel clients (4 per
// GOMAXPROCS; the node runs at most min(CPUs, 4) hashes at once, the
// others wait). Each login also writes its session token to the ledger.
// Run: go test -run '^$' -bench Login -benchtime 3s -cpu 2 ./test/
func BenchmarkLogin(b *testing.B) {
	n, base := benchNode(b)
	const password = "bench password 0123456789"
	if _, err := n.Auth().AddUser(context.Background(), "bench", auth.RoleOperator, password); err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(console.LoginRequest{User: "bench", Password: password})
	var busy atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		for pb.Next() {
			resp, err := c.Post(base+"/api/v1/login", "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
			case http.StatusServiceUnavailable:
				busy.Add(1)
			default:
				b.Errorf("login: %s", resp.Status)
				return
			}
		}
	})
	el, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "logins/s")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(busy.Load()), "busy")
}

// BenchmarkTokenAuth measures what authenticating an API token adds to a
// request:
//   - service/warm: auth.Service.AuthenticateToken with the token's
//     verification cached (every request but one per CacheTTL, 5 s);
//   - service/cold: the same with no cache (a store lookup: token by
//     hash, then its owner), what the first request of a token costs;
//   - http/healthz-anonymous and http/healthz-token: the same public
//     route over HTTP without and with the token (public routes still
//     authenticate a token that is given): their difference is the
//     token's cost on the whole request path;
//   - http/whoami-token: a protected route, for scale.
//
// Run: go test -run '^$' -bench TokenAuth -benchtime 3s -cpu 2 ./test/
func BenchmarkTokenAuth(b *testing.B) {
	n, base := benchNode(b)
	ctx := context.Background()
	b.Run("service/warm", func(b *testing.B) {
		svc := n.Auth()
		if _, err := svc.AuthenticateToken(ctx, testutil.AdminToken, "127.0.0.1"); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := svc.AuthenticateToken(ctx, testutil.AdminToken, "127.0.0.1"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("service/cold", func(b *testing.B) {
		svc, err := auth.NewService(auth.Options{Store: n.Auth().Store(), CacheTTL: time.Nanosecond})
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := svc.AuthenticateToken(ctx, testutil.AdminToken, "127.0.0.1"); err != nil {
				b.Fatal(err)
			}
		}
	})
	c := &http.Client{}
	for _, r := range []struct {
		name, path, token string
	}{
		{"http/healthz-anonymous", "/healthz", ""},
		{"http/healthz-token", "/healthz", testutil.AdminToken},
		{"http/whoami-token", "/api/v1/whoami", testutil.AdminToken},
	} {
		b.Run(r.name, func(b *testing.B) {
			if err := benchGet(c, base+r.path, r.token, http.StatusOK); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			cpu0 := cpuTime()
			for range b.N {
				if err := benchGet(c, base+r.path, r.token, http.StatusOK); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkListIncidents measures requests/s of GET /api/v1/incidents
// (100 open incidents in the SQLite ledger, the default page of 100) with
// the admin's token, from parallel clients (4 per GOMAXPROCS). Without a
// token it must be refused. The figure before identities existed is the
// same benchmark, without the token, on commit db8bde6.
// Run: go test -run '^$' -bench ListIncidents -benchtime 3s -cpu 2 ./test/
func BenchmarkListIncidents(b *testing.B) {
	n, base := benchNode(b)
	ctx := context.Background()
	evs := make([]incident.Event, 100)
	for i := range evs {
		evs[i] = incident.Event{ID: fmt.Sprintf("li%d", i), Source: "bench", Target: fmt.Sprintf("h%d", i), Check: "ping",
			Severity: incident.Critical, Status: incident.Problem, Time: time.Now(), DedupKey: fmt.Sprintf("h%d/ping", i), Message: "no reply"}
	}
	if err := n.Bus().PublishBatch(ctx, evs); err != nil {
		b.Fatal(err)
	}
	for {
		c, err := n.Store().EventCount(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if c >= int64(len(evs)) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	url := base + "/api/v1/incidents"
	if err := benchGet(http.DefaultClient, url, "", http.StatusUnauthorized); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism(4)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		for pb.Next() {
			if err := benchGet(c, url, testutil.AdminToken, http.StatusOK); err != nil {
				b.Error(err)
				return
			}
		}
	})
	el, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "req/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}

// cpuTime is the CPU time (user and system) this process has used: on a
// machine shared with other work it moves much less than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
