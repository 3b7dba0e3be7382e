package jobnet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/jobnet/runstate"
)

func compile(t *testing.T, yaml string) map[string]*Net {
	t.Helper()
	c, err := configs.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	nets, err := Compile(c.Jobnets)
	if err != nil {
		t.Fatal(err)
	}
	return nets
}

type sinkRec struct {
	mu  sync.Mutex
	evs []incident.Event
}

func (s *sinkRec) Publish(_ context.Context, ev incident.Event) error {
	s.mu.Lock()
	s.evs = append(s.evs, ev)
	s.mu.Unlock()
	return nil
}

func (s *sinkRec) all() []incident.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]incident.Event(nil), s.evs...)
}

type harness struct {
	t    *testing.T
	e    *Engine
	log  *FileLog
	sink *sinkRec
}

func start(t *testing.T, yaml string, tweak ...func(*Options)) *harness {
	t.Helper()
	l, err := OpenFileLog("", nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, log: l, sink: &sinkRec{}}
	o := Options{Node: "n1", Log: l, Nets: compile(t, yaml), Sink: h.sink, Tick: 10 * time.Millisecond}
	for _, f := range tweak {
		f(&o)
	}
	h.e, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

// wait until the run ends and return it.
func (h *harness) wait(id string) *runstate.Run {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if r, ok := h.e.GetRun(id); ok && !r.Live() {
			return r
		}
		time.Sleep(10 * time.Millisecond)
	}
	r, _ := h.e.GetRun(id)
	h.t.Fatalf("run %s did not end: %+v", id, r)
	return nil
}

func (h *harness) waitJob(id, job string, st runstate.JobState) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if r, ok := h.e.GetRun(id); ok && r.Jobs[job].State == st {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	r, _ := h.e.GetRun(id)
	h.t.Fatalf("job %s of %s never %s: %+v", job, id, st, r)
}

func jobStates(r *runstate.Run) string {
	var b []string
	for _, n := range r.Order {
		b = append(b, n+"="+string(r.Jobs[n].State))
	}
	return strings.Join(b, " ")
}

// TestDAGOrderParallelBranches: a → (b, c) → d.
func TestDAGOrderParallelBranches(t *testing.T) {
	dir := t.TempDir()
	job := func(name, needs string) string {
		return fmt.Sprintf(`
      - name: %s
        command: /bin/sh
        args: ["-c", "date +%%s%%N > %s/%s.start; sleep 0.4; date +%%s%%N > %s/%s.end"]
        needs: [%s]`, name, dir, name, dir, name, needs)
	}
	h := start(t, "jobnets:\n  - name: dag\n    jobs:"+job("a", "")+job("b", "a")+job("c", "a")+job("d", "b, c")+"\n")
	id, err := h.e.Start(t.Context(), "dag", nil, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	r := h.wait(id)
	if r.Status != runstate.StatusNormal {
		t.Fatalf("run %s: %s", r.Status, jobStates(r))
	}
	ts := func(n, what string) int64 {
		b, err := os.ReadFile(filepath.Join(dir, n+"."+what))
		if err != nil {
			t.Fatal(err)
		}
		v, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return v
	}
	if ts("b", "start") < ts("a", "end") || ts("c", "start") < ts("a", "end") {
		t.Error("b or c started before a ended")
	}
	if ts("d", "start") < ts("b", "end") || ts("d", "start") < ts("c", "end") {
		t.Error("d started before b and c ended")
	}
	// Parallel branches: b and c overlap.
	if ts("b", "start") > ts("c", "end") || ts("c", "start") > ts("b", "end") {
		t.Error("b and c did not run side by side")
	}
}

func TestEndCodeJudgment(t *testing.T) {
	nets := compile(t, `
jobnets:
  - name: j
    jobs:
      - name: a
        command: /bin/true
        end_codes: {normal: ["0", "10-19"], warning: ["1-3", "100-"]}
`)
	j := nets["j"].Job("a")
	for code, want := range map[int]runstate.JobState{
		0: runstate.EndedNormal, 15: runstate.EndedNormal, 1: runstate.EndedWarning, 3: runstate.EndedWarning,
		4: runstate.EndedAbnormal, 9: runstate.EndedAbnormal, 20: runstate.EndedAbnormal, 100: runstate.EndedWarning,
		255: runstate.EndedWarning, -1: runstate.EndedAbnormal,
	} {
		if got := j.Judge(code); got != want {
			t.Errorf("code %d: %s, want %s", code, got, want)
		}
	}
	// End to end: exit 2 is a warning.
	h := start(t, `
jobnets:
  - name: w
    jobs:
      - name: a
        command: /bin/sh
        args: ["-c", "echo partial; exit 2"]
        end_codes: {warning: ["1-3"]}
`)
	id, _ := h.e.Start(t.Context(), "w", nil, "", "test")
	r := h.wait(id)
	a := r.Jobs["a"]
	if r.Status != runstate.StatusWarning || a.State != runstate.EndedWarning || *a.Code != 2 || a.Output != "partial\n" {
		t.Fatalf("run %s, job %+v", r.Status, a)
	}
}

func TestRetries(t *testing.T) {
	dir := t.TempDir()
	h := start(t, fmt.Sprintf(`
jobnets:
  - name: r
    jobs:
      - name: flaky
        command: /bin/sh
        args: ["-c", "echo x >> %s/count; test $(wc -l < %s/count) -ge 3 || exit 7"]
        retry: {count: 3, interval: 50ms, on: ["7"]}
      - name: never
        command: /bin/sh
        args: ["-c", "exit 8"]
        retry: {count: 3, interval: 10ms, on: ["7"]}
`, dir, dir))
	id, _ := h.e.Start(t.Context(), "r", nil, "", "test")
	r := h.wait(id)
	if f := r.Jobs["flaky"]; f.State != runstate.EndedNormal || f.Attempt != 3 {
		t.Errorf("flaky: %+v, want ended-normal on attempt 3", f)
	}
	if n := r.Jobs["never"]; n.State != runstate.EndedAbnormal || n.Attempt != 1 {
		t.Errorf("never (code 8 not retried): %+v", n)
	}
	evs := h.sink.all()
	if len(evs) != 1 || evs[0].Labels["job"] != "never" || evs[0].Status != incident.Problem || evs[0].Severity != incident.Major {
		t.Errorf("incidents: %+v", evs)
	}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestTimeoutKillsProcessTree(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	l := &Local{Name: "n1"}
	start := time.Now()
	res := l.Execute(t.Context(), Task{Run: "r", Job: "j", Attempt: 1, Command: "/bin/sh",
		Args: []string{"-c", "sleep 60 & echo $$ $! > " + pids + "; wait"},
		// Long enough for the shim and the shell to start on a loaded
		// machine (the race detector's shim is a large binary).
		Timeout: 3 * time.Second})
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("took %v", took)
	}
	if !res.Timeout {
		t.Fatalf("result %+v, want a timeout", res)
	}
	b, err := os.ReadFile(pids)
	if err != nil {
		t.Fatal(err)
	}
	var shell, sleep int
	fmt.Sscan(string(b), &shell, &sleep)
	deadline := time.Now().Add(3 * time.Second)
	for (alive(shell) || alive(sleep)) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(shell) || alive(sleep) {
		t.Fatalf("shell %d alive %v, sleep %d alive %v", shell, alive(shell), sleep, alive(sleep))
	}
}

func TestOutputCapped(t *testing.T) {
	res := (&Local{}).Execute(t.Context(), Task{Command: "/bin/sh", Args: []string{"-c", "head -c 100000 /dev/zero | tr '\\0' a; echo END"}})
	if len(res.Output) > OutputCap+8 || !strings.HasSuffix(res.Output, "END\n") {
		t.Fatalf("output %d bytes, tail %q", len(res.Output), res.Output[max(0, len(res.Output)-10):])
	}
}

func TestHoldRelease(t *testing.T) {
	h := start(t, `
jobnets:
  - name: h
    jobs:
      - {name: a, command: /bin/true}
      - {name: b, command: /bin/true, needs: [a], hold: true}
      - {name: c, command: /bin/true, needs: [b]}
`)
	id, _ := h.e.Start(t.Context(), "h", nil, "", "test")
	h.waitJob(id, "b", runstate.Held)
	time.Sleep(100 * time.Millisecond)
	if r, _ := h.e.GetRun(id); r.Jobs["b"].State != runstate.Held || !r.Live() {
		t.Fatalf("b not held: %s", jobStates(r))
	}
	if err := h.e.Act(t.Context(), id, Action{Verb: "release", Job: "b"}); err != nil {
		t.Fatal(err)
	}
	if r := h.wait(id); r.Status != runstate.StatusNormal {
		t.Fatalf("after release: %s %s", r.Status, jobStates(r))
	}
}

func TestRerunFromFailedThroughEngine(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "ok")
	h := start(t, fmt.Sprintf(`
jobnets:
  - name: rr
    jobs:
      - {name: a, command: /bin/true}
      - {name: b, command: /bin/sh, args: ["-c", "test -e %s"], needs: [a]}
      - {name: c, command: /bin/true, needs: [b]}
`, flag))
	id, _ := h.e.Start(t.Context(), "rr", nil, "", "test")
	r := h.wait(id)
	if r.Status != runstate.StatusAbnorm || r.Jobs["c"].State != runstate.Waiting {
		t.Fatalf("first run: %s %s", r.Status, jobStates(r))
	}
	os.WriteFile(flag, nil, 0o644)
	if err := h.e.Act(t.Context(), id, Action{Verb: "rerun", Mode: "failed"}); err != nil {
		t.Fatal(err)
	}
	r = h.wait(id)
	if r.Status != runstate.StatusNormal || r.Jobs["a"].Attempt != 1 || r.Jobs["b"].Attempt != 2 || r.Jobs["c"].Attempt != 1 {
		t.Fatalf("rerun: %s %s a=%d b=%d", r.Status, jobStates(r), r.Jobs["a"].Attempt, r.Jobs["b"].Attempt)
	}
	// The incident raised by b's failure is cleared by its normal end.
	var ok bool
	for _, ev := range h.sink.all() {
		ok = ok || ev.Status == incident.OK && ev.Labels["job"] == "b"
	}
	if !ok {
		t.Errorf("no ok event after the rerun: %+v", h.sink.all())
	}
}

func TestConcurrencyForbid(t *testing.T) {
	h := start(t, `
jobnets:
  - name: f
    jobs:
      - {name: a, command: /bin/sleep, args: ["0.5"]}
`)
	id, err := h.e.Start(t.Context(), "f", nil, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.Start(t.Context(), "f", nil, "", "test"); err == nil || !strings.Contains(err.Error(), "forbid") {
		t.Fatalf("second start: %v", err)
	}
	h.wait(id)
}

func TestKillRunningJob(t *testing.T) {
	h := start(t, `
jobnets:
  - name: k
    jobs:
      - {name: a, command: /bin/sleep, args: ["30"]}
`)
	id, _ := h.e.Start(t.Context(), "k", nil, "", "test")
	h.waitJob(id, "a", runstate.Running)
	if err := h.e.Act(t.Context(), id, Action{Verb: "kill"}); err != nil {
		t.Fatal(err)
	}
	if r := h.wait(id); r.Status != runstate.StatusKilled {
		t.Fatalf("%s %s", r.Status, jobStates(r))
	}
}

func TestNestedJobnet(t *testing.T) {
	h := start(t, `
jobnets:
  - name: inner
    jobs:
      - {name: x, command: /bin/sh, args: ["-c", "exit 1"], end_codes: {warning: ["1"]}}
  - name: outer
    jobs:
      - {name: sub, jobnet: inner}
      - {name: after, command: /bin/true, needs: [sub]}
`)
	id, _ := h.e.Start(t.Context(), "outer", nil, "", "test")
	r := h.wait(id)
	if r.Status != runstate.StatusWarning || r.Jobs["after"].State != runstate.EndedNormal {
		t.Fatalf("%s %s", r.Status, jobStates(r))
	}
}

func TestPreconditionSkip(t *testing.T) {
	h := start(t, `
jobnets:
  - name: p
    jobs:
      - name: a
        command: /bin/true
        precondition: {file: /nonexistent/unyo-test, else: skip}
      - {name: b, command: /bin/true, needs: [a]}
`)
	id, _ := h.e.Start(t.Context(), "p", nil, "", "test")
	r := h.wait(id)
	if r.Status != runstate.StatusNormal || r.Jobs["a"].State != runstate.Skipped || r.Jobs["b"].State != runstate.EndedNormal {
		t.Fatalf("%s %s", r.Status, jobStates(r))
	}
}

func TestFileTrigger(t *testing.T) {
	dir := t.TempDir()
	h := start(t, fmt.Sprintf(`
jobnets:
  - name: ft
    triggers:
      - file: {path: %s/*.done, on: [created], settle: 1s, poll: 50ms}
    jobs:
      - {name: a, command: /bin/true}
`, dir))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go h.e.RunTriggers(ctx, nil)
	time.Sleep(150 * time.Millisecond)
	f := filepath.Join(dir, "x.done")
	if err := os.WriteFile(f, []byte("part"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Still being written: no run before it settles. (The settle time
	// is 1 s so that a loaded machine's late wake-up is not a settle.)
	time.Sleep(100 * time.Millisecond)
	os.WriteFile(f, []byte("partial and more"), 0o644)
	time.Sleep(100 * time.Millisecond)
	if n := len(h.e.Runs()); n != 0 {
		t.Fatalf("%d runs before the file settled", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(h.e.Runs()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	runs := h.e.Runs()
	if len(runs) != 1 || runs[0].Trigger != "file" {
		t.Fatalf("runs: %+v", runs)
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(h.e.Runs()); n != 1 {
		t.Fatalf("%d runs for one file", n)
	}
}
