package test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestJobnet drives the job network of a real node the way an operator
// does: a DAG started with `unyo jobnet run`, a failing job that raises an
// incident and is rerun after the fault is fixed, a schedule that fires by
// itself, and a job routed to a real `unyo agent` process.
func TestJobnet(t *testing.T) {
	dir := t.TempDir()
	natsAddr := testutil.FreePort(t)
	extra := fmt.Sprintf(`nats:
  embedded:
    listen: %[2]q
jobnets:
  - name: nightly
    description: extract, then load and report in parallel
    concurrency: allow
    params: {who: nobody}
    jobs:
      - {name: extract, command: /bin/sh, args: ["-c", "echo extract ${who} >> %[1]s/order"]}
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
		cmd := exec.Command(testutil.Binary(t), "agent", "--name", "ag1", "--nats", "nats://"+natsAddr)
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
