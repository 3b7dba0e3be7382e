package jobnet

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/cluster/clustertest"
	"github.com/unyo-ops/unyo/jobnet/runstate"
)

// Exactly once across leader kills: a 3-node in-process cluster schedules
// N jobnets `@every 1s`, each with two no-op jobs (b needs a) run by two
// agents over NATS (tag workers), whose executor records every execution
// (jobnet, scheduled time, job, where). The leader is killed (its Raft node
// stopped abruptly, its engine and its dispatches cut at the same moment,
// as kill -9 would) K times; after each kill the test waits for a new
// leader and restarts the killed node, so the cluster is back at 3.
//
// Then scheduling stops and the test counts, per jobnet, over every due
// time of its schedule from the first fired to the last:
//
//   - misses: due times with no run. The misfire grace (1m, the default)
//     is far longer than an election, so every time that fell due while
//     there was no leader is on time for the next leader and must be
//     fired, whatever the policy (catch_up is set anyway);
//   - doubles: due times with more than one run (cannot happen by run id,
//     checked anyway);
//   - duplicates: a job of a run executed more than once (any attempt);
//   - unexecuted: a job of a run never executed;
//   - runs that did not end normally.
//
// TestKillLeaderMeasure (UNYO_JOBNET_MEASURE=1) is the measurement: 50
// jobnets, 20 kills. TestKillLeaderShort runs always (also with -short):
// 3 jobnets, 2 kills.

func TestKillLeaderMeasure(t *testing.T) {
	if os.Getenv("UNYO_JOBNET_MEASURE") == "" {
		t.Skip("set UNYO_JOBNET_MEASURE=1")
	}
	nets, kills := 50, 20
	if v, err := strconv.Atoi(os.Getenv("UNYO_JOBNET_NETS")); err == nil {
		nets = v
	}
	if v, err := strconv.Atoi(os.Getenv("UNYO_JOBNET_KILLS")); err == nil {
		kills = v
	}
	killLeaders(t, nets, kills, 2*time.Second)
}

func TestKillLeaderShort(t *testing.T) {
	killLeaders(t, 3, 2, 1500*time.Millisecond)
}

// execLog is the agents' shared record of executions.
type execLog struct {
	mu    sync.Mutex
	execs []execution
}

type execution struct {
	Jobnet    string
	Scheduled time.Time
	Run, Job  string
	Attempt   int
	Where     string
}

// recorder is a no-op executor that records what it ran.
type recorder struct {
	name string
	log  *execLog
}

func (r recorder) Execute(_ context.Context, t Task) Result {
	now := time.Now().UTC()
	var sched time.Time
	if _, ts, ok := strings.Cut(t.Run, "@"); ok {
		sched, _ = time.Parse("20060102T150405Z", ts)
	}
	r.log.mu.Lock()
	r.log.execs = append(r.log.execs, execution{Jobnet: t.Jobnet, Scheduled: sched, Run: t.Run, Job: t.Job, Attempt: t.Attempt, Where: r.name})
	r.log.mu.Unlock()
	return Result{Run: t.Run, Job: t.Job, Attempt: t.Attempt, Where: r.name, Started: now, Ended: now}
}

// gate is a node's Remote that stops dispatching the moment the node is
// killed: a killed process sends nothing more.
type gate struct {
	Remote
	dead atomic.Bool
}

var errKilled = errors.New("node killed")

func (g *gate) Dispatch(ctx context.Context, target string, t Task) error {
	if g.dead.Load() {
		return errKilled
	}
	return g.Remote.Dispatch(ctx, target, t)
}

// DispatchAgain passes a dispatch that must not offer the task directly
// (a takeover, a retry of a tag's task) on as such.
func (g *gate) DispatchAgain(ctx context.Context, target string, t Task) error {
	if g.dead.Load() {
		return errKilled
	}
	if ad, ok := g.Remote.(againDispatcher); ok {
		return ad.DispatchAgain(ctx, target, t)
	}
	return g.Remote.Dispatch(ctx, target, t)
}

func (g *gate) Kill(ctx context.Context, target, key string) error {
	if g.dead.Load() {
		return errKilled
	}
	return g.Remote.Kill(ctx, target, key)
}

// memHistory is the shared ledger's run history: the last record of each
// run (a run archived from the state is found here).
type memHistory struct {
	mu   sync.Mutex
	runs map[string]ledger.RunRecord
}

func (h *memHistory) RecordRun(_ context.Context, r ledger.RunRecord) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if old, ok := h.runs[r.ID]; ok && (old.Gen > r.Gen || old.Gen == r.Gen && old.Status != runstate.StatusRunning && r.Status == runstate.StatusRunning) {
		return nil
	}
	h.runs[r.ID] = r
	return nil
}

func (h *memHistory) Runs(context.Context, ledger.RunFilter) ([]ledger.RunRecord, error) {
	return nil, nil
}

func (h *memHistory) RunDetail(context.Context, string) (ledger.RunRecord, error) {
	return ledger.RunRecord{}, nil
}

func killLeaders(t *testing.T, nNets, kills int, between time.Duration) {
	var yaml strings.Builder
	yaml.WriteString("jobnets:\n")
	for i := range nNets {
		fmt.Fprintf(&yaml, `  - name: k%d
    schedules: [{cron: "@every 1s"}]
    calendar: {business_days: [mon, tue, wed, thu, fri, sat, sun]}
    concurrency: allow
    misfire: {policy: catch_up, max: 1000}
    jobs:
      - {name: a, command: noop, run_on: {tag: workers}}
      - {name: b, command: noop, run_on: {tag: workers}, needs: [a]}
`, i)
	}
	conf := yaml.String()
	nets := compile(t, conf)
	b := openBus(t)
	c := clustertest.Start(t, 3)
	hist := &memHistory{runs: map[string]ledger.RunRecord{}}
	execs := &execLog{}

	type member struct {
		e      *Engine
		g      *gate
		cancel context.CancelFunc
		done   chan struct{}
	}
	var mu sync.Mutex
	members := map[string]*member{}
	boot := func(id string) {
		ctx, cancel := context.WithCancel(context.Background())
		agents, err := NewAgents(ctx, b.Conn(), AgentsOptions{Signer: testSigner})
		if err != nil {
			t.Fatal(err)
		}
		g := &gate{Remote: agents}
		e, err := New(Options{Node: id, Log: ClusterLog{Node: c.Node(id)}, Nets: nets, Remote: g, History: hist,
			Tick: 20 * time.Millisecond, LostAfter: 10 * time.Second, KeepEnded: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		m := &member{e: e, g: g, cancel: cancel, done: make(chan struct{})}
		go func() { e.Run(ctx); close(m.done) }()
		go agents.Serve(ctx, e)
		mu.Lock()
		members[id] = m
		mu.Unlock()
	}
	for _, id := range c.IDs() {
		boot(id)
	}
	defer func() {
		for _, m := range members {
			m.cancel()
			<-m.done
		}
	}()
	actx, acancel := context.WithCancel(context.Background())
	var agentsDone sync.WaitGroup
	for _, name := range []string{"w1", "w2"} {
		agentsDone.Go(func() {
			(&Agent{Trust: testTrust, Name: name, Tags: []string{"workers"}, NC: b.Conn(), Exec: recorder{"agent:" + name, execs},
				Heartbeat: 200 * time.Millisecond}).Run(actx)
		})
	}
	defer func() { acancel(); agentsDone.Wait() }()

	time.Sleep(between + time.Second)
	var elections []time.Duration
	for k := range kills {
		leader := c.WaitLeader()
		m := members[leader]
		// kill -9: Raft stops, nothing more is dispatched, the engine
		// goroutines die with it.
		m.g.dead.Store(true)
		killed := time.Now()
		c.Kill(leader)
		m.cancel()
		<-m.done
		newLeader := c.WaitLeader()
		took := time.Since(killed)
		elections = append(elections, took)
		t.Logf("kill %d: leader %s killed, %s leads after %v", k+1, leader, newLeader, took.Round(time.Millisecond))
		c.Restart(leader)
		boot(leader)
		time.Sleep(between)
	}
	stopped := time.Now().UTC()

	// Stop scheduling; let the live runs finish.
	quiet := compile(t, strings.ReplaceAll(conf, `schedules: [{cron: "@every 1s"}]`, "schedules: []"))
	for _, m := range members {
		m.e.SetNets(quiet)
	}
	leader := c.WaitLeader()
	deadline := time.Now().Add(40 * time.Second)
	for {
		live := 0
		for _, r := range members[leader].e.Runs() {
			if r.Live() {
				live++
			}
		}
		if live == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%d runs still live 40s after scheduling stopped", live)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Every run: the shared history, then the replicated state (newer).
	runs := map[string]ledger.RunRecord{}
	hist.mu.Lock()
	maps.Copy(runs, hist.runs)
	hist.mu.Unlock()
	for _, r := range members[leader].e.Runs() {
		runs[r.ID] = ToRecord(r)
	}
	byTime := map[string]map[time.Time]int{} // jobnet → scheduled → runs
	for _, r := range runs {
		if r.Trigger != "schedule" {
			continue
		}
		if byTime[r.Jobnet] == nil {
			byTime[r.Jobnet] = map[time.Time]int{}
		}
		byTime[r.Jobnet][r.Scheduled.UTC()]++
	}
	misses, doubles, due := 0, 0, 0
	for _, name := range slices.Sorted(maps.Keys(nets)) {
		times := slices.SortedFunc(maps.Keys(byTime[name]), time.Time.Compare)
		if len(times) == 0 {
			t.Errorf("jobnet %s never ran", name)
			continue
		}
		first, last := times[0], times[len(times)-1]
		if stopped.Sub(last) > 3*time.Second {
			t.Errorf("jobnet %s: last run scheduled %s, scheduling stopped at %s", name, last.Format(time.TimeOnly), stopped.Format(time.TimeOnly))
		}
		for _, d := range nets[name].Due(first.Add(-time.Nanosecond), last, 1<<20) {
			due++
			switch n := byTime[name][d]; {
			case n == 0:
				misses++
				t.Errorf("miss: %s at %s", name, d.Format(time.TimeOnly))
			case n > 1:
				doubles++
				t.Errorf("double: %s at %s: %d runs", name, d.Format(time.TimeOnly), n)
			}
		}
	}
	execs.mu.Lock()
	count := map[string]int{} // run/job → executions
	where := map[string][]string{}
	for _, x := range execs.execs {
		count[x.Run+"/"+x.Job]++
		where[x.Run+"/"+x.Job] = append(where[x.Run+"/"+x.Job], fmt.Sprintf("%s#%d", x.Where, x.Attempt))
	}
	total := len(execs.execs)
	execs.mu.Unlock()
	dups, unexecuted, notNormal := 0, 0, 0
	for id, r := range runs {
		if r.Status != runstate.StatusNormal {
			notNormal++
			t.Errorf("run %s ended %s: %+v", id, r.Status, r.Jobs)
		}
		for _, j := range []string{"a", "b"} {
			switch n := count[id+"/"+j]; {
			case n == 0:
				unexecuted++
				t.Errorf("job %s of %s never executed", j, id)
			case n > 1:
				dups += n - 1
				t.Errorf("duplicate: job %s of %s executed %d times: %v", j, id, n, where[id+"/"+j])
			}
		}
	}
	for k := range count {
		run, _, _ := strings.Cut(k, "/")
		if _, ok := runs[run]; !ok {
			t.Errorf("execution %s of an unknown run", k)
		}
	}
	slices.Sort(elections)
	var sum time.Duration
	for _, d := range elections {
		sum += d
	}
	t.Logf("%d jobnets @every 1s x 2 no-op jobs (%d jobs/s) on 2 agents, 3-node Raft, %d leader kills", nNets, 2*nNets, kills)
	t.Logf("runs %d (due times %d), job executions %d: duplicates %d, misses %d, doubles %d, unexecuted jobs %d, runs not ended normally %d",
		len(runs), due, total, dups, misses, doubles, unexecuted, notNormal)
	if len(elections) > 0 {
		t.Logf("kill → new leader agreed: min %v, median %v, max %v, mean %v", elections[0].Round(time.Millisecond),
			elections[len(elections)/2].Round(time.Millisecond), elections[len(elections)-1].Round(time.Millisecond),
			(sum / time.Duration(len(elections))).Round(time.Millisecond))
	}
}

// dropper is a Remote whose dispatches never arrive: a leader killed
// between committing a job's start and handing it to the agents.
type dropper struct{}

func (dropper) Dispatch(context.Context, string, Task) error { return nil }
func (dropper) Kill(context.Context, string, string) error   { return nil }

// TestTakeoverRedispatch: a new leader dispatches again the remote jobs
// that are running: one whose dispatch was lost runs (once), and one that
// an agent ran already does not run again (the stream drops the repeat).
func TestTakeoverRedispatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		lost bool // the first leader's dispatch never arrived
	}{{"dispatch lost", true}, {"dispatched and ran", false}} {
		t.Run(tc.name, func(t *testing.T) {
			b := openBus(t)
			log, err := OpenFileLog("", nil)
			if err != nil {
				t.Fatal(err)
			}
			nets := compile(t, `
jobnets:
  - name: r
    jobs:
      - {name: a, command: noop, run_on: {agent: x1}}
      - {name: b, command: noop, run_on: {agent: x1}, needs: [a]}
`)
			execs := &execLog{}
			ran := func() int {
				execs.mu.Lock()
				defer execs.mu.Unlock()
				return len(execs.execs)
			}
			actx, acancel := context.WithCancel(context.Background())
			var agentDone sync.WaitGroup
			agentDone.Go(func() {
				(&Agent{Trust: testTrust, Name: "x1", NC: b.Conn(), Exec: recorder{"agent:x1", execs}, Heartbeat: 100 * time.Millisecond}).Run(actx)
			})
			defer func() { acancel(); agentDone.Wait() }()
			agents, err := NewAgents(t.Context(), b.Conn(), AgentsOptions{Signer: testSigner})
			if err != nil {
				t.Fatal(err)
			}

			// The first leader starts a; it serves no results (it dies
			// before it could commit a's end).
			var first Remote = agents
			if tc.lost {
				first = dropper{}
			}
			e1, err := New(Options{Node: "n1", Log: log, Nets: nets, Remote: first, Tick: 20 * time.Millisecond, LostAfter: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			ctx1, cancel1 := context.WithCancel(context.Background())
			done1 := make(chan struct{})
			go func() { e1.Run(ctx1); close(done1) }()
			id, err := e1.Start(t.Context(), "r", nil, "", "test")
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				r, _ := e1.GetRun(id)
				if r.Jobs["a"].State == runstate.Running && (tc.lost || ran() == 1) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("a not started: %+v, %d executions", r.Jobs["a"], ran())
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond) // the agent's result is stored
			cancel1()
			<-done1

			// The next leader takes over.
			e2, err := New(Options{Node: "n2", Log: log, Nets: nets, Remote: agents, Tick: 20 * time.Millisecond, LostAfter: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			ctx2, cancel2 := context.WithCancel(context.Background())
			defer cancel2()
			done2 := make(chan struct{})
			go func() { e2.Run(ctx2); close(done2) }()
			go agents.Serve(ctx2, e2)
			deadline = time.Now().Add(15 * time.Second)
			for {
				r, _ := e2.GetRun(id)
				if !r.Live() {
					if r.Status != runstate.StatusNormal {
						t.Fatalf("run %s: %+v", r.Status, r.Jobs)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("run still live: a %+v, b %+v", r.Jobs["a"], r.Jobs["b"])
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond) // a repeat would have run by now
			if n := ran(); n != 2 {
				execs.mu.Lock()
				t.Errorf("%d executions, want 2 (a and b once each): %+v", n, execs.execs)
				execs.mu.Unlock()
			}
			cancel2()
			<-done2
		})
	}
}
