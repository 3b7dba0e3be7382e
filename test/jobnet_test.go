package test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestJobnet drives the job network of a real node the way an operator
// does: a DAG started with `unyo jobnet run`, a failing job that raises an
// incident and is rerun after the fault is fixed, a schedule that fires by
// itself, and a job routed to a real `unyo agent` process.
func TestJobnet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	natsAddr := testutil.FreePort(t)
	if err := os.WriteFile(filepath.Join(dir, "ag1.pass"), []byte("ag1-password-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf(`nats:
  embedded:
    listen: %[2]q
    agents: [{name: ag1, password: "ag1-password-0123456789"}]
jobnets:
  - name: nightly
    description: extract, then load and report in parallel
    concurrency: allow
    params: {who: nobody}
    jobs:
      - {name: extract, command: /bin/sh, args: ["-c", "echo extract \"$WHO\" >> %[1]s/order"], env: {WHO: "${who}"}}
      - {name: load, command: /bin/sh, args: ["-c", "sleep 0.2; echo load >> %[1]s/order"], needs: [extract]}
      - {name: report, command: /bin/sh, args: ["-c", "sleep 0.2; echo report >> %[1]s/order"], needs: [extract]}
  - name: fragile
    severity: critical
    jobs:
      - {name: check, command: /bin/sh, args: ["-c", "test -f %[1]s/marker || { echo no marker; exit 1; }"]}
      - {name: after, command: /bin/true, needs: [check]}
  - name: tick
    schedules: [{cron: "@every 2s"}]
    calendar: {business_days: [mon, tue, wed, thu, fri, sat, sun]}
    concurrency: allow
    jobs: [{name: t, command: /bin/true}]
  - name: remote
    jobs:
      - {name: there, command: /bin/sh, args: ["-c", "echo $UNYO_JOB on agent >> %[1]s/remote"], run_on: {agent: ag1}}
  - name: gated
    concurrency: allow
    params: {gate: none}
    jobs:
      - {name: a, command: /bin/sh, args: ["-c", "while [ ! -f \"%[1]s/$GATE\" ]; do sleep 0.05; done; echo a \"$GATE\" >> %[1]s/gated"], env: {GATE: "${gate}"}}
      - {name: b, command: /bin/sh, args: ["-c", "echo b \"$GATE\" >> %[1]s/gated"], env: {GATE: "${gate}"}, needs: [a]}
      - {name: c, command: /bin/sh, args: ["-c", "echo c \"$GATE\" >> %[1]s/gated"], env: {GATE: "${gate}"}, needs: [b]}
  - name: long
    jobs:
      - {name: sleeper, command: /bin/sh, args: ["-c", "echo $$ > %[1]s/long.sh; sleep 300 & echo $! > %[1]s/long.child; wait"]}
  - name: chain
    jobs:
      - {name: a, command: /bin/sh, args: ["-c", "echo a >> %[1]s/chain"]}
      - {name: b, command: /bin/sh, args: ["-c", "echo b >> %[1]s/chain; test -f %[1]s/chain.ok"], needs: [a]}
      - {name: c, command: /bin/sh, args: ["-c", "echo c >> %[1]s/chain"], needs: [b]}
  - name: warn
    jobs:
      - {name: w, command: /bin/sh, args: ["-c", "echo w >> %[1]s/warn; test -f %[1]s/warn.ok || exit 3"], end_codes: {warning: ["1-9"]}}
      - {name: x, command: /bin/sh, args: ["-c", "echo x >> %[1]s/warn"]}
`, dir, natsAddr)
	cfg, addr := writeConfig(t, dir, extra)
	p := testutil.Serve(t, cfg, addr)
	srv := "--server=" + p.URL

	unyo := func(want int, args ...string) string {
		t.Helper()
		out, errOut, code := testutil.Run(t, args...)
		if code != want {
			t.Fatalf("unyo %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out
	}
	showRun := func(id string) ledger.RunRecord {
		t.Helper()
		var r ledger.RunRecord
		out := unyo(0, "run", "show", id, srv, "-o", "json")
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("run show -o json: %v\n%s", err, out)
		}
		return r
	}
	waitRun := func(id, status string) ledger.RunRecord {
		t.Helper()
		var r ledger.RunRecord
		waitFor(t, "run "+id+" "+status, func() bool {
			r = showRun(id)
			return r.Status == status
		})
		return r
	}

	t.Run("list and show", func(t *testing.T) {
		out := unyo(0, "jobnet", "list", srv)
		for _, n := range []string{"nightly", "fragile", "tick", "remote", "@every 2s"} {
			if !strings.Contains(out, n) {
				t.Errorf("jobnet list lacks %q:\n%s", n, out)
			}
		}
		var d console.JobnetDetail
		if err := json.Unmarshal([]byte(unyo(0, "jobnet", "show", "nightly", srv, "-o", "json")), &d); err != nil {
			t.Fatal(err)
		}
		if len(d.Levels) != 2 || d.Levels[0][0] != "extract" || len(d.Levels[1]) != 2 {
			t.Errorf("DAG levels %v", d.Levels)
		}
		if out := unyo(0, "jobnet", "show", "nightly", srv); !strings.Contains(out, "2: load  report") {
			t.Errorf("jobnet show:\n%s", out)
		}
		unyo(1, "jobnet", "show", "nope", srv)
		unyo(1, "jobnet", "run", "nightly", "--param", "bogus=1", srv)
	})

	t.Run("DAG run", func(t *testing.T) {
		id := strings.TrimSpace(unyo(0, "jobnet", "run", "nightly", "--param", "who=e2e", srv))
		r := waitRun(id, "ended-normal")
		if len(r.Jobs) != 3 {
			t.Fatalf("jobs %+v", r.Jobs)
		}
		for _, j := range r.Jobs {
			if j.State != "ended-normal" || j.Code == nil || *j.Code != 0 {
				t.Errorf("job %s: %s", j.Job, j.State)
			}
		}
		data, _ := os.ReadFile(filepath.Join(dir, "order"))
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		if len(lines) != 3 || lines[0] != "extract e2e" {
			t.Errorf("execution order %q", lines)
		}
		if out := unyo(0, "run", "show", id, srv); !strings.Contains(out, "ended-normal") || !strings.Contains(out, "report") {
			t.Errorf("run show:\n%s", out)
		}
	})

	t.Run("abnormal end, incident, rerun from failed", func(t *testing.T) {
		id := strings.TrimSpace(unyo(0, "jobnet", "run", "fragile", srv))
		r := waitRun(id, "ended-abnormal")
		if r.Jobs[0].Job != "check" || r.Jobs[0].State != "ended-abnormal" || r.Jobs[1].State == "ended-normal" {
			t.Errorf("jobs %+v", r.Jobs)
		}
		var incs []incident.Incident
		waitFor(t, "an incident for the abnormal end", func() bool {
			out := unyo(0, "incident", "list", srv, "-o", "json", "--target", "fragile")
			incs = nil
			_ = json.Unmarshal([]byte(out), &incs)
			return len(incs) == 1
		})
		if incs[0].Severity != incident.Critical || !strings.Contains(incs[0].Message, "check") {
			t.Errorf("incident %+v", incs[0])
		}
		if out := unyo(0, "incident", "list", srv); !strings.Contains(out, "fragile") {
			t.Errorf("incident list:\n%s", out)
		}
		if err := os.WriteFile(filepath.Join(dir, "marker"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		unyo(0, "run", "rerun", id, "--from", "failed", srv)
		r = waitRun(id, "ended-normal")
		for _, j := range r.Jobs {
			if j.State != "ended-normal" {
				t.Errorf("after rerun, job %s: %s", j.Job, j.State)
			}
		}
		unyo(1, "run", "rerun", "no-such-run", srv)
	})

	t.Run("schedule fires", func(t *testing.T) {
		var runs []ledger.RunRecord
		waitFor(t, "two scheduled runs of tick", func() bool {
			out := unyo(0, "run", "list", "--jobnet", "tick", srv, "-o", "json")
			runs = nil
			if err := json.Unmarshal([]byte(out), &runs); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			n := 0
			for _, r := range runs {
				if r.Trigger == "schedule" && r.Status == "ended-normal" {
					n++
				}
			}
			return n >= 2
		})
		for i, r := range runs {
			if r.Jobnet != "tick" {
				t.Errorf("run %+v", r)
			}
			// Newest first; @every 2s fires every 2 s, each time once.
			if i > 0 && runs[i-1].Scheduled.Sub(r.Scheduled) != 2*time.Second {
				t.Errorf("scheduled %s then %s", r.Scheduled, runs[i-1].Scheduled)
			}
		}
		if out := unyo(0, "run", "list", srv); !strings.Contains(out, "tick@") || !strings.Contains(out, "nightly@") {
			t.Errorf("run list:\n%s", out)
		}
	})

	t.Run("agent", func(t *testing.T) {
		id := strings.TrimSpace(unyo(0, "jobnet", "run", "remote", srv))
		cmd := exec.Command(testutil.Binary(t), "agent", "--name", "ag1", "--nats", "nats://"+natsAddr,
			"--password-file", filepath.Join(dir, "ag1.pass"), "--trust-key", filepath.Join(dir, "task-signing.pub"))
		var log lockedBuf
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("agent log:\n%s", log.String())
			}
		}()
		r := waitRun(id, "ended-normal")
		if w := r.Jobs[0].Where; w != "agent:ag1" {
			t.Errorf("job ran at %q", w)
		}
		data, _ := os.ReadFile(filepath.Join(dir, "remote"))
		if strings.TrimSpace(string(data)) != "there on agent" {
			t.Errorf("agent wrote %q", data)
		}
	})

	job := func(r ledger.RunRecord, name string) ledger.JobRecord {
		t.Helper()
		for _, j := range r.Jobs {
			if j.Job == name {
				return j
			}
		}
		t.Fatalf("run %s has no job %s: %+v", r.ID, name, r.Jobs)
		return ledger.JobRecord{}
	}
	waitJob := func(id, name, state string) ledger.RunRecord {
		t.Helper()
		var r ledger.RunRecord
		waitFor(t, "job "+name+" of "+id+" "+state, func() bool {
			r = showRun(id)
			return job(r, name).State == state
		})
		return r
	}
	lines := func(name string) []string {
		data, _ := os.ReadFile(filepath.Join(dir, name))
		return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(data)), " ", "_"))
	}
	touch := func(name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Operators act with their own tokens: op1 an operator, se1 an
	// operations SE (skip is ops-se and up).
	op1 := addUser(t, p.URL, "op1", "operator")
	se1 := addUser(t, p.URL, "se1", "ops-se")

	t.Run("hold and release a job", func(t *testing.T) {
		id := strings.TrimSpace(unyo(0, "jobnet", "run", "gated", "--param", "gate=g1", srv))
		waitJob(id, "a", "running")
		out := unyoAs(t, op1, 0, "run", "hold", id, "--job", "b", srv)
		if !strings.Contains(out, "b") {
			t.Errorf("run hold:\n%s", out)
		}
		// The audit log says op1 held it (from op1's token, not a flag).
		var es []auth.AuditEntry
		if err := json.Unmarshal([]byte(unyo(0, "audit", "list", "--actor", "op1", srv, "-o", "json")), &es); err != nil {
			t.Fatal(err)
		}
		if len(es) != 1 || es[0].Action != string(auth.ActionRunHold) || es[0].Result != "ok" || es[0].Role != auth.RoleOperator ||
			!strings.Contains(es[0].Target, id) {
			t.Errorf("audit entries of op1 after the hold of %s: %+v", id, es)
		}
		touch("g1") // a ends; b is due but held
		r := waitJob(id, "b", "held")
		if r.Status != "running" || job(r, "a").State != "ended-normal" || job(r, "c").State != "waiting" {
			t.Errorf("while held: %s %+v", r.Status, r.Jobs)
		}
		time.Sleep(500 * time.Millisecond)
		if got := lines("gated"); strings.Join(got, ",") != "a_g1" {
			t.Fatalf("while b is held: executions %q", got)
		}
		unyo(1, "run", "release", id, "--job", "c", srv) // not held
		unyo(0, "run", "release", id, "--job", "b", srv)
		r = waitRun(id, "ended-normal")
		if got := lines("gated"); strings.Join(got, ",") != "a_g1,b_g1,c_g1" {
			t.Errorf("after release: executions %q", got)
		}
		for _, j := range r.Jobs {
			if j.State != "ended-normal" {
				t.Errorf("job %s: %s", j.Job, j.State)
			}
		}
	})

	t.Run("skip a job", func(t *testing.T) {
		id := strings.TrimSpace(unyo(0, "jobnet", "run", "gated", "--param", "gate=g2", srv))
		waitJob(id, "a", "running")
		unyo(1, "run", "skip", id, "--job", "a", srv) // running: kill it instead
		// An operator may not skip (run.skip is ops-se and up).
		out, errOut, code := testutil.RunEnv(t, []string{"UNYO_TOKEN=" + op1}, "run", "skip", id, "--job", "b", srv)
		if code != 1 || !strings.Contains(errOut, "403") {
			t.Errorf("run skip as an operator: exit %d, want 1 and 403\n%s%s", code, out, errOut)
		}
		unyoAs(t, se1, 0, "run", "skip", id, "--job", "b", srv)
		touch("g2")
		r := waitRun(id, "ended-normal")
		if b := job(r, "b"); b.State != "skipped" || b.Reason != "skipped by se1" {
			t.Errorf("b: %+v", b)
		}
		if c := job(r, "c"); c.State != "ended-normal" {
			t.Errorf("c after skipped b: %+v", c)
		}
		var g2 []string
		for _, l := range lines("gated") {
			if strings.HasSuffix(l, "_g2") {
				g2 = append(g2, l)
			}
		}
		if strings.Join(g2, ",") != "a_g2,c_g2" {
			t.Errorf("executions %q: b must not run", g2)
		}
	})

	t.Run("kill a running job", func(t *testing.T) {
		id := strings.TrimSpace(unyo(0, "jobnet", "run", "long", srv))
		waitJob(id, "sleeper", "running")
		var pids []int
		waitFor(t, "the job's processes", func() bool {
			pids = nil
			for _, f := range []string{"long.sh", "long.child"} {
				data, _ := os.ReadFile(filepath.Join(dir, f))
				if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
					pids = append(pids, pid)
				}
			}
			return len(pids) == 2
		})
		for _, pid := range pids {
			if !alive(pid) {
				t.Fatalf("process %d not running before the kill", pid)
			}
		}
		unyo(0, "run", "kill", id, "--job", "sleeper", srv)
		r := waitRun(id, "killed")
		if s := job(r, "sleeper"); s.State != "killed" {
			t.Errorf("sleeper: %+v", s)
		}
		waitFor(t, "the job's process tree to be gone", func() bool {
			for _, pid := range pids {
				if alive(pid) {
					return false
				}
			}
			return true
		})
		unyo(1, "run", "kill", id, "--job", "sleeper", srv) // ended already
	})

	t.Run("rerun from after, then all", func(t *testing.T) {
		id := strings.TrimSpace(unyo(0, "jobnet", "run", "chain", srv))
		r := waitRun(id, "ended-abnormal")
		if job(r, "b").State != "ended-abnormal" || job(r, "c").State != "waiting" {
			t.Fatalf("jobs %+v", r.Jobs)
		}
		// From after the failed job: b is passed over, only c runs.
		unyo(0, "run", "rerun", id, "--from", "after", srv)
		r = waitRun(id, "ended-normal")
		if b := job(r, "b"); b.State != "skipped" {
			t.Errorf("b after rerun --from after: %+v", b)
		}
		if got := strings.Join(lines("chain"), ","); got != "a,b,c" {
			t.Errorf("executions after rerun --from after: %s", got)
		}
		// The whole jobnet, with the fault fixed.
		touch("chain.ok")
		unyo(0, "run", "rerun", id, "--from", "all", srv)
		r = waitRun(id, "ended-normal")
		for _, j := range r.Jobs {
			if j.State != "ended-normal" {
				t.Errorf("after rerun --from all, job %s: %s", j.Job, j.State)
			}
		}
		if r.Gen != 2 {
			t.Errorf("gen %d, want 2", r.Gen)
		}
		if got := strings.Join(lines("chain"), ","); got != "a,b,c,a,b,c" {
			t.Errorf("executions after rerun --from all: %s", got)
		}
	})

	t.Run("rerun warnings", func(t *testing.T) {
		id := strings.TrimSpace(unyo(0, "jobnet", "run", "warn", srv))
		r := waitRun(id, "ended-warning")
		if w := job(r, "w"); w.State != "ended-warning" || w.Code == nil || *w.Code != 3 {
			t.Fatalf("w: %+v", w)
		}
		unyo(2, "run", "rerun", id, "--from", "bogus", srv) // a usage error
		touch("warn.ok")
		unyo(0, "run", "rerun", id, "--from", "warnings", srv)
		r = waitRun(id, "ended-normal")
		if w := job(r, "w"); w.State != "ended-normal" || w.Code == nil || *w.Code != 0 {
			t.Errorf("w after rerun: %+v", w)
		}
		got := lines("warn")
		slices.Sort(got)
		if strings.Join(got, ",") != "w,w,x" {
			t.Errorf("executions %q: only w reruns", got)
		}
		// Nothing ended with a warning any more.
		unyo(1, "run", "rerun", id, "--from", "warnings", srv)
	})
}

// alive reports whether pid runs (a zombie is dead: it only waits to be
// reaped).
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
