package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestPlatformDrillKillCommand runs a platform drill with kill_command
// from the configuration on a 3-node cluster of real processes: the drill
// runs on a follower (run_on.node), moves leadership away from the
// leader, and its kill_command kills the old leader's process (named by
// UNYO_DRILL_MEMBER); the drill passes once the survivors lead, commit and
// have taken over the killed member's targets, and its record is in the
// ledger. Opt-in (UNYO_TEST_DRILL_KILL=1): a second three-node cluster
// besides TestPlatformDrill, ~40 s.
func TestPlatformDrillKillCommand(t *testing.T) {
	if os.Getenv("UNYO_TEST_DRILL_KILL") != "1" {
		t.Skip("UNYO_TEST_DRILL_KILL=1 runs the platform drill with kill_command (three nodes, ~40 s)")
	}
	pids := t.TempDir()
	var jobnets strings.Builder
	jobnets.WriteString("jobnets:\n")
	for i := range 3 {
		fmt.Fprintf(&jobnets, `  - name: drill-n%[1]d
    jobs:
      - name: kill
        kind: drill
        run_on: {node: n%[1]d}
        drill:
          kind: platform
          limit: 60s
          kill_command: [sh, -c, "echo $UNYO_DRILL_MEMBER > %[2]s/killed && kill -9 $(cat %[2]s/$UNYO_DRILL_MEMBER.pid)"]
`, i, pids)
	}
	c := startThree(t, jobnets.String())
	// A task for run_on.node must be signed by a key the node trusts:
	// give every node n0's signing key (docs: copy key_file) and restart.
	for _, p := range c.procs {
		p.Stop()
	}
	for _, f := range []string{"task-signing.key", "task-signing.pub"} {
		b, err := os.ReadFile(filepath.Join(c.dirs[0], f))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range c.dirs[1:] {
			if err := os.WriteFile(filepath.Join(d, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range c.procs {
		c.procs[i] = testutil.Start(t, c.cfgs[i], c.addrs[i])
	}
	for _, p := range c.procs {
		p.WaitReady(90 * time.Second)
	}
	c.waitAssigned(c.names, 60*time.Second)
	for i, p := range c.procs {
		if err := os.WriteFile(filepath.Join(pids, c.names[i]+".pid"), []byte(strconv.Itoa(p.Pid())), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	leader := c.leader()
	runner := (leader + 1) % 3
	cl := testutil.Client(t, "http://"+c.addrs[runner])
	jn := "drill-" + c.names[runner]
	id, err := cl.StartRun(t.Context(), jn, nil)
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
			t.Logf("job %s: %s %s\n%s", j.Job, j.State, j.Reason, j.Output)
		}
		t.Fatalf("drill run: %s", r.Status)
	}
	if b, _ := os.ReadFile(filepath.Join(pids, "killed")); strings.TrimSpace(string(b)) != c.names[leader] {
		t.Fatalf("kill_command killed %q, want the old leader %s", b, c.names[leader])
	}
	waitFor(t, "the old leader's process to exit", c.procs[leader].Exited)
	ds, err := cl.Drills(t.Context(), jn+"/kill", "", 1)
	if err != nil || len(ds) != 1 || ds[0].Result != ledger.DrillPassed || ds[0].RTO <= 0 || ds[0].Kind != "platform" {
		t.Fatalf("drill record: %+v %v", ds, err)
	}
	if got := c.leader(); got == leader {
		t.Fatalf("the killed %s still leads", c.names[leader])
	}
	t.Logf("platform drill with kill_command: RTO %s RPO %d", ds[0].RTO.Round(time.Millisecond), ds[0].RPO)
}
