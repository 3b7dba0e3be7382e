package test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestExternalDrillFromConfig takes external drills from a configuration
// file through a jobnet run to the drill record in the ledger, on one
// real node: the primary stand-in is a TCP listener, the standby serves
// once the switchover command has run (a file), the canary writes and
// reads a file. One drill passes with RPO 0; one whose standby never
// serves fails past its limit, an abnormal run and a failed record.
func TestExternalDrillFromConfig(t *testing.T) {
	dir := t.TempDir()
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
	flag, canary := filepath.Join(dir, "switched"), filepath.Join(dir, "canary")
	addr := testutil.FreePort(t)
	cfg := fmt.Sprintf(`node:
  name: dr1
  data_dir: %[1]q
http:
  listen: %[2]q
jobnets:
  - name: pair
    jobs:
      - name: switch
        kind: drill
        drill:
          kind: external
          limit: 30s
          switchover: [sh, -c, "touch %[3]s"]
          checks:
            - {name: primary, tcp: %[4]q}
            - {name: standby, command: [test, -f, %[3]q]}
          served_when: [standby]
          restored_when: [primary]
          canary:
            write: [sh, -c, "echo $UNYO_DRILL_SEQ >> %[5]s"]
            read: [sh, -c, "tail -n 1 %[5]s"]
  - name: broken
    jobs:
      - name: switch
        kind: drill
        drill:
          kind: external
          limit: 2s
          switchover: ["true"]
          checks:
            - {name: primary, tcp: %[4]q}
            - {name: standby, command: [test, -f, %[6]q]}
          served_when: [standby]
          restored_when: [primary]
`, filepath.Join(dir, "data"), addr, flag, ln.Addr().String(), canary, filepath.Join(dir, "never"))
	p := serveYAML(t, dir, addr, cfg)
	cl := testutil.Client(t, p.URL)
	run := func(jobnet string) ledger.RunRecord {
		t.Helper()
		id, err := cl.StartRun(t.Context(), jobnet, nil)
		if err != nil {
			t.Fatal(err)
		}
		var r ledger.RunRecord
		waitFor(t, jobnet+" to end", func() bool {
			r, err = cl.Run(t.Context(), id)
			return err == nil && r.Status != "running" && r.Status != ""
		})
		return r
	}
	drillOf := func(name string) ledger.DrillRecord {
		t.Helper()
		ds, err := cl.Drills(t.Context(), name, "", 1)
		if err != nil || len(ds) != 1 {
			t.Fatalf("drills of %s: %+v %v", name, ds, err)
		}
		return ds[0]
	}

	if r := run("pair"); r.Status != "ended-normal" {
		t.Fatalf("drill run: %+v", r)
	}
	d := drillOf("pair/switch")
	if d.Result != ledger.DrillPassed || d.Kind != "external" || d.RTO <= 0 || d.RPO != 0 || d.Served.IsZero() {
		t.Fatalf("passing drill: %+v", d)
	}
	if _, err := os.Stat(flag); err != nil {
		t.Fatalf("the switchover command did not run: %v", err)
	}
	if b, _ := os.ReadFile(canary); len(strings.Fields(string(b))) < 2 {
		t.Fatalf("canary writes: %q", b)
	}

	if r := run("broken"); r.Status == "ended-normal" {
		t.Fatalf("drill whose standby never serves: run %+v", r)
	}
	if d := drillOf("broken/switch"); d.Result == ledger.DrillPassed || d.Reason == "" {
		t.Fatalf("drill whose standby never serves: %+v", d)
	}
	out := unyo(t, 0, "drill", "list", "--server="+p.URL)
	if !strings.Contains(out, "pair/switch") || !strings.Contains(out, "broken/switch") {
		t.Fatalf("unyo drill list:\n%s", out)
	}
}
