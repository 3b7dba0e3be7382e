package node

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/monitor/ping/pingtest"
)

// startMember starts an in-process node from YAML, as `unyo serve` would.
func startMember(t *testing.T, name, join, extra string) *Node {
	t.Helper()
	dir := t.TempDir()
	yml := fmt.Sprintf("node:\n  name: %s\n  data_dir: %q\nhttp:\n  listen: 127.0.0.1:0\ncluster:\n  bind: 127.0.0.1:0\n", name, dir)
	yml += joinYAML(join)
	yml += extra
	cfg, err := configs.Parse(filepath.Join(dir, "unyo.yaml"), []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	o, err := FromConfig(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Auth.BootstrapToken = testAdminToken
	ctx := context.Background()
	n, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	return n
}

// TestDualVantage: a ping-down seen by one member is re-checked by another
// with real ICMP. A target that answers there becomes a monitoring path
// fault of the first member; one that does not stays "host down",
// confirmed by the second.
func TestDualVantage(t *testing.T) {
	host := pingtest.NewHost(t)
	monitorYAML := fmt.Sprintf(`monitor:
  targets:
    - {name: up, address: 127.0.0.1, ping: {interval: 1h}}
    - {name: gone, address: %s, ping: {interval: 1h}}
`, host.Addr)
	a := startMember(t, "mon-a", "", monitorYAML)
	waitUntil(t, "mon-a leads", a.IsLeader)
	b := startMember(t, "mon-b", a.URL(), monitorYAML)
	waitUntil(t, "mon-b joined", func() bool { return len(a.Cluster().Members()) == 2 && b.Cluster().InQuorum() })
	host.Down()

	ctx := context.Background()
	down := func(target string) incident.Event {
		return incident.Event{ID: incident.NewID(), Source: "ping", Target: target, Check: "ping",
			Severity: incident.Critical, Status: incident.Problem, DedupKey: target + "/ping", Time: time.Now(), Message: "0/3 replies"}
	}
	ev := a.confirm(ctx, down("up"))
	if ev.Check != "monitoring-path" || ev.DedupKey != "up/monitoring-path/mon-a" || ev.Severity != incident.Warning || ev.Labels["answers_at"] != "mon-b" {
		t.Errorf("target that answers mon-b: %+v", ev)
	}
	ev = a.confirm(ctx, down("gone"))
	if ev.Check != "ping" || ev.DedupKey != "gone/ping" || ev.Severity != incident.Critical || ev.Labels["confirmed_by"] != "mon-b" {
		t.Errorf("target down from both: %+v", ev)
	}
	ok := a.pathOK(incident.Event{ID: "x", Source: "ping", Target: "up", Check: "ping", Status: incident.OK})
	if ok.DedupKey != "up/monitoring-path/mon-a" || ok.Status != incident.OK {
		t.Errorf("path ok %+v", ok)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
