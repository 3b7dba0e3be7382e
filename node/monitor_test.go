package node_test

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/node"
)

// TestMonitor runs a node with a TCP service check against a local
// listener and a syslog receiver: the console lists the target, samples
// reach the store's rollups, a syslog line becomes an incident, and every
// monitor metric passes promlint.
func TestMonitor(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	syslogPort := freeUDP(t)
	yml := `monitor:
  targets:
    - name: svc
      address: 127.0.0.1
      services: [{type: tcp, port: ` + itoa(port) + `, interval: 1s}]
  syslog:
    udp_listen: 127.0.0.1:` + itoa(syslogPort) + `
    filters:
      - {name: disk, contains: ["I/O error"], severity: major}
  samples: {flush_interval: 200ms}
`
	cfg, err := configs.Parse("m.yaml", []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	opts, err := node.FromConfig(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ledger.db")
	opts.HTTPListen = "127.0.0.1:0"
	opts.Bus = bus.Options{StoreDir: t.TempDir()}
	opts.OpenStore = func(ctx context.Context) (ledger.Store, error) { return sqlite.Open(ctx, path) }
	opts.Auth = node.AuthOptions{BootstrapToken: adminToken}
	ctx := context.Background()
	n, err := node.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer n.Stop(ctx)
	c := adminClient(t, n.URL())

	waitUntil(t, "target svc up", func() bool {
		ts, err := c.Targets(ctx)
		return err == nil && len(ts) == 1 && ts[0].Status == "up" && ts[0].LastCheck != nil
	})
	d, err := c.Target(ctx, "svc")
	if err != nil || len(d.Results) != 1 || d.Results[0].Check != "tcp:"+itoa(port) || d.Results[0].Last == nil {
		t.Fatalf("Target(svc) = %+v, %v", d, err)
	}
	if _, err := c.Target(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "no target") {
		t.Errorf("unknown target: %v", err)
	}
	waitUntil(t, "samples in the store's rollups", func() bool {
		ss, err := n.SampleStore()
		if err != nil {
			return false
		}
		r, err := ss.Rollups(ctx, ledger.RollupQuery{SampleQuery: ledger.SampleQuery{Target: "svc", Name: "service_up"}, Resolution: ledger.Minute})
		return err == nil && len(r) > 0 && r[0].Count >= 1 && r[0].Max == 1
	})

	conn, err := net.Dial("udp", "127.0.0.1:"+itoa(syslogPort))
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("<11>Jan  2 03:04:05 db01 kernel: sdb: I/O error, sector 42"))
	conn.Close()
	waitUntil(t, "syslog incident", func() bool {
		incs, err := c.Incidents(ctx, client.ListOptions{Target: "db01"})
		return err == nil && len(incs) == 1 && incs[0].Check == "disk" && incs[0].Severity == incident.Major
	})

	resp := getAs(t, adminToken, n.URL()+"/metrics")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	problems, err := promlint.New(strings.NewReader(string(body))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "unyo_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
	for _, m := range []string{"unyo_monitor_samples_written_total", "unyo_monitor_checks_total", "unyo_syslog_messages_received_total", "unyo_filter_matches_total"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
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

func freeUDP(t *testing.T) int {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func itoa(n int) string { return strconv.Itoa(n) }
