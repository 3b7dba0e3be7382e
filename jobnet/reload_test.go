package jobnet

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/jobnet/runstate"
)

// TestSetNetsSchedules: after SetNets a removed jobnet's schedule fires no
// more, and a new jobnet's schedule fires from then on.
func TestSetNetsSchedules(t *testing.T) {
	c := &clock{t: time.Date(2026, 3, 2, 0, 0, 30, 0, time.UTC)}
	const every = `
    calendar: {business_days: [mon, tue, wed, thu, fri, sat, sun]}
    schedules: [{cron: "* * * * *"}]
    concurrency: allow
    jobs: [{name: a, command: /bin/true}]
`
	e, _ := stepEngine(t, "jobnets:\n  - name: old"+every, c)
	ctx := t.Context()
	count := func(name string) int {
		n := 0
		for _, r := range e.Runs() {
			if r.Jobnet == name {
				n++
			}
		}
		return n
	}
	e.Step(ctx) // watermark
	c.add(time.Minute)
	e.Step(ctx)
	if count("old") != 1 {
		t.Fatalf("runs of old before the reload: %v", runIDs(e))
	}
	e.SetNets(compile(t, "jobnets:\n  - name: new"+every))
	e.Step(ctx) // new: watermark
	c.add(time.Minute)
	e.Step(ctx)
	c.add(time.Minute)
	e.Step(ctx)
	if got := count("old"); got != 1 {
		t.Errorf("a removed jobnet's schedule still fires: %d runs of old (%v)", got, runIDs(e))
	}
	if got := count("new"); got != 2 {
		t.Errorf("the added jobnet's schedule fired %d times, want 2 (%v)", got, runIDs(e))
	}
}

// TestSetNetsRunKeepsDefinition: a run in progress finishes with the
// definition it was fired with, even when its jobnet changes or is
// removed; a new run takes the new definition.
func TestSetNetsRunKeepsDefinition(t *testing.T) {
	dir := t.TempDir()
	def := func(v string) string {
		return `
jobnets:
  - name: g
    concurrency: allow
    jobs:
      - {name: a, command: /bin/sh, args: ["-c", "while [ ! -f ` + dir + `/go ]; do sleep 0.02; done"]}
      - {name: b, command: /bin/sh, args: ["-c", "echo ` + v + ` >> ` + dir + `/out"], needs: [a]}
`
	}
	h := start(t, def("v1"))
	ctx := t.Context()
	first, err := h.e.Start(ctx, "g", nil, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	h.waitJob(first, "a", runstate.Running)
	h.e.SetNets(compile(t, def("v2")))
	second, err := h.e.Start(ctx, "g", nil, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	h.waitJob(second, "a", runstate.Running)
	h.e.SetNets(compile(t, "jobnets:\n  - name: other\n    jobs: [{name: x, command: /bin/true}]\n"))
	if _, err := h.e.Start(ctx, "g", nil, "", "test"); err == nil {
		t.Error("a removed jobnet started")
	}
	touch(t, dir+"/go")
	for _, id := range []string{first, second} {
		if r := h.wait(id); r.Status != runstate.StatusNormal {
			t.Errorf("run %s: %s (%s)", id, r.Status, jobStates(r))
		}
	}
	got := strings.Fields(readFile(t, dir+"/out"))
	if len(got) != 2 || !(got[0] == "v1" && got[1] == "v2" || got[0] == "v2" && got[1] == "v1") {
		t.Errorf("runs wrote %v, want v1 (first run) and v2 (second run)", got)
	}
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
