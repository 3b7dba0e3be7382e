package jobnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/bus/spool"
	"github.com/unyo-ops/unyo/jobnet/runstate"
)

// streamSeq is the last sequence the stream ever stored (0: nothing ever).
func streamSeq(t *testing.T, js jetstream.JetStream, name string) uint64 {
	t.Helper()
	s, err := js.Stream(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// listens: someone subscribes to subject (a request with no answer times
// out instead of failing at once with no responders).
func listens(b *bus.Bus, subject string) bool {
	_, err := b.Conn().Request(subject, nil, 100*time.Millisecond)
	return !errors.Is(err, nats.ErrNoResponders)
}

// counterValue is the value of a counter in reg with label value lv.
func counterValue(t *testing.T, reg *prometheus.Registry, name, lv string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == lv {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func (r *startRecorder) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.starts[key])
}

// TestDirectDispatch: the leader hands a task to a live agent over core
// NATS, never through the task stream, and exactly once whichever way a
// copy comes: the stream copy of a task taken directly is not run, an
// offer of a task taken from the stream is answered "taken" and not run
// again, a dispatch again (takeover) confirms, and offers the task only to
// an agent that says it has not taken it. An agent that may not
// start jobs (its gate) says no, and the task waits in the stream.
func TestDirectDispatch(t *testing.T) {
	b := openBus(t)
	js := b.JetStream()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	agents, err := NewAgents(ctx, b.Conn(), AgentsOptions{Signer: testSigner})
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, `
jobnets:
  - name: d
    jobs:
      - {name: a, command: noop, run_on: {agent: ag1}}
`, func(o *Options) { o.Remote = agents })
	go agents.Serve(ctx, h.e)
	rec := &startRecorder{starts: map[string][]time.Time{}}
	var gated atomic.Value
	gated.Store("")
	reg := prometheus.NewRegistry()
	agentLog := &syncBuf{}
	ag := &Agent{Trust: testTrust, Name: "ag1", NC: b.Conn(), Exec: rec, Heartbeat: 100 * time.Millisecond,
		Gate: func() string { return gated.Load().(string) }, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(agentLog, nil))}
	agentDone := make(chan struct{})
	go func() { ag.Run(ctx); close(agentDone) }()
	defer func() { cancel(); <-agentDone }()
	outcome := func(o string) float64 { return promtestutil.ToFloat64(agents.direct.WithLabelValues(o)) }

	// The agent subscribes when it starts: wait until an offer is heard.
	waitFor(t, "the agent to listen for offers", func() bool { return listens(b, directSubject+".agent.ag1.take") })

	id, err := h.e.Start(t.Context(), "d", nil, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	if r := h.wait(id); r.Status != runstate.StatusNormal || r.Jobs["a"].Where != "agent:ag1" {
		t.Fatalf("run %s: %+v", r.Status, r.Jobs["a"])
	}
	key := id + "/a/1"
	if n := rec.count(id + "/a"); n != 1 {
		t.Fatalf("ran %d times", n)
	}
	if got := outcome("taken"); got != 1 {
		t.Errorf("direct hand-offs taken: %v, want 1", got)
	}
	if seq := streamSeq(t, js, TaskStream); seq != 0 {
		t.Fatalf("the task stream stored %d tasks: the direct hand-off went through it", seq)
	}

	// The stream copy of the task taken directly: refused as a replay.
	task := Task{Run: id, Jobnet: "d", Job: "a", Attempt: 1, Command: "noop"}
	signed, err := testSigner.Sign("agent:ag1", task)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(t.Context(), taskSubject+".agent.ag1", signed, jetstream.WithMsgID("task:"+key)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the agent to take the stream copy", func() bool {
		return counterValue(t, reg, "unyo_agent_tasks_refused_total", RefusedReplayed) == 1
	})
	// Dispatched again (a new leader's takeover): confirmed, not stored.
	before := streamSeq(t, js, TaskStream)
	if err := agents.DispatchAgain(t.Context(), "agent:ag1", task); err != nil {
		t.Fatal(err)
	}
	if got := outcome("confirmed"); got != 1 {
		t.Errorf("confirmed: %v, want 1", got)
	}
	if seq := streamSeq(t, js, TaskStream); seq != before {
		t.Errorf("dispatch again stored the task (%d → %d)", before, seq)
	}

	// A task taken from the stream, then offered directly: "taken".
	other := Task{Run: "manual", Jobnet: "d", Job: "x", Attempt: 1, Command: "noop"}
	signed, err = testSigner.Sign("agent:ag1", other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(t.Context(), taskSubject+".agent.ag1", signed, jetstream.WithMsgID("task:"+other.Key())); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stream's task to run", func() bool { return rec.count("manual/x") == 1 })
	if err := agents.Dispatch(t.Context(), "agent:ag1", other); err != nil {
		t.Fatal(err)
	}
	if got := outcome("taken"); got != 2 {
		t.Errorf("taken: %v, want 2 (the offer of a task the agent had)", got)
	}

	// Dispatched again, an attempt the agent has not taken (the old
	// leader died between committing its start and handing it over):
	// the agent says "not taken" and is offered it; the stream is not
	// waited for. Its stream copy, had the old leader stored one, is
	// refused as a replay: it runs once.
	fresh := Task{Run: "takeover", Jobnet: "d", Job: "y", Attempt: 1, Command: "noop"}
	beforeAgain := streamSeq(t, js, TaskStream)
	if err := agents.DispatchAgain(t.Context(), "agent:ag1", fresh); err != nil {
		t.Fatal(err)
	}
	if got := outcome("taken"); got != 3 {
		t.Errorf("taken: %v, want 3 (the attempt dispatched again, not taken before)", got)
	}
	if seq := streamSeq(t, js, TaskStream); seq != beforeAgain {
		t.Errorf("dispatch again of an attempt not taken stored it (%d → %d), want a direct hand-off", beforeAgain, seq)
	}
	waitFor(t, "the attempt dispatched again to run", func() bool { return rec.count("takeover/y") == 1 })
	signed, err = testSigner.Sign("agent:ag1", fresh)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(t.Context(), taskSubject+".agent.ag1", signed, jetstream.WithMsgID("task:"+fresh.Key())); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the agent to refuse the stream copy", func() bool {
		return counterValue(t, reg, "unyo_agent_tasks_refused_total", RefusedReplayed) == 2
	})
	before = streamSeq(t, js, TaskStream)

	// A gated agent says no: the task is stored and waits until the gate
	// opens, then runs once.
	gated.Store("refuse mode")
	// Once the fetch loop has seen the gate it fetches nothing more.
	waitFor(t, "the agent's fetch loop to see the gate", func() bool { return strings.Contains(agentLog.String(), "jobs refused") })
	id2, err := h.e.Start(t.Context(), "d", nil, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refused offer", func() bool { return outcome("refused") == 1 })
	waitFor(t, "the task stored", func() bool { return streamSeq(t, js, TaskStream) > before })
	if n := rec.count(id2 + "/a"); n != 0 {
		t.Fatalf("a gated agent ran the task")
	}
	gated.Store("")
	if r := h.wait(id2); r.Status != runstate.StatusNormal {
		t.Fatalf("run %s: %+v", r.Status, r.Jobs["a"])
	}
	time.Sleep(200 * time.Millisecond) // a repeat would have started by now
	for _, k := range []string{id + "/a", "manual/x", "takeover/y", id2 + "/a"} {
		if n := rec.count(k); n != 1 {
			t.Errorf("%s ran %d times, want once", k, n)
		}
	}
}

// TestDirectDispatchTag: a tag's task offered directly runs on one agent
// of the tag (a queue group); dispatched again it is only confirmed, by
// whichever agent took it, and stored nowhere: no other agent of the tag
// can run it.
func TestDirectDispatchTag(t *testing.T) {
	b := openBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	agents, err := NewAgents(ctx, b.Conn(), AgentsOptions{Signer: testSigner})
	if err != nil {
		t.Fatal(err)
	}
	rec := &startRecorder{starts: map[string][]time.Time{}}
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for _, name := range []string{"w1", "w2"} {
		ag := &Agent{Trust: testTrust, Name: name, Tags: []string{"workers"}, NC: b.Conn(), Exec: rec, Heartbeat: time.Second}
		wg.Go(func() { _ = ag.Run(ctx) })
	}
	waitFor(t, "both agents to listen", func() bool {
		n := 0
		for _, s := range []string{".agent.w1", ".agent.w2"} {
			if listens(b, directSubject+s+".take") {
				n++
			}
		}
		return n == 2
	})
	const n = 20
	for i := range n {
		task := Task{Run: fmt.Sprintf("r%d", i), Jobnet: "t", Job: "a", Attempt: 1, Command: "noop"}
		if err := agents.Dispatch(t.Context(), "tag:workers", task); err != nil {
			t.Fatal(err)
		}
		if err := agents.DispatchAgain(t.Context(), "tag:workers", task); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "every task run", func() bool {
		for i := range n {
			if rec.count(fmt.Sprintf("r%d/a", i)) == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(200 * time.Millisecond) // a repeat would have started by now
	for i := range n {
		if c := rec.count(fmt.Sprintf("r%d/a", i)); c != 1 {
			t.Errorf("r%d ran %d times", i, c)
		}
	}
	if got := promtestutil.ToFloat64(agents.direct.WithLabelValues("confirmed")); got != n {
		t.Errorf("confirmed %v, want %d", got, n)
	}
	if seq := streamSeq(t, b.JetStream(), TaskStream); seq != 0 {
		t.Errorf("%d tasks stored in the stream", seq)
	}
}

// TestAgentResultThroughNodeSpool: a remote agent's result goes to a
// node's spool (ServeReports), answered once on disk, not to JetStream:
// the job stays running while only the spool holds the result and ends
// once the node's forwarder delivers it. A report claiming another agent
// is refused and stored nowhere.
func TestAgentResultThroughNodeSpool(t *testing.T) {
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
  - name: rep
    jobs:
      - {name: a, command: /bin/sh, args: ["-c", "echo ran"], run_on: {agent: ag1}}
`, func(o *Options) { o.Remote = agents })
	go agents.Serve(ctx, h.e)
	reportsDone := make(chan error, 1)
	go func() { reportsDone <- agents.ServeReports(ctx, in) }()
	waitFor(t, "the node to take reports", func() bool {
		_, err := b.Conn().Request(reportSubject+".probe", []byte("x"), 100*time.Millisecond)
		return err == nil
	})
	if got := sp.Status().Entries; got != 0 {
		t.Fatalf("the probe was spooled (%d entries)", got)
	}
	ag := &Agent{Trust: testTrust, Name: "ag1", NC: b.Conn(), Heartbeat: 100 * time.Millisecond}
	agentDone := make(chan struct{})
	go func() { ag.Run(ctx); close(agentDone) }()

	id, err := h.e.Start(t.Context(), "rep", nil, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the result spooled", func() bool { return sp.Status().Entries == 1 })
	if r, _ := h.e.GetRun(id); r.Jobs["a"].State.Final() {
		t.Fatalf("job %s before the spool forwarded its result", r.Jobs["a"].State)
	}
	if seq := streamSeq(t, b.JetStream(), ResultStream); seq != 0 {
		t.Fatalf("the agent published its result to the stream itself (%d)", seq)
	}

	// Another agent's result, on ag1's subject: refused.
	forged, _ := json.Marshal(Result{Run: id, Job: "a", Attempt: 1, Where: "agent:ag2", Code: 0})
	resp, err := b.Conn().Request(reportSubject+".ag1", forged, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ans reportAnswer
	if json.Unmarshal(resp.Data, &ans) != nil || ans.OK {
		t.Errorf("forged report answered %s", resp.Data)
	}
	if got := sp.Status().Entries; got != 1 {
		t.Errorf("spool holds %d entries after a forged report, want 1", got)
	}

	go sp.Forward(ctx, b.PublishEntries, spool.ForwardOptions{})
	r := h.wait(id)
	if a := r.Jobs["a"]; a.State != runstate.EndedNormal || a.Output != "ran\n" || a.Where != "agent:ag1" {
		t.Fatalf("a: %+v", a)
	}
	cancel()
	<-agentDone
	if err := <-reportsDone; err != nil {
		t.Fatal(err)
	}
}
