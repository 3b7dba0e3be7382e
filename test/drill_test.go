package test

import (
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/test/testutil"
)

// drillJobnets: a platform drill run by the leader itself, and a
// jobnet firing every 2 s whose runs must all be there after the drill.
const drillJobnets = `jobnets:
  - name: drills
    jobs:
      - name: leader
        kind: drill
        drill: {kind: platform, limit: 60s}
  - name: tick
    schedules: [{cron: "@every 2s"}]
    concurrency: allow
    misfire: {policy: catch_up, max: 100}
    jobs:
      - {name: t, command: "true"}
`

// TestPlatformDrill runs a platform drill on a 3-node cluster of real
// processes: leadership moves, the drill measures RTO and RPO (canary
// events through n1's ingest into the ledger) and passes; no scheduled
// run of "tick" is missing around it, and every target is checked after
// it. UNYO_DRILL_REPEAT=N runs it N times and logs the median RTO.
func TestPlatformDrill(t *testing.T) {
	c := startThree(t, drillJobnets)
	cl := testutil.Client(t, "http://"+c.addrs[1])
	repeat := 1
	if s := os.Getenv("UNYO_DRILL_REPEAT"); s != "" {
		repeat, _ = strconv.Atoi(s)
	}
	var rtos []time.Duration
	var last ledger.DrillRecord
	for i := range repeat {
		id, err := cl.StartRun(t.Context(), "drills", nil)
		if err != nil {
			t.Fatal(err)
		}
		var r ledger.RunRecord
		deadline := time.Now().Add(3 * time.Minute)
		for {
			r, err = cl.Run(t.Context(), id)
			if err == nil && r.Status != "running" && r.Status != "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("drill run %s not ended: %+v %v", id, r, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if r.Status != "ended-normal" {
			for _, j := range r.Jobs {
				t.Logf("job %s attempt %d: %s %s\n%s", j.Job, j.Attempt, j.State, j.Reason, j.Output)
			}
			t.Fatalf("drill run %s: %s", id, r.Status)
		}
		ds, err := cl.Drills(t.Context(), "drills/leader", "", 1)
		if err != nil || len(ds) != 1 {
			t.Fatalf("drills: %v %v (run %+v)", ds, err, r)
		}
		last = ds[0]
		if last.Result != ledger.DrillPassed || last.RTO <= 0 || last.RPO != 0 || last.Run != id {
			t.Fatalf("drill %d: %+v", i, last)
		}
		rtos = append(rtos, last.RTO)
		t.Logf("platform drill %d: RTO %s RPO %d (%d canary writes lost)", i+1, last.RTO.Round(time.Millisecond), last.RPO, last.RPO)
	}
	slices.Sort(rtos)
	t.Logf("platform drill: RTO median %s of %d (min %s, max %s), RPO %d", rtos[len(rtos)/2], len(rtos), rtos[0], rtos[len(rtos)-1], last.RPO)
	out := unyo(t, 0, "drill", "show", last.ID, "--server=http://"+c.addrs[0])
	t.Logf("%s", out)

	// No missed run: every 2 s from before the first drill until after
	// the last, a tick run (scheduled times have no gap).
	cl0 := testutil.Client(t, "http://"+c.addrs[0])
	waitFor(t, "a tick run scheduled after the drill", func() bool {
		runs, err := cl0.Runs(t.Context(), "tick", 1000)
		return err == nil && len(runs) > 0 && runs[0].Scheduled.After(last.Ended)
	})
	runs, err := cl0.Runs(t.Context(), "tick", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var sched []time.Time
	for _, r := range runs {
		sched = append(sched, r.Scheduled)
	}
	slices.SortFunc(sched, time.Time.Compare)
	for i := 1; i < len(sched); i++ {
		if gap := sched[i].Sub(sched[i-1]); gap > 2*time.Second {
			t.Errorf("tick runs %s and %s are %s apart: a run was missed", sched[i-1], sched[i], gap)
		}
	}
	// No missed check: every target is checked after the drill ended.
	waitFor(t, "every target checked after the drill", func() bool {
		lc := c.lastChecks()
		if len(lc) < clusterTargets {
			return false
		}
		for _, at := range lc {
			if !at.After(last.Ended) {
				return false
			}
		}
		return true
	})
}
