package node_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/monitor/trap"
	"github.com/unyo-ops/unyo/node"

	"github.com/unyo-ops/unyo/internal/syncbuf"
)

// TestStartLogIsHonest starts a single-member cluster node with its log at
// debug level in a buffer and checks the lines an operator reads at every
// start: no ERROR for a store that has simply not opened yet, "node
// started" only once the ledger is open, no format verb or Go struct dump
// in a field, and one component per line.
func TestStartLogIsHonest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var buf syncbuf.Buffer
	gate := make(chan struct{})
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := node.New(ctx, node.Options{Name: "s1", HTTPListen: "127.0.0.1:0", Logger: log,
		Bus:     bus.Options{StoreDir: filepath.Join(dir, "js")},
		Auth:    node.AuthOptions{BootstrapToken: adminToken},
		Cluster: node.ClusterOptions{DataDir: filepath.Join(dir, "raft"), Bind: "127.0.0.1:0", Bootstrap: true},
		Monitor: node.MonitorOptions{Enabled: true, Traps: &trap.Config{Listen: "127.0.0.1:0"}},
		OpenStore: func(ctx context.Context) (ledger.Store, error) {
			// Held until the pipeline has met the store still opening.
			select {
			case <-gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return sqlite.Open(ctx, filepath.Join(dir, "ledger.db"))
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	// An event waiting on the bus before the store opens, as after a
	// restart: the pipeline tries to apply it and meets the store opening.
	deadline := time.Now().Add(30 * time.Second)
	if err := n.Bus().Publish(ctx, incident.Event{ID: "early-1", Source: "test", Target: "db01", Check: "ping",
		Status: incident.Problem, Severity: incident.Critical, Message: "down", Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := http.Get(n.URL() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), `"pipeline": "ledger unavailable`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pipeline never met the store opening: /readyz says %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(gate)
	// Ready: store open and Raft leader, as /readyz says.
	for {
		resp, err := http.Get(n.URL() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node not ready in 30s; log:\n%s", buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitLog := func(what string) {
		t.Helper()
		for !strings.Contains(buf.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log:\n%s", what, buf.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLog(`msg="node started"`)
	// A line from a receiver the node hands its logger to: a malformed trap.
	m := regexp.MustCompile(`msg="trap receiver listening".* udp=(\S+)`).FindStringSubmatch(buf.String())
	if m == nil {
		t.Fatalf("no trap receiver address in the log:\n%s", buf.String())
	}
	c, err := net.Dial("udp", m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for !strings.Contains(buf.String(), "component=trap") {
		if _, err := c.Write([]byte("not a trap")); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no line from the trap receiver:\n%s", buf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	open, started := -1, -1
	for i, l := range lines {
		switch {
		case strings.Contains(l, "level=ERROR") && strings.Contains(l, "not open yet"):
			t.Errorf("line %d: ERROR for a store that is still opening: %s", i+1, l)
		case strings.Contains(l, "%+v") || strings.Contains(l, "%v") || strings.Contains(l, "{Suffrage"):
			t.Errorf("line %d: format verb or struct dump in a field: %s", i+1, l)
		case strings.Count(l, " component=") > 1:
			t.Errorf("line %d: component twice: %s", i+1, l)
		}
		if strings.Contains(l, `msg="ledger store open"`) && open < 0 {
			open = i
		}
		if strings.Contains(l, `msg="node started"`) && started < 0 {
			started = i
		}
	}
	if !strings.Contains(out, "not open yet") {
		t.Error("the pipeline never logged meeting the store still opening: the test did not exercise it")
	}
	if open < 0 || started < 0 || started < open {
		t.Errorf("node started (line %d) before ledger store open (line %d)", started+1, open+1)
	}
	if t.Failed() {
		t.Logf("log:\n%s", out)
	}
}
