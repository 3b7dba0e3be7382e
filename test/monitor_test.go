package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/monitor/ping/pingtest"
	"github.com/unyo-ops/unyo/monitor/snmp/snmptest"
	"github.com/unyo-ops/unyo/test/testutil"
)

// Ping settings of the test host: a check every second, down after three
// failed checks, so the incident must open within 1s × 3 + 1s.
const (
	pingInterval  = time.Second
	pingDownAfter = 3
)

// TestMonitorEndToEnd starts the real binary with a monitor section
// against real peers and drives each path of issue B the way a site would
// see it:
//
//   - a host in a network namespace loses its link: a ping incident opens
//     within interval × N + 1 s, and recovers when the link is back;
//   - net-snmp's snmptrap sends linkDown: an incident;
//   - logger sends a line an ignore rule matches, then one an incident rule
//     matches: only the second becomes an incident;
//   - a real snmpd reports "/" more than 1 % used (the lowered threshold):
//     a critical threshold incident.
func TestMonitorEndToEnd(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"snmptrap", "logger", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run make test-deps (Debian packages snmp, bsdutils, iproute2): %v", tool, err)
		}
	}
	host := pingtest.NewHost(t)
	agent := snmptest.Start(t)
	dir := t.TempDir()
	addr := testutil.FreePort(t)
	syslogPort := snmptest.FreeUDPPort(t)
	trapPort := snmptest.FreeUDPPort(t)

	cfg := fmt.Sprintf(`node:
  name: e2e-monitor
  data_dir: %q
http:
  listen: %q
cluster:
  bind: 127.0.0.1:0
log:
  level: debug
monitor:
  history: {recent: 30}
  targets:
    - name: nshost
      address: %s
      ping: {interval: %s, packets: 1, timeout: 300ms, down_after: %d}
    - name: snmphost
      address: 127.0.0.1
      tags: {os: linux}
      snmp: {port: %d, interval: 1s, timeout: 900ms, retries: 0, metric_sets: [system, storage]}
  thresholds:
    - {name: disk-used, metric: snmp_storage_used_percent, labels: {descr: "/"}, tags: {os: linux}, warning: 0.5, critical: 1, runbook: disk-full}
  syslog:
    udp_listen: 127.0.0.1:%d
    workers: 1
    filters:
      - {name: e2e-noise, contains: [E2E-NOISE], action: ignore}
      - {name: e2e-disk, contains: [E2E-DISK], regex: 'disk (?P<dev>sd[a-z]+)', severity: critical,
         dedup_key: '{{.Host}}/disk/{{.Group.dev}}', message: 'disk {{.Group.dev}} failed on {{.Host}}'}
  traps:
    listen: 127.0.0.1:%d
    communities: [public]
    targets: {127.0.0.1: trap-agent}
  samples: {flush_interval: 500ms}
`, dir, addr, host.Addr, pingInterval, pingDownAfter, agent.Port, syslogPort, trapPort)
	path := filepath.Join(dir, "unyo.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testutil.Serve(t, path, addr)
	c, err := client.New(p.URL, client.WithToken(testutil.AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	srv := "--server=" + p.URL

	// find returns the active incident of target and check, or nil.
	find := func(target, check string) *incident.Incident {
		incs, err := c.Incidents(ctx, client.ListOptions{Target: target, Limit: 100})
		if err != nil {
			t.Fatalf("incidents: %v", err)
		}
		for i := range incs {
			if incs[i].Check == check {
				return &incs[i]
			}
		}
		return nil
	}

	t.Run("PingDownAndUp", func(t *testing.T) {
		waitFor(t, "nshost up", func() bool {
			ts, err := c.Targets(ctx)
			return err == nil && len(ts) > 0 && ts[0].Name == "nshost" && ts[0].Status == "up"
		})
		host.Down()
		down := time.Now()
		var inc *incident.Incident
		waitFor(t, "ping incident on nshost", func() bool { inc = find("nshost", "ping"); return inc != nil })
		took := time.Since(down)
		limit := pingInterval*pingDownAfter + time.Second
		t.Logf("host down → incident opened in %s (limit interval %s × %d + 1s = %s)", took.Round(time.Millisecond), pingInterval, pingDownAfter, limit)
		if took > limit {
			t.Errorf("incident opened %s after the link went down, want within %s", took, limit)
		}
		if inc.Severity != incident.Critical || inc.State != incident.Open {
			t.Errorf("incident %+v, want open critical", inc)
		}
		// The CLI says why the last check failed.
		out, _, code := testutil.Run(t, "target", "show", "nshost", srv)
		if code != 0 || !strings.Contains(out, "DOWN") || !strings.Contains(out, "last failure") || !strings.Contains(out, "0/1 replies") {
			t.Errorf("unyo target show nshost (exit %d):\n%s", code, out)
		}

		host.Up()
		up := time.Now()
		waitFor(t, "ping incident recovered", func() bool {
			d, err := c.Incident(ctx, inc.ID)
			return err == nil && d.Incident.Recovered
		})
		t.Logf("link up → incident recovered in %s", time.Since(up).Round(time.Millisecond))
	})

	t.Run("LinkDownTrap", func(t *testing.T) {
		out, err := exec.Command("snmptrap", "-v", "2c", "-c", "public", "127.0.0.1:"+strconv.Itoa(trapPort), "",
			"1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.7", "i", "7", "1.3.6.1.2.1.2.2.1.7.7", "i", "1", "1.3.6.1.2.1.2.2.1.8.7", "i", "2").CombinedOutput()
		if err != nil {
			t.Fatalf("snmptrap: %v: %s", err, out)
		}
		var inc *incident.Incident
		waitFor(t, "linkDown incident", func() bool { inc = find("trap-agent", "link"); return inc != nil })
		if inc.Severity != incident.Major || inc.Source != "snmp-trap" || !strings.HasSuffix(inc.DedupKey, "/7") {
			t.Errorf("trap incident %+v, want major snmp-trap on ifIndex 7", inc)
		}
	})

	t.Run("SyslogFilters", func(t *testing.T) {
		// The ignore line goes first; with one worker lines are handled in
		// order, so once the second line's incident exists the first has
		// been through the filters too.
		for _, line := range []string{"E2E-NOISE disk sdz failed, ignore me", "E2E-DISK disk sdb failed"} {
			out, err := exec.Command("logger", "-n", "127.0.0.1", "-P", strconv.Itoa(syslogPort), "-d", "--rfc3164",
				"-p", "daemon.err", "-t", "smartd", line).CombinedOutput()
			if err != nil {
				t.Fatalf("logger: %v: %s", err, out)
			}
		}
		var found incident.Incident
		waitFor(t, "syslog incident", func() bool {
			incs, err := c.Incidents(ctx, client.ListOptions{Limit: 1000})
			if err != nil {
				return false
			}
			for _, i := range incs {
				if i.Check == "e2e-disk" {
					found = i
					return true
				}
			}
			return false
		})
		if found.Severity != incident.Critical || !strings.HasSuffix(found.DedupKey, "/disk/sdb") || !strings.HasPrefix(found.Message, "disk sdb failed on ") {
			t.Errorf("syslog incident %+v, want critical, dedup …/disk/sdb", found)
		}
		incs, _ := c.Incidents(ctx, client.ListOptions{Limit: 1000})
		for _, i := range incs {
			if strings.Contains(i.Message, "sdz") || i.Check == "e2e-noise" {
				t.Errorf("the ignored line made an incident: %+v", i)
			}
		}
		m := metrics(t, p.URL)
		if !strings.Contains(m, `unyo_filter_matches_total{action="ignore",rule="e2e-noise"} 1`) {
			t.Errorf("the ignore rule did not match exactly once:\n%s", grepLines(m, "unyo_filter_matches_total"))
		}
	})

	t.Run("DiskThreshold", func(t *testing.T) {
		var inc *incident.Incident
		waitFor(t, "disk threshold incident", func() bool { inc = find("snmphost", "threshold:disk-used"); return inc != nil })
		if inc.Severity != incident.Critical || inc.Runbook != "disk-full" {
			t.Errorf("threshold incident %+v, want critical with runbook disk-full", inc)
		}
	})

	t.Run("TargetListAndSamples", func(t *testing.T) {
		out, errOut, code := testutil.Run(t, "target", "list", "-o", "json", srv)
		if code != 0 {
			t.Fatalf("unyo target list: exit %d: %s", code, errOut)
		}
		var ts []console.TargetSummary
		if err := json.Unmarshal([]byte(out), &ts); err != nil {
			t.Fatalf("target list -o json: %v\n%s", err, out)
		}
		if len(ts) != 2 || ts[0].Name != "nshost" || ts[0].LastRTT == nil || ts[0].LastCheck == nil || ts[1].Name != "snmphost" {
			t.Errorf("targets = %s", out)
		}
		table, _, _ := testutil.Run(t, "target", "list", srv)
		if !strings.Contains(table, "LAST RTT") || !strings.Contains(table, "snmphost") {
			t.Errorf("table:\n%s", table)
		}
		waitFor(t, "samples written to the ledger", func() bool {
			return !strings.Contains(metrics(t, p.URL), "unyo_monitor_samples_written_total 0")
		})
		if m := metrics(t, p.URL); !strings.Contains(m, "unyo_monitor_samples_dropped_total 0") {
			t.Errorf("samples dropped:\n%s", grepLines(m, "unyo_monitor_samples"))
		}
	})
}

func metrics(t *testing.T, url string) string {
	t.Helper()
	resp, err := testutil.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
