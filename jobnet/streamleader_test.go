package jobnet

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/bus/spool"
	"github.com/unyo-ops/unyo/jobnet/runstate"
)

// natsRole runs, in a process of its own (the test binary re-run by
// openBusCluster), one embedded NATS server of the test cluster until it
// is killed: JOBNET_TEST_NATS=name,storeDir,listen,route0,route1,route2.
func natsRole() {
	f := strings.Split(os.Getenv("JOBNET_TEST_NATS"), ",")
	b, err := bus.Open(context.Background(), bus.Options{Name: f[0], StoreDir: f[1], Replicas: 3,
		ClusterName: "jobs", ClusterListen: f[2], Routes: f[3:], StartTimeout: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_ = b
	select {}
}

// openBusCluster opens three embedded NATS servers routed into one
// JetStream cluster (streams replicated to 3): s0 and s1 in this process,
// s2 in a process of its own, returned, which the test may kill -9.
func openBusCluster(t *testing.T) ([]*bus.Bus, *exec.Cmd) {
	t.Helper()
	var routes []string
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, l.Addr().String())
		l.Close()
	}
	s2 := exec.Command(os.Args[0], "-test.run=^$")
	s2.Env = append(os.Environ(), "JOBNET_TEST_NATS="+strings.Join(append([]string{"s2", t.TempDir(), routes[2]}, routes...), ","))
	s2.Stdout, s2.Stderr = os.Stderr, os.Stderr
	if err := s2.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s2.Process.Kill(); _ = s2.Wait() })
	buses := make([]*bus.Bus, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			buses[i], errs[i] = bus.Open(ctx, bus.Options{Name: fmt.Sprintf("s%d", i), StoreDir: t.TempDir(), Replicas: 3,
				ClusterName: "jobs", ClusterListen: routes[i], Routes: routes, StartTimeout: 2 * time.Minute})
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, b := range buses {
			if b != nil {
				b.Close()
			}
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("bus s%d: %v", i, err)
		}
	}
	return buses, s2
}

// startRecorder records when each attempt started on the agent.
type startRecorder struct {
	mu     sync.Mutex
	starts map[string][]time.Time // run/job → start times
}

func (r *startRecorder) Execute(_ context.Context, t Task) Result {
	now := time.Now().UTC()
	r.mu.Lock()
	r.starts[t.Run+"/"+t.Job] = append(r.starts[t.Run+"/"+t.Job], now)
	r.mu.Unlock()
	return Result{Run: t.Run, Job: t.Job, Attempt: t.Attempt, Where: "agent:ag1", Started: now, Ended: now}
}

// TestStreamLeaderLoss: the server leading the task and results streams
// (UNYO_JOBS, UNYO_JOBRESULTS) is killed (SIGKILL) while a jobnet falls
// due every second on an agent; the engine (with its node's spool taking
// the agents' reports) and the agent are on the two other servers.
// JetStream takes seconds to elect new stream leaders, during which
// nothing can be stored ("no response from stream"): every job due
// meanwhile must still run exactly once and end normally — handed to the
// agent directly, or its dispatch retried until its start deadline — and
// its result must wait in the node's spool, not be lost. It logs the
// longest lateness of a job start behind its scheduled time across the
// loss: the figure the issue asks for (goal: 2 s), measured, not asserted.
func TestStreamLeaderLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("three NATS servers and a leader election")
	}
	buses, s2 := openBusCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	agents, err := NewAgents(ctx, buses[0].Conn(), AgentsOptions{Replicas: 3, Signer: testSigner, StartTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	// The engine's node (s0) takes the agents' results into its spool.
	sp, err := spool.Open(spool.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	go sp.Forward(ctx, buses[0].PublishEntries, spool.ForwardOptions{})
	go agents.ServeReports(ctx, bus.NewIngest(buses[0], sp))
	var spooledMax atomic.Int64 // results waiting in the spool at most
	go func() {
		for ctx.Err() == nil {
			if n := sp.Status().Entries; n > spooledMax.Load() {
				spooledMax.Store(n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	h := start(t, `
jobnets:
  - name: tick
    schedules: [{cron: "@every 1s"}]
    calendar: {business_days: [mon, tue, wed, thu, fri, sat, sun]}
    concurrency: allow
    jobs:
      - {name: a, command: /bin/true, run_on: {agent: ag1}}
`, func(o *Options) { o.Remote = agents })
	go agents.Serve(ctx, h.e)
	rec := &startRecorder{starts: map[string][]time.Time{}}
	ag := &Agent{Trust: testTrust, Name: "ag1", NC: buses[1].Conn(), Exec: rec, Heartbeat: 200 * time.Millisecond}
	go ag.Run(ctx)

	ended := func(after time.Time) int {
		n := 0
		for _, r := range h.e.Runs() {
			if r.Scheduled.After(after) && !r.Live() {
				n++
			}
		}
		return n
	}
	waitFor(t, "three runs through the agent", func() bool { return ended(time.Time{}) >= 3 })

	// Move the streams' leaders onto s2, away from both clients.
	js := buses[0].JetStream()
	leaderOf := func(stream string) string {
		ictx, c := context.WithTimeout(ctx, 2*time.Second)
		defer c()
		s, err := js.Stream(ictx, stream)
		if err != nil {
			return ""
		}
		info, err := s.Info(ictx)
		if err != nil || info.Cluster == nil {
			return ""
		}
		return info.Cluster.Leader
	}
	leader := func() string { return leaderOf(TaskStream) }
	for _, stream := range []string{TaskStream, ResultStream} {
		waitFor(t, stream+" led by s2", func() bool {
			if l := leaderOf(stream); l == "s2" {
				return true
			} else if l != "" {
				_, _ = buses[0].Conn().Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, nil, 2*time.Second)
			}
			time.Sleep(500 * time.Millisecond)
			return false
		})
	}
	lost := time.Now().UTC()
	if err := s2.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	t.Logf("s2, the task stream's leader, killed (SIGKILL) at %s", lost.Format(time.RFC3339Nano))
	var newLeader string
	waitFor(t, "a new stream leader", func() bool { newLeader = leader(); return newLeader != "" && newLeader != "s2" })
	t.Logf("new stream leader %s after %s", newLeader, time.Since(lost).Round(100*time.Millisecond))
	// Ten more seconds of schedule after the loss, all ended.
	until := time.Now().Add(10 * time.Second)
	waitFor(t, "the runs due in the ten seconds after the election", func() bool {
		for _, r := range h.e.Runs() {
			if r.Scheduled.After(until) && !r.Live() {
				return true
			}
		}
		return false
	})
	cancel()

	var worst time.Duration
	var worstRun string
	checked := 0
	for _, r := range h.e.Runs() {
		if r.Scheduled.Before(lost.Add(-2*time.Second)) || r.Scheduled.After(until) {
			continue
		}
		checked++
		if r.Status != runstate.StatusNormal {
			t.Errorf("run %s due across the loss: %s (%s: %s)", r.ID, r.Status, r.Jobs["a"].State, r.Jobs["a"].Reason)
		}
		rec.mu.Lock()
		starts := slices.Clone(rec.starts[r.ID+"/a"])
		rec.mu.Unlock()
		if len(starts) != 1 {
			t.Errorf("run %s: job ran %d times, want once", r.ID, len(starts))
			continue
		}
		if late := starts[0].Sub(r.Scheduled); late > worst {
			worst, worstRun = late, r.ID
		}
	}
	if checked < 10 {
		t.Fatalf("only %d runs due across the loss", checked)
	}
	t.Logf("%d runs due across the loss of the stream leader: all ran once; longest lateness of a job start: %s (%s); "+
		"up to %d results waited in the node's spool", checked, worst.Round(10*time.Millisecond), worstRun, spooledMax.Load())
	t.Logf("direct hand-offs: %v taken, %v confirmed, %v refused, %v unanswered",
		promtestutil.ToFloat64(agents.direct.WithLabelValues("taken")), promtestutil.ToFloat64(agents.direct.WithLabelValues("confirmed")),
		promtestutil.ToFloat64(agents.direct.WithLabelValues("refused")), promtestutil.ToFloat64(agents.direct.WithLabelValues("unanswered")))
	if spooledMax.Load() == 0 {
		t.Error("no result waited in the node's spool while the results stream had no leader: the agent did not report to the node")
	}
	if f := os.Getenv("UNYO_JOBNET_PAUSE_FILE"); f != "" {
		_ = os.WriteFile(f, []byte(worst.String()+"\n"), 0o644)
	}
}
