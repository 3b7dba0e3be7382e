package jobnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/bus/spool"
	"github.com/unyo-ops/unyo/jobnet/runstate"
)

// testSigner signs the tasks of every test's dispatcher; testTrust is what
// the tests' agents trust.
var (
	testSigner = func() *Signer {
		s, err := GenerateSigner("test-leader")
		if err != nil {
			panic(err)
		}
		return s
	}()
	testTrust = NewVerifier(testSigner.PublicKey())
)

func openBus(t *testing.T) *bus.Bus {
	t.Helper()
	b, err := bus.Open(t.Context(), bus.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func TestAgentExecutionOverNATS(t *testing.T) {
	b := openBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	agents, err := NewAgents(ctx, b.Conn(), AgentsOptions{Signer: testSigner})
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, `
jobnets:
  - name: remote
    jobs:
      - {name: a, command: /bin/sh, args: ["-c", "echo on $UNYO_JOB"], run_on: {agent: db1}}
      - {name: b, command: /bin/sh, args: ["-c", "exit 3"], run_on: {tag: linux}, needs: [a]}
      - {name: c, command: /bin/sleep, args: ["30"], run_on: {agent: db1}, needs: [a]}
`, func(o *Options) { o.Remote = agents })
	go agents.Serve(ctx, h.e)
	ag := &Agent{Trust: testTrust, Name: "db1", Tags: []string{"linux"}, NC: b.Conn(), Heartbeat: 100 * time.Millisecond}
	agentDone := make(chan struct{})
	go func() { ag.Run(ctx); close(agentDone) }()

	id, err := h.e.Start(t.Context(), "remote", nil, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	h.waitJob(id, "c", runstate.Running)
	// A kill reaches the agent's process.
	if err := h.e.Act(t.Context(), id, Action{Verb: "kill", Job: "c"}); err != nil {
		t.Fatal(err)
	}
	r := h.wait(id)
	a, bj, c := r.Jobs["a"], r.Jobs["b"], r.Jobs["c"]
	if a.State != runstate.EndedNormal || a.Output != "on a\n" || a.Where != "agent:db1" {
		t.Errorf("a: %+v", a)
	}
	if bj.State != runstate.EndedAbnormal || *bj.Code != 3 || bj.Where != "tag:linux" {
		t.Errorf("b: %+v", bj)
	}
	if c.State != runstate.Killed {
		t.Errorf("c: %+v", c)
	}
	cancel()
	<-agentDone
}

func TestAgentGoneIsLost(t *testing.T) {
	b := openBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	agents, err := NewAgents(ctx, b.Conn(), AgentsOptions{Signer: testSigner})
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, `
jobnets:
  - name: l
    severity: critical
    runbook: agent-down
    jobs:
      - {name: a, command: /bin/sleep, args: ["30"], run_on: {agent: gone}}
`, func(o *Options) { o.Remote = agents; o.LostAfter = 300 * time.Millisecond })
	go agents.Serve(ctx, h.e)
	id, _ := h.e.Start(t.Context(), "l", nil, "", "test")
	r := h.wait(id)
	if r.Jobs["a"].State != runstate.Lost {
		t.Fatalf("%+v", r.Jobs["a"])
	}
	evs := h.sink.all()
	if len(evs) != 1 || evs[0].Severity != "critical" || evs[0].Runbook != "agent-down" || !strings.Contains(evs[0].Message, "lost") {
		t.Fatalf("incident: %+v", evs)
	}
}

// syncBuf is a log sink the test reads while the agent writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAgentRefusesForgedTasks: NATS access alone runs nothing. Tasks put
// on an agent's subject without the leader's signature (bare, signed by
// another key, altered, addressed to another agent, replayed) are refused,
// logged and counted, and their commands (each would create a file) never
// run; a legitimately dispatched task runs, and one that expired before
// the agent took it ends its job abnormally at the leader, with the
// reason.
func TestAgentRefusesForgedTasks(t *testing.T) {
	dir := t.TempDir()
	b := openBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	leader, err := GenerateSigner("n1")
	if err != nil {
		t.Fatal(err)
	}
	var lag atomic.Int64 // how far the leader's clock is behind
	leader.Now = func() time.Time { return time.Now().Add(-time.Duration(lag.Load())) }
	reg := prometheus.NewRegistry()
	agents, err := NewAgents(ctx, b.Conn(), AgentsOptions{Signer: leader, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, fmt.Sprintf(`
jobnets:
  - name: legit
    jobs:
      - {name: a, command: /bin/sh, args: ["-c", "touch %[1]s/legit"], run_on: {agent: db1}}
  - name: late
    jobs:
      - {name: a, command: /bin/sh, args: ["-c", "touch %[1]s/late"], run_on: {agent: db1}}
`, dir), func(o *Options) { o.Remote = agents })
	go agents.Serve(ctx, h.e)
	var log syncBuf
	ag := &Agent{Name: "db1", NC: b.Conn(), Trust: NewVerifier(leader.PublicKey()), Heartbeat: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&log, nil))}
	agentDone := make(chan struct{})
	go func() { ag.Run(ctx); close(agentDone) }()
	defer func() {
		cancel()
		<-agentDone
		if t.Failed() {
			t.Logf("agent log:\n%s", log.String())
		}
	}()

	// The leader's own task runs, and the agent logs it.
	id, err := h.e.Start(t.Context(), "legit", nil, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	if r := h.wait(id); r.Jobs["a"].State != runstate.EndedNormal {
		t.Fatalf("legit: %+v", r.Jobs["a"])
	}
	if _, err := os.Stat(filepath.Join(dir, "legit")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), `msg="task run" job=`+id+`/a/1 command=/bin/sh target=agent:db1 by=n1`) {
		t.Errorf("no task run line in the agent log:\n%s", log.String())
	}

	// Forged tasks, each of which would create a file.
	js := agents.js
	forge := func(name string) Task {
		return Task{Run: "forged-" + name, Job: "x", Attempt: 1, Kind: "command", Command: "/bin/sh",
			Args: []string{"-c", "touch " + filepath.Join(dir, "pwned-"+name)}}
	}
	attacker, _ := GenerateSigner("mallory")
	legitMsg, err := leader.Sign("agent:db1", forge("altered"))
	if err != nil {
		t.Fatal(err)
	}
	bare, _ := json.Marshal(forge("bare"))
	byAttacker, _ := attacker.Sign("agent:db1", forge("attacker"))
	forOther, _ := leader.Sign("agent:db2", forge("misaddressed"))
	altered := reseal(t, legitMsg, func(s *signedTask) { s.Task.Args[1] = "touch " + filepath.Join(dir, "pwned-altered2") })
	replay, _ := leader.Sign("agent:db1", Task{Run: id, Job: "a", Attempt: 1, Kind: "command", Command: "/bin/sh",
		Args: []string{"-c", "touch " + filepath.Join(dir, "pwned-replay")}})
	for i, m := range [][]byte{bare, byAttacker, altered, forOther, replay} {
		if _, err := js.Publish(ctx, "unyo.job.task.agent.db1", m, jetstream.WithMsgID(fmt.Sprintf("forged-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]float64{RefusedUnsigned: 1, RefusedUnknownKey: 1, RefusedBadSignature: 1, RefusedMisaddressed: 1, RefusedReplayed: 1}
	waitFor(t, "five refusals", func() bool {
		for reason, n := range want {
			if promtestutil.ToFloat64(ag.refused.WithLabelValues(reason)) != n {
				return false
			}
		}
		return true
	})
	for reason := range want {
		if !strings.Contains(log.String(), `msg="task refused"`) || !strings.Contains(log.String(), "reason="+reason) {
			t.Errorf("no refusal logged with reason %s", reason)
		}
	}
	// Refusals of tasks that name an attempt reach the leader (the
	// replayed one is the agent's own attempt and is not reported).
	waitFor(t, "refusals reported to the leader", func() bool {
		return promtestutil.ToFloat64(agents.refused.WithLabelValues(RefusedUnsigned)) == 1 &&
			promtestutil.ToFloat64(agents.refused.WithLabelValues(RefusedBadSignature)) == 1
	})

	// A task that expired before the agent took it: the job ends
	// abnormally, with the reason, instead of waiting.
	lag.Store(int64(time.Hour))
	id2, err := h.e.Start(t.Context(), "late", nil, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	r := h.wait(id2)
	if j := r.Jobs["a"]; j.State != runstate.EndedAbnormal || !strings.Contains(j.Reason, "refused") || !strings.Contains(j.Reason, "expired") {
		t.Errorf("late: %+v", j)
	}
	if promtestutil.ToFloat64(agents.refused.WithLabelValues(RefusedExpired)) != 1 {
		t.Error("expired refusal not counted by the leader")
	}
	if promtestutil.ToFloat64(ag.ran) != 1 {
		t.Errorf("agent ran %v tasks, want 1", promtestutil.ToFloat64(ag.ran))
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "pwned-*"))
	if _, err := os.Stat(filepath.Join(dir, "late")); err == nil {
		matches = append(matches, "late")
	}
	if len(matches) > 0 {
		t.Errorf("refused tasks ran: %v", matches)
	}
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAgentNeedsTrust: an agent without trusted keys does not start, and
// a dispatcher without a signing key sends nothing.
func TestAgentNeedsTrust(t *testing.T) {
	b := openBus(t)
	if err := (&Agent{Name: "x", NC: b.Conn()}).Run(t.Context()); !errors.Is(err, ErrNoTrust) {
		t.Errorf("agent without trust: %v", err)
	}
	agents, err := NewAgents(t.Context(), b.Conn(), AgentsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := agents.Dispatch(t.Context(), "agent:x", Task{Run: "r", Job: "j", Attempt: 1}); !errors.Is(err, ErrNoSigner) {
		t.Errorf("dispatch without a signer: %v", err)
	}
}

// TestAgentResultThroughSpool: an agent given a ResultSink (a node's
// built-in agent gets the node's spool) hands its result to the spool and
// never publishes it itself: the job stays running while the spool holds
// the result, and ends as it ran once the spool's forwarder delivers it.
func TestAgentResultThroughSpool(t *testing.T) {
	b := openBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sp, err := spool.Open(spool.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	in := bus.NewIngest(b, sp)
	agents, err := NewAgents(ctx, b.Conn(), AgentsOptions{Signer: testSigner})
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, `
jobnets:
  - name: spooled
    jobs:
      - {name: a, command: /bin/sh, args: ["-c", "echo ran"], run_on: {node: n2}}
`, func(o *Options) { o.Remote = agents })
	go agents.Serve(ctx, h.e)
	ag := &Agent{Trust: testTrust, Name: "n2", Node: true, NC: b.Conn(), Heartbeat: 100 * time.Millisecond, Results: in}
	agentDone := make(chan struct{})
	go func() { ag.Run(ctx); close(agentDone) }()

	id, err := h.e.Start(t.Context(), "spooled", nil, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	// The result is in the spool, not on the bus: the job is still running.
	for sp.Status().Entries == 0 {
		select {
		case <-t.Context().Done():
			t.Fatal("no result spooled")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if r, _ := h.e.GetRun(id); r.Jobs["a"].State.Final() {
		t.Fatalf("job %s before the spool forwarded its result", r.Jobs["a"].State)
	}
	go sp.Forward(ctx, b.PublishEntries, spool.ForwardOptions{})
	r := h.wait(id)
	if a := r.Jobs["a"]; a.State != runstate.EndedNormal || a.Output != "ran\n" || a.Where != "node:n2" {
		t.Fatalf("a: %+v", a)
	}
	cancel()
	<-agentDone
}

// gateExec records the tasks it runs; a task whose job is "hold" runs
// until release is closed.
type gateExec struct {
	mu      sync.Mutex
	ran     []string
	release chan struct{}
}

func (g *gateExec) Execute(ctx context.Context, t Task) Result {
	g.mu.Lock()
	g.ran = append(g.ran, t.Job)
	g.mu.Unlock()
	if t.Job == "hold" {
		select {
		case <-g.release:
		case <-ctx.Done():
		}
	}
	return Result{Run: t.Run, Job: t.Job, Attempt: t.Attempt}
}

func (g *gateExec) runs() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.ran...)
}

// TestAgentGateAtStart: a task fetched while the gate was open but that
// starts after it closed (here: it waited for the agent's only slot) is
// handed back to the stream, not run, and runs once the gate opens.
func TestAgentGateAtStart(t *testing.T) {
	b := openBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	agents, err := NewAgents(ctx, b.Conn(), AgentsOptions{Signer: testSigner})
	if err != nil {
		t.Fatal(err)
	}
	var closed atomic.Bool
	ex := &gateExec{release: make(chan struct{})}
	var log syncBuf
	ag := &Agent{Name: "db1", NC: b.Conn(), Trust: testTrust, Exec: ex, Parallel: 1, Heartbeat: time.Hour,
		Logger: slog.New(slog.NewTextHandler(&log, nil)),
		Gate: func() string {
			if closed.Load() {
				return "refuse mode: server upgrade"
			}
			return ""
		}}
	agentDone := make(chan struct{})
	go func() { ag.Run(ctx); close(agentDone) }()
	defer func() {
		cancel()
		<-agentDone
		if t.Failed() {
			t.Logf("agent log:\n%s", log.String())
		}
	}()
	// "hold" runs first and keeps the only slot; "gated" is dispatched
	// only then, so it cannot take the slot first (a direct offer answered
	// before the stream copy of "hold" is fetched would).
	waitFor(t, "the agent to serve", func() bool { return strings.Contains(log.String(), `msg="agent serving"`) })
	dispatch := func(job string) {
		t.Helper()
		if err := agents.Dispatch(ctx, "agent:db1", Task{Run: "r1", Job: job, Attempt: 1, Kind: "command", Command: "/bin/true"}); err != nil {
			t.Fatal(err)
		}
	}
	dispatch("hold")
	waitFor(t, "the first task to run", func() bool { return len(ex.runs()) == 1 })
	dispatch("gated")
	// The second task is fetched (delivered, not acknowledged) and waits
	// for the slot the first one holds.
	waitFor(t, "the second task to be fetched", func() bool {
		c, err := agents.js.Consumer(ctx, TaskStream, "agent-db1")
		if err != nil {
			return false
		}
		ci, err := c.Info(ctx)
		return err == nil && ci.NumAckPending == 1 && ci.NumPending == 0
	})
	closed.Store(true)
	close(ex.release)
	waitFor(t, "the fetched task to be handed back", func() bool {
		return strings.Contains(log.String(), `msg="task handed back: jobs refused" job=r1/gated/1`)
	})
	if r := ex.runs(); len(r) != 1 {
		t.Fatalf("tasks run while the gate is closed: %v", r)
	}
	closed.Store(false)
	waitFor(t, "the handed-back task to run once the gate opens", func() bool { return len(ex.runs()) == 2 })
	if r := ex.runs(); r[1] != "gated" {
		t.Errorf("runs: %v", r)
	}
	if n := promtestutil.ToFloat64(ag.ran); n != 2 {
		t.Errorf("agent counted %v tasks run, want 2", n)
	}
}
