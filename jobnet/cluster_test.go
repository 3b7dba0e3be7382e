package jobnet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/cluster/clustertest"
	"github.com/unyo-ops/unyo/jobnet/runstate"
)

// TestKillLeaderExactlyOnce: a 3-node cluster schedules a jobnet every
// second; its jobs run on an agent. The leader is killed mid-run. Every
// scheduled second from the first run to the last is fired exactly once,
// every job of every run executes exactly once, and every run completes.
func TestKillLeaderExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	dir := t.TempDir()
	ledgerFile := filepath.Join(dir, "executions")
	yaml := fmt.Sprintf(`
jobnets:
  - name: tick
    schedules: [{cron: "@every 1s"}]
    calendar: {business_days: [mon, tue, wed, thu, fri, sat, sun]}
    concurrency: allow
    misfire: {policy: catch_up, max: 1000, grace: 1m}
    jobs:
      - {name: a, command: /bin/sh, args: ["-c", "echo $UNYO_RUN a >> %[1]s; sleep 0.4"], run_on: {agent: a1}}
      - {name: b, command: /bin/sh, args: ["-c", "echo $UNYO_RUN b >> %[1]s"], run_on: {agent: a1}, needs: [a]}
`, ledgerFile)
	b := openBus(t)
	c := clustertest.Start(t, 3)
	type member struct {
		e      *Engine
		cancel context.CancelFunc
		done   chan struct{}
	}
	members := map[string]*member{}
	for _, id := range c.IDs() {
		ctx, cancel := context.WithCancel(context.Background())
		agents, err := NewAgents(ctx, b.Conn(), AgentsOptions{Signer: testSigner})
		if err != nil {
			t.Fatal(err)
		}
		e, err := New(Options{Node: id, Log: ClusterLog{Node: c.Node(id)}, Nets: compile(t, yaml), Remote: agents,
			Tick: 20 * time.Millisecond, LostAfter: 5 * time.Second, KeepEnded: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		m := &member{e: e, cancel: cancel, done: make(chan struct{})}
		go func() { e.Run(ctx); close(m.done) }()
		go agents.Serve(ctx, e)
		members[id] = m
	}
	defer func() {
		for _, m := range members {
			m.cancel()
			<-m.done
		}
	}()
	actx, acancel := context.WithCancel(context.Background())
	defer acancel()
	go (&Agent{Trust: testTrust, Name: "a1", NC: b.Conn(), Heartbeat: 200 * time.Millisecond}).Run(actx)

	time.Sleep(4 * time.Second)
	leader := c.WaitLeader()
	t.Logf("killing leader %s", leader)
	members[leader].cancel() // the process dies with its Raft node
	c.Kill(leader)
	<-members[leader].done
	delete(members, leader)
	newLeader := c.WaitLeader()
	t.Logf("new leader %s", newLeader)
	time.Sleep(4 * time.Second)
	// Stop scheduling; let the live runs finish.
	for _, m := range members {
		m.e.SetNets(compile(t, strings.Replace(yaml, `schedules: [{cron: "@every 1s"}]`, "schedules: []", 1)))
	}
	var runs []*runstate.Run
	deadline := time.Now().Add(30 * time.Second)
	for {
		runs = members[newLeader].e.Runs()
		live := 0
		for _, r := range runs {
			if r.Live() {
				live++
			}
		}
		if live == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(runs) < 6 {
		t.Fatalf("only %d runs", len(runs))
	}
	var times []time.Time
	for _, r := range runs {
		if r.Status != runstate.StatusNormal {
			t.Errorf("run %s: %s %+v", r.ID, r.Status, r.Jobs)
		}
		times = append(times, r.Scheduled)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(times); i++ {
		if d := times[i].Sub(times[i-1]); d != time.Second {
			t.Errorf("gap or double between %s and %s (%v)", times[i-1], times[i], d)
		}
	}
	data, err := os.ReadFile(ledgerFile)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		count[l]++
	}
	for _, r := range runs {
		for _, j := range []string{"a", "b"} {
			if n := count[r.ID+" "+j]; n != 1 {
				t.Errorf("job %s of %s executed %d times", j, r.ID, n)
			}
		}
	}
	if len(count) != 2*len(runs) {
		t.Errorf("%d executions for %d runs", len(count), len(runs))
	}
	t.Logf("%d runs from %s to %s, each job once, across a leader kill", len(runs), times[0].Format(time.TimeOnly), times[len(times)-1].Format(time.TimeOnly))
}
