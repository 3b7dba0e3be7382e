package test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/monitor/ping/pingtest"
	"github.com/unyo-ops/unyo/monitor/snmp/snmptest"
	"github.com/unyo-ops/unyo/test/testutil"
)

// activeIncident returns the active incident of target/check, or nil.
func activeIncident(t *testing.T, c *client.Client, target, check string) *incident.Incident {
	t.Helper()
	incs, err := c.Incidents(context.Background(), client.ListOptions{Target: target, Limit: 100})
	if err != nil {
		t.Fatalf("incidents: %v", err)
	}
	for i := range incs {
		if incs[i].Check == check && incs[i].State.Active() {
			return &incs[i]
		}
	}
	return nil
}

// TestManualResolveOfStillFailingFault (issue 17 item 1): an operator
// resolves a threshold incident while the disk is still over the level.
// The fault recurs at the next checks as a new incident whose timeline
// says so, and the node behaves the same after a restart.
func TestManualResolveOfStillFailingFault(t *testing.T) {
	t.Parallel()
	agent := snmptest.Start(t)
	dir := t.TempDir()
	addr := testutil.FreePort(t)
	cfg := fmt.Sprintf(`node:
  name: e2e-resolve
  data_dir: %q
http:
  listen: %q
cluster:
  bind: 127.0.0.1:0
monitor:
  targets:
    - name: snmphost
      address: 127.0.0.1
      snmp: {port: %d, interval: 1s, timeout: 900ms, retries: 0, metric_sets: [storage]}
  thresholds:
    - {name: disk-used, metric: snmp_storage_used_percent, labels: {descr: "/"}, critical: 1}
`, dir, addr, agent.Port)
	path := filepath.Join(dir, "unyo.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	const check = "threshold:disk-used"

	// resolveAndRecur resolves the active incident with the CLI and waits
	// for the recurrence, which names it.
	resolveAndRecur := func(t *testing.T, p *testutil.Process) {
		t.Helper()
		c := testutil.Client(t, p.URL)
		var first *incident.Incident
		waitFor(t, "threshold incident", func() bool { first = activeIncident(t, c, "snmphost", check); return first != nil })
		unyo(t, 0, "incident", "resolve", itoa(first.ID), "--server="+p.URL)
		var next *incident.Incident
		waitFor(t, "the fault to recur after the manual resolve", func() bool {
			next = activeIncident(t, c, "snmphost", check)
			return next != nil && next.ID != first.ID
		})
		d, err := c.Incident(context.Background(), next.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("recurred: still failing after manual resolve of incident %d", first.ID)
		if len(d.Timeline) == 0 || d.Timeline[0].Kind != incident.KindOpened || d.Timeline[0].Comment != want {
			t.Errorf("timeline of incident %d: %+v, want it opened with %q", next.ID, d.Timeline, want)
		}
		if out := unyo(t, 0, "incident", "show", itoa(next.ID), "--server="+p.URL); !strings.Contains(out, want) {
			t.Errorf("incident show %d does not say %q:\n%s", next.ID, want, out)
		}
		if old, _ := c.Incident(context.Background(), first.ID); old.Incident.State != incident.Resolved {
			t.Errorf("resolved incident %d is %s", first.ID, old.Incident.State)
		}
	}

	p := testutil.Serve(t, path, addr)
	t.Run("BeforeRestart", func(t *testing.T) { resolveAndRecur(t, p) })
	p.Stop()
	p = testutil.Serve(t, path, addr)
	t.Run("AfterRestart", func(t *testing.T) { resolveAndRecur(t, p) })
}

// TestDownHostPagesOnce (issue 17 item 2): a host in a network namespace
// running snmpd loses its link. Ping opens the one incident; the SNMP check
// is unreachable (recorded, no incident), and resumes when the host is back.
func TestDownHostPagesOnce(t *testing.T) {
	t.Parallel()
	host := pingtest.NewHost(t)
	agent := snmptest.StartWith(t, snmptest.Options{Host: host.Addr.String(), NetNS: host.NS})
	dir := t.TempDir()
	addr := testutil.FreePort(t)
	p := serveYAML(t, dir, addr, fmt.Sprintf(`node:
  name: e2e-down-once
  data_dir: %q
http:
  listen: %q
cluster:
  bind: 127.0.0.1:0
monitor:
  targets:
    - name: nshost
      address: %s
      ping: {interval: 1s, packets: 1, timeout: 300ms, down_after: 2}
      snmp: {port: %d, interval: 1s, timeout: 500ms, retries: 0, down_after: 1, metric_sets: [system]}
`, dir, addr, host.Addr, agent.Port))
	c := testutil.Client(t, p.URL)
	srv := "--server=" + p.URL
	checkStatus := func(check string) string {
		d, err := c.Target(context.Background(), "nshost")
		if err != nil {
			return ""
		}
		for _, ch := range d.Checks {
			if ch.Check == check {
				return string(ch.Status)
			}
		}
		return ""
	}
	waitFor(t, "nshost ping and snmp up", func() bool { return checkStatus("ping") == "up" && checkStatus("snmp") == "up" })

	host.Down()
	var down *incident.Incident
	waitFor(t, "ping incident", func() bool { down = activeIncident(t, c, "nshost", "ping"); return down != nil })
	waitFor(t, "snmp unreachable", func() bool { return checkStatus("snmp") == "unreachable" })
	out := unyo(t, 0, "target", "show", "nshost", srv)
	if !strings.Contains(out, "snmp: unreachable") || !strings.Contains(out, "unreachable: nshost does not answer ping") {
		t.Errorf("target show nshost:\n%s", out)
	}
	if inc := activeIncident(t, c, "nshost", "snmp"); inc != nil {
		t.Errorf("the down host opened a separate SNMP incident: %+v", inc)
	}

	host.Up()
	waitFor(t, "ping recovered", func() bool {
		d, err := c.Incident(context.Background(), down.ID)
		return err == nil && d.Incident.Recovered
	})
	waitFor(t, "snmp up again", func() bool { return checkStatus("snmp") == "up" })
	if inc := activeIncident(t, c, "nshost", "snmp"); inc != nil {
		t.Errorf("SNMP incident after the host came back: %+v", inc)
	}
}

// TestEventTimesBounded (issue 17 item 4): an API event dated 9999-12-31 is
// refused with a 400 naming the field; one a few minutes ahead is taken,
// and its timeline shows the receive time beside it.
func TestEventTimesBounded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := testutil.FreePort(t)
	p := serveYAML(t, dir, addr, fmt.Sprintf(`node:
  name: e2e-event-time
  data_dir: %q
http:
  listen: %q
cluster:
  bind: 127.0.0.1:0
alerting:
  event_time: {max_future: 5m, max_past: 1h}
`, dir, addr))
	c := testutil.Client(t, p.URL)
	ctx := context.Background()

	post := func(body string) (int, map[string]any) {
		resp, err := testutil.Post(p.URL+"/api/v1/events", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, out := post(`{"target":"clock01","check":"x","severity":"major","time":"9999-12-31T23:59:59Z"}`)
	if code != http.StatusBadRequest || out["field"] != "time" || !strings.Contains(fmt.Sprint(out["error"]), "alerting.event_time.max_future") {
		t.Errorf("9999-12-31: %d %v, want 400 naming field time and the setting", code, out)
	}
	code, out = post(`{"target":"clock01","check":"x","severity":"major","time":"2001-01-01T00:00:00Z"}`)
	if code != http.StatusBadRequest || out["field"] != "time" || !strings.Contains(fmt.Sprint(out["error"]), "max_past") {
		t.Errorf("2001-01-01: %d %v, want 400 naming field time", code, out)
	}

	ahead := time.Now().Add(3 * time.Minute).UTC().Truncate(time.Second)
	code, out = post(`{"target":"clock02","check":"x","severity":"major","time":"` + ahead.Format(time.RFC3339) + `"}`)
	if code != http.StatusAccepted {
		t.Fatalf("3 minutes ahead: %d %v, want 202", code, out)
	}
	var inc *incident.Incident
	waitFor(t, "incident of the event 3 minutes ahead", func() bool { inc = activeIncident(t, c, "clock02", "x"); return inc != nil })
	d, err := c.Incident(ctx, inc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e := d.Timeline[0]; !e.At.Equal(ahead) || e.Received == nil || !e.Received.Before(ahead) {
		t.Errorf("opened entry at %s received %v, want the source time %s and an earlier receive time", e.At, e.Received, ahead)
	}
	if show := unyo(t, 0, "incident", "show", itoa(inc.ID), "--server="+p.URL); !strings.Contains(show, "received ") {
		t.Errorf("incident show does not show the receive time:\n%s", show)
	}

}
