package jobnet

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/bus"
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
