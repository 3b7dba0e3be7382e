package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/postgres"
	"github.com/unyo-ops/unyo/alerting/ledger/postgres/pgtest"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/test/testutil"
)

// store names a ledger backend for a scenario.
type store struct {
	name string
	// yaml is the ledger section for the config.
	yaml func(t *testing.T, dataDir string) string
	// open opens the same ledger directly, after the node stopped.
	open func(t *testing.T, dataDir, yaml string) ledger.Store
}

var stores = []store{
	{
		name: "sqlite",
		yaml: func(t *testing.T, dataDir string) string { return "ledger:\n  driver: sqlite\n" },
		open: func(t *testing.T, dataDir, _ string) ledger.Store {
			s, err := sqlite.Open(context.Background(), filepath.Join(dataDir, "ledger.db"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	},
	{
		name: "postgres",
		yaml: func(t *testing.T, dataDir string) string {
			return fmt.Sprintf("ledger:\n  driver: postgres\n  postgres:\n    url: %q\n", pgtest.NewDatabase(t))
		},
		open: func(t *testing.T, _ string, yaml string) ledger.Store {
			i := strings.Index(yaml, "url: ")
			var url string
			if err := json.Unmarshal([]byte(strings.TrimSpace(yaml[i+5:])), &url); err != nil {
				t.Fatal(err)
			}
			s, err := postgres.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	},
}

// writeConfig writes a single-node config and returns its path and the
// HTTP address.
func writeConfig(t *testing.T, dir, ledgerYAML string) (path, addr string) {
	t.Helper()
	addr = testutil.FreePort(t)
	cfg := fmt.Sprintf("node:\n  name: e2e\n  data_dir: %q\nhttp:\n  listen: %q\ncluster:\n  bind: 127.0.0.1:0\nlog:\n  level: debug\n%s",
		dir, addr, ledgerYAML)
	path = filepath.Join(dir, "unyo.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, addr
}

// TestKill9DuringBurst kills `unyo serve` with SIGKILL while clients post a
// burst of events, restarts it, and checks that every event whose publish
// was acknowledged (HTTP 202) is in the ledger exactly once.
func TestKill9DuringBurst(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			dir := t.TempDir()
			ly := st.yaml(t, dir)
			cfg, addr := writeConfig(t, dir, ly)
			p := testutil.Serve(t, cfg, addr)
			c, err := client.New(p.URL, client.WithToken(testutil.AdminToken))
			if err != nil {
				t.Fatal(err)
			}

			var (
				mu    sync.Mutex
				acked = map[string]bool{}
				wg    sync.WaitGroup
				stop  = make(chan struct{})
			)
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						batch := make([]incident.Event, 20)
						for j := range batch {
							batch[j] = incident.Event{
								ID:     fmt.Sprintf("w%d-%d-%d", w, i, j),
								Target: fmt.Sprintf("host%02d", (i+j)%25), Check: "burst",
								Severity: incident.Major, Message: "burst",
							}
						}
						ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
						ids, err := c.SendEvents(ctx, batch...)
						cancel()
						if err != nil {
							return // the node died: these were not acknowledged
						}
						mu.Lock()
						for _, id := range ids {
							acked[id] = true
						}
						mu.Unlock()
					}
				}()
			}
			// Let the burst run until a few thousand events are acknowledged.
			deadline := time.Now().Add(20 * time.Second)
			for {
				mu.Lock()
				n := len(acked)
				mu.Unlock()
				if n >= 2000 || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			p.Kill()
			close(stop)
			wg.Wait()
			t.Logf("killed with %d events acknowledged", len(acked))
			if len(acked) < 200 {
				t.Fatalf("only %d events acknowledged before the kill", len(acked))
			}

			// Restart on the same data and wait for the ledger to catch up.
			// The occurrence counts reaching len(acked) is not enough: events
			// the node took in but could not acknowledge before the kill
			// count too, so every acknowledged event is waited for in the
			// ledger itself (opened alongside the node) before it stops.
			p = testutil.Serve(t, cfg, addr)
			if err := waitApplied(t, c, len(acked)); err != nil {
				t.Fatal(err)
			}
			s := st.open(t, dir, ly)
			defer s.Close()
			ctx := context.Background()
			missing := func() (string, int64) {
				for id := range acked {
					ok, inc, err := s.EventApplied(ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					if !ok || inc == 0 {
						return id, inc
					}
				}
				return "", 0
			}
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				id, inc := missing()
				if id == "" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("acknowledged event %s not in the ledger (incident %d) 60s after the restart", id, inc)
				}
			}
			p.Stop()
			// Exactly once: every applied event was counted once on its incident.
			n, err := s.EventCount(ctx)
			if err != nil {
				t.Fatal(err)
			}
			incs, err := s.Incidents(ctx, ledger.Filter{Limit: 10000})
			if err != nil {
				t.Fatal(err)
			}
			var sum int64
			for _, i := range incs {
				sum += i.Count
			}
			if sum != n {
				t.Errorf("incidents count %d occurrences, ledger holds %d events: some applied twice or lost", sum, n)
			}
			if n < int64(len(acked)) {
				t.Errorf("ledger holds %d events, %d were acknowledged", n, len(acked))
			}
			if len(incs) != 25 {
				t.Errorf("%d incidents, want 25 (one per dedup key)", len(incs))
			}
		})
	}
}

// waitApplied waits until the incidents' occurrence counts reach n.
func waitApplied(t *testing.T, c *client.Client, n int) error {
	deadline := time.Now().Add(60 * time.Second)
	var sum int64
	for time.Now().Before(deadline) {
		incs, err := c.Incidents(context.Background(), client.ListOptions{Limit: 10000})
		if err == nil {
			sum = 0
			for _, i := range incs {
				sum += i.Count
			}
			if sum >= int64(n) {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("ledger counts %d occurrences after 60s, want at least %d", sum, n)
}
