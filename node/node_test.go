package node_test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/node"
)

func startNode(t *testing.T) *node.Node {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	n, err := node.New(ctx, node.Options{HTTPListen: "127.0.0.1:0", Bus: bus.Options{StoreDir: t.TempDir()},
		Auth:      node.AuthOptions{BootstrapToken: adminToken},
		OpenStore: func(ctx context.Context) (ledger.Store, error) { return sqlite.Open(ctx, path) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Stop(ctx); err != nil {
			t.Error(err)
		}
		if err := n.Stop(ctx); err != nil { // idempotent
			t.Error(err)
		}
	})
	if err := n.WaitStore(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMetricsLint runs promlint over everything the node exports, and checks
// the unyo_ metrics follow unyo_<subsystem>_<name>_<unit>.
func TestMetricsLint(t *testing.T) {
	n := startNode(t)
	resp := getAs(t, adminToken, n.URL()+"/metrics")
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.New(strings.NewReader(string(body))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "unyo_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
	if !strings.Contains(string(body), "unyo_pipeline_ledger_up 1") {
		t.Error("/metrics lacks unyo_pipeline_ledger_up 1")
	}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "# TYPE unyo_") && strings.Count(strings.Fields(line)[2], "_") < 2 {
			t.Errorf("metric name without subsystem: %s", line)
		}
	}
}

// TestNewRollsBack: a node that cannot bind its HTTP port undoes the rest
// (the bus), and says why.
func TestNewRollsBack(t *testing.T) {
	n := startNode(t)
	_, err := node.New(context.Background(), node.Options{HTTPListen: n.Addr(), Bus: bus.Options{StoreDir: t.TempDir()},
		OpenStore: func(ctx context.Context) (ledger.Store, error) { return nil, nil }})
	if err == nil || !strings.Contains(err.Error(), "http listen") {
		t.Fatalf("second node on the same port: %v", err)
	}
}

func TestFromConfig(t *testing.T) {
	cfg, err := configs.Parse(filepath.Join(t.TempDir(), "c.yaml"), []byte("ledger:\n  driver: postgres\n  postgres:\n    url: postgres://u@h/db\n    max_conns: 4\n"))
	if err != nil {
		t.Fatal(err)
	}
	o, err := node.FromConfig(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.StoreName != "postgres" || o.OpenStore == nil {
		t.Errorf("options %+v", o)
	}
}
