package jobnet

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/jobnet/runstate"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// stepEngine is an engine driven by hand: Step with an injected clock.
func stepEngine(t *testing.T, yaml string, c *clock) (*Engine, *FileLog) {
	t.Helper()
	l, _ := OpenFileLog("", c.Now)
	e, err := New(Options{Node: "n1", Log: l, Nets: compile(t, yaml), Now: c.Now, Local: noop{}})
	if err != nil {
		t.Fatal(err)
	}
	return e, l
}

type noop struct{}

func (noop) Execute(_ context.Context, t Task) Result {
	return Result{Run: t.Run, Job: t.Job, Attempt: t.Attempt, Started: time.Now(), Ended: time.Now()}
}

func runIDs(e *Engine) []string {
	var out []string
	for _, r := range e.Runs() {
		out = append(out, r.ID)
	}
	return out
}

func TestCronInjectedClock(t *testing.T) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	c := &clock{t: time.Date(2026, 3, 2, 1, 58, 0, 0, tokyo)} // a Monday
	e, _ := stepEngine(t, `
jobnets:
  - name: c
    calendar: {business_days: [mon, tue, wed, thu, fri, sat, sun]}
    schedules:
      - {cron: "0 2 * * *", time_zone: Asia/Tokyo}
    misfire: {policy: catch_up, max: 2}
    concurrency: allow
    jobs:
      - {name: a, command: /bin/true}
`, c)
	ctx := t.Context()
	e.Step(ctx) // first sight: watermark = now, nothing fired
	c.add(time.Minute)
	e.Step(ctx)
	if ids := runIDs(e); len(ids) != 0 {
		t.Fatalf("fired early: %v", ids)
	}
	c.add(time.Minute + time.Second) // 02:00:01 JST
	e.Step(ctx)
	e.Step(ctx)
	ids := runIDs(e)
	if len(ids) != 1 || ids[0] != "c@20260301T170000Z" {
		t.Fatalf("runs %v, want c@20260301T170000Z (02:00 JST = 17:00 UTC)", ids)
	}
	// Five days without a leader: catch up the latest 2 missed, and
	// today's (one second late, within the grace) runs as usual.
	// (The first run may have ended and been pruned in those days: only
	// the runs after it are compared.)
	c.add(5 * 24 * time.Hour)
	e.Step(ctx)
	later := func() []string {
		return slices.DeleteFunc(runIDs(e), func(id string) bool { return id == "c@20260301T170000Z" })
	}
	if ids := later(); !slices.Equal(ids, []string{"c@20260304T170000Z", "c@20260305T170000Z", "c@20260306T170000Z"}) {
		t.Fatalf("after 5 days: %v", ids)
	}
	// Stepping again at the same time fires nothing more.
	e.Step(ctx)
	if n := len(later()); n != 3 {
		t.Fatalf("%d runs after a repeated step", n)
	}
}

func TestMisfirePolicies(t *testing.T) {
	for _, tc := range []struct {
		policy string
		want   int
	}{{"skip", 0}, {"once", 1}, {"catch_up\n      max: 3", 3}} {
		// 12 firings fall due while no leader runs; the 12th is within
		// the grace and runs anyway, the policy picks from the other 11.
		t.Run(tc.policy[:4], func(t *testing.T) {
			c := &clock{t: time.Date(2026, 3, 2, 0, 0, 30, 0, time.UTC)}
			e, _ := stepEngine(t, `
jobnets:
  - name: m
    schedules: [{cron: "*/10 * * * *"}]
    calendar: {business_days: [mon, tue, wed, thu, fri, sat, sun]}
    concurrency: allow
    misfire:
      policy: `+tc.policy+`
    jobs: [{name: a, command: /bin/true}]
`, c)
			e.Step(t.Context())
			c.add(2 * time.Hour) // 12 firings missed
			e.Step(t.Context())
			if n := len(e.Runs()); n != tc.want+1 {
				t.Fatalf("%d runs, want %d + 1: %v", n, tc.want, runIDs(e))
			}
		})
	}
}

func TestCalendarShift(t *testing.T) {
	nets := compile(t, `
jobnets:
  - name: cal
    calendar:
      business_days: [mon, tue, wed, thu, fri]
      holidays: ["2026-03-04"]
      closed: ["2026-03-05"]
    schedules:
      - {cron: "0 2 * * *", non_business: next}
      - {cron: "0 3 * * *", non_business: previous}
      - {cron: "0 4 * * *", non_business: skip}
      - {cron: "0 5 * * *", non_business: run}
    jobs: [{name: a, command: /bin/true}]
`)
	s := nets["cal"].Schedules
	day := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, time.UTC) }
	// Mon 2 .. Sun 8 March 2026; Wed 4 holiday, Thu 5 closed.
	tests := []struct {
		name  string
		sched int
		after time.Time
		want  time.Time
	}{
		{"next: Tue → Wed is a holiday, Thu closed → Fri", 0, day(3, 2), day(6, 2)},
		{"next: Fri → Sat, Sun shift to Mon", 0, day(6, 2), day(9, 2)},
		{"previous: holiday Wed and closed Thu move to Tue", 1, day(3, 2), day(3, 3)},
		{"previous: after Tue's, the next is Fri", 1, day(3, 3), day(6, 3)},
		{"skip: Wed, Thu skipped", 2, day(3, 4), day(6, 4)},
		{"run: holiday Wed runs, closed Thu does not", 3, day(3, 5), day(4, 5)},
		{"run: closed Thu does not run", 3, day(4, 5), day(6, 5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s[tt.sched].Next(tt.after); !got.Equal(tt.want) {
				t.Errorf("Next(%s) = %s, want %s", tt.after, got, tt.want)
			}
		})
	}
	// The shifted weekend runs fire once on Monday, not three times.
	due := nets["cal"].Due(day(6, 2), day(9, 2), 100)
	n := 0
	for _, d := range due {
		if d.Equal(day(9, 2)) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("Monday 02:00 due %d times: %v", n, due)
	}
}

func TestScheduledRunExactlyOnceAcrossLogReopen(t *testing.T) {
	// A single node restarted: the file log replays the watermark, so a
	// fired time is not fired again.
	path := t.TempDir() + "/runs.log"
	c := &clock{t: time.Date(2026, 3, 2, 0, 0, 30, 0, time.UTC)}
	yaml := `
jobnets:
  - name: f
    schedules: [{cron: "* * * * *"}]
    calendar: {business_days: [mon, tue, wed, thu, fri, sat, sun]}
    concurrency: allow
    jobs: [{name: a, command: /bin/true}]
`
	open := func() (*Engine, *FileLog) {
		l, err := OpenFileLog(path, c.Now)
		if err != nil {
			t.Fatal(err)
		}
		e, _ := New(Options{Node: "n1", Log: l, Nets: compile(t, yaml), Now: c.Now, Local: noop{}})
		return e, l
	}
	e, l := open()
	e.Step(t.Context())
	c.add(time.Minute)
	e.Step(t.Context())
	l.Close()
	e, l = open()
	defer l.Close()
	e.Step(t.Context())
	runs := e.Runs()
	if len(runs) != 1 || runs[0].ID != "f@20260302T000100Z" {
		t.Fatalf("after reopen: %v", runIDs(e))
	}
	var st runstate.JobState
	l.View(func(s *runstate.State) { st = s.Runs[runs[0].ID].Jobs["a"].State })
	if st == "" {
		t.Fatal("job state not replayed")
	}
}
