package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/jobnet/runstate"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestJobnetReload (issue 17 item 7): jobnet definitions change without a
// restart. `config apply` of a file adding a jobnet says what it applied
// and the jobnet runs at once; a run in progress keeps the definition it
// started with while new runs take the new one; SIGHUP reloads jobnets
// from the node's file; a restart keeps the applied jobnets and logs no
// "need a restart" for what did not change; an apply that changes a
// section needing a restart says so and exits non-zero.
func TestJobnetReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// gated: job a waits for the file "go", then b writes which definition
	// it ran with.
	gated := func(version string) string {
		return fmt.Sprintf(`  - name: gated
    concurrency: allow
    jobs:
      - {name: a, command: /bin/sh, args: ["-c", "while [ ! -f %[1]s/go ]; do sleep 0.05; done"]}
      - {name: b, command: /bin/sh, args: ["-c", "echo %[2]s >> %[1]s/gated"], needs: [a]}
`, dir, version)
	}
	added := fmt.Sprintf(`  - name: added
    jobs:
      - {name: x, command: /bin/sh, args: ["-c", "echo added >> %s/added"]}
`, dir)
	hup := fmt.Sprintf(`  - name: hup
    jobs:
      - {name: y, command: /bin/sh, args: ["-c", "echo hup >> %s/hup"]}
`, dir)
	cfg, addr := writeConfig(t, dir, "jobnets:\n"+gated("v1"))
	base, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := testutil.Serve(t, cfg, addr)
	srv := "--server=" + p.URL

	unyo := func(want int, args ...string) string {
		t.Helper()
		out, errOut, code := testutil.Run(t, args...)
		if code != want {
			t.Fatalf("unyo %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out + errOut
	}
	lines := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return strings.TrimSpace(string(b))
	}
	show := func(id string) ledger.RunRecord {
		t.Helper()
		var r ledger.RunRecord
		out, errOut, code := testutil.Run(t, "run", "show", id, srv, "-o", "json")
		if code != 0 || json.Unmarshal([]byte(out), &r) != nil {
			t.Fatalf("run show %s: exit %d %s%s", id, code, out, errOut)
		}
		return r
	}
	ended := func(id string) bool { return show(id).Status == runstate.StatusNormal }
	write := func(path, body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// A run of gated v1 in progress: job a waits for the "go" file.
	inProgress := strings.TrimSpace(unyo(0, "jobnet", "run", "gated", srv))
	waitFor(t, "job a of "+inProgress+" running", func() bool {
		for _, j := range show(inProgress).Jobs {
			if j.Job == "a" && j.State == string(runstate.Running) {
				return true
			}
		}
		return false
	})

	// Apply a config that changes gated (v2) and adds a jobnet.
	next := filepath.Join(t.TempDir(), "next.yaml")
	write(next, strings.Replace(string(base), gated("v1"), gated("v2")+added, 1))
	out := unyo(0, "config", "apply", next, srv)
	if !strings.Contains(out, "applied on e2e: jobnets") || strings.Contains(out, "restart") {
		t.Errorf("config apply does not say it applied the jobnets:\n%s", out)
	}
	if list := unyo(0, "jobnet", "list", srv); !strings.Contains(list, "added") {
		t.Fatalf("jobnet list after config apply lacks the new jobnet:\n%s", list)
	}
	id := strings.TrimSpace(unyo(0, "jobnet", "run", "added", srv))
	waitFor(t, "run "+id+" of the applied jobnet", func() bool { return ended(id) })
	if got := lines("added"); got != "added" {
		t.Errorf("added wrote %q", got)
	}

	// The run in progress finishes with v1; a new run takes v2.
	write(filepath.Join(dir, "go"), "")
	waitFor(t, inProgress+" to end", func() bool { return ended(inProgress) })
	if got := lines("gated"); got != "v1" {
		t.Fatalf("the run in progress ran %q, want the definition it started with (v1)", got)
	}
	id = strings.TrimSpace(unyo(0, "jobnet", "run", "gated", srv))
	waitFor(t, "a new run "+id+" of gated", func() bool { return ended(id) })
	if got := lines("gated"); got != "v1\nv2" {
		t.Errorf("gated wrote %q, want v1 then v2 (a new run takes the new definition)", got)
	}

	// SIGHUP: the node's own file with another jobnet.
	write(cfg, string(base)+hup)
	if err := syscall.Kill(p.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "hup after SIGHUP", func() bool { return strings.Contains(unyo(0, "jobnet", "list", srv), "hup") })
	id = strings.TrimSpace(unyo(0, "jobnet", "run", "hup", srv))
	waitFor(t, "run "+id+" of the reloaded jobnet", func() bool { return ended(id) })

	// Nothing but jobnets changed: no "needs a restart" so far.
	if strings.Contains(p.Log(), "need a restart") {
		t.Errorf("a jobnet reload logged that something needs a restart:\n%s", p.Log())
	}

	// Restart: the cluster's applied jobnets (added, gated v2) are back,
	// and nothing is reported as needing a restart.
	write(cfg, string(base))
	p.Stop()
	p = testutil.Serve(t, cfg, addr)
	waitFor(t, "the applied jobnet after a restart", func() bool { return strings.Contains(unyo(0, "jobnet", "list", srv), "added") })
	if strings.Contains(p.Log(), "need a restart") {
		t.Errorf("a restart logged that settings need a restart:\n%s", p.Log())
	}

	// An apply that changes a section needing a restart says so and
	// exits non-zero.
	write(next, strings.Replace(string(base), gated("v1"), gated("v2")+added, 1)+"alerting:\n  time_zone: Asia/Tokyo\n")
	out = unyo(1, "config", "apply", next, srv)
	if !strings.Contains(out, "needs a restart: alerting") {
		t.Errorf("config apply of an alerting change:\n%s", out)
	}
	// After a restart it is in effect (the file still has the old
	// alerting section): the same file again changes nothing.
	p.Stop()
	p = testutil.Serve(t, cfg, addr)
	if out := unyo(0, "config", "apply", next, srv); !strings.Contains(out, "unchanged on e2e") {
		t.Errorf("config apply of what runs after the restart:\n%s", out)
	}
	if strings.Contains(p.Log(), "need a restart") {
		t.Errorf("the restart after an alerting change logged that settings need a restart:\n%s", p.Log())
	}
}
