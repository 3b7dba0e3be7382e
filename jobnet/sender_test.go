package jobnet

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/jobnet/runstate"
)

const (
	web01Pass = "web01-password-0123456789"
	web02Pass = "web02-password-0123456789"
)

// agentConnect connects to url as `unyo agent --name name` does, and
// collects the server's asynchronous errors (permission violations).
func agentConnect(t *testing.T, url, name, pass string) (*nats.Conn, chan error) {
	t.Helper()
	errs := make(chan error, 64)
	nc, err := nats.Connect(url, nats.UserInfo(name, pass), nats.CustomInboxPrefix(bus.AgentInboxPrefix(name)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case errs <- err:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, errs
}

// TestLeaderRefusesForgedResults: with NATS permissions on (an embedded
// server with agents web01 and web02), web02 cannot publish on web01's
// result or heartbeat subjects, and what it publishes on its own about
// web01's jobs — an "ended 0" for web01's running backup job, one for a
// job of a tag it does not hold, heartbeats keeping alive a job of an
// agent that is gone — is refused, logged and counted, and changes no
// run; web01's own heartbeats keep its jobs alive and its results end
// them.
func TestLeaderRefusesForgedResults(t *testing.T) {
	dir := t.TempDir()
	b, err := bus.Open(t.Context(), bus.Options{StoreDir: t.TempDir(), Name: "n1", Listen: "127.0.0.1:0",
		Agents: []bus.AgentCredential{
			{Name: "web01", Tags: []string{"linux"}, Password: web01Pass},
			{Name: "web02", Tags: []string{"windows"}, Password: web02Pass},
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg := prometheus.NewRegistry()
	var leaderLog syncBuf
	agents, err := NewAgents(ctx, b.Conn(), AgentsOptions{Signer: testSigner, Registerer: reg,
		Logger:    slog.New(slog.NewTextHandler(&leaderLog, nil)),
		AgentTags: map[string][]string{"web01": {"linux"}, "web02": {"windows"}}})
	if err != nil {
		t.Fatal(err)
	}
	gate := filepath.Join(dir, "go")
	wait := fmt.Sprintf("while [ ! -e %s ]; do sleep 0.05; done", gate)
	const lostAfter = 1500 * time.Millisecond
	h := start(t, fmt.Sprintf(`
jobnets:
  - name: backup
    jobs:
      - {name: db, command: /bin/sh, args: ["-c", %[1]q], run_on: {agent: web01}}
      - {name: logs, command: /bin/sh, args: ["-c", %[1]q], run_on: {tag: linux}}
  - name: gone
    jobs:
      - {name: a, command: /bin/sleep, args: ["30"], run_on: {agent: web03}}
`, wait), func(o *Options) { o.Remote = agents; o.LostAfter = lostAfter })
	go agents.Serve(ctx, h.e)
	defer func() {
		if t.Failed() {
			t.Logf("leader log:\n%s", leaderLog.String())
		}
	}()

	// web01: a real agent over TCP with its own credentials.
	nc1, _ := agentConnect(t, b.ClientURL(), "web01", web01Pass)
	var agentLog syncBuf
	ag := &Agent{Name: "web01", Tags: []string{"linux"}, NC: nc1, Trust: testTrust, Heartbeat: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&agentLog, nil))}
	agentDone := make(chan struct{})
	go func() { ag.Run(ctx); close(agentDone) }()
	defer func() {
		cancel()
		<-agentDone
		if t.Failed() {
			t.Logf("web01's log:\n%s", agentLog.String())
		}
	}()

	id, err := h.e.Start(t.Context(), "backup", nil, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	h.waitJob(id, "db", runstate.Running)
	h.waitJob(id, "logs", runstate.Running)
	waitFor(t, "web01 running both jobs", func() bool {
		return strings.Count(agentLog.String(), `msg="task run"`) == 2
	})

	nc2, errs2 := agentConnect(t, b.ClientURL(), "web02", web02Pass)
	js2, err := jetstream.New(nc2)
	if err != nil {
		t.Fatal(err)
	}
	forged := func(job, where string) []byte {
		now := time.Now().UTC()
		m, _ := json.Marshal(Result{Run: id, Job: job, Attempt: 1, Code: 0, Where: where, Output: "forged\n",
			Started: now, Ended: now})
		return m
	}

	t.Run("another agent's subjects are a permissions violation", func(t *testing.T) {
		for _, subj := range []string{"unyo.job.result.web01", "unyo.job.heartbeat.web01", "unyo.job.result"} {
			if err := nc2.Publish(subj, forged("db", "agent:web01")); err != nil {
				t.Fatal(err)
			}
			want := `permissions violation for publish to "` + subj + `"`
			select {
			case err := <-errs2:
				if !strings.Contains(strings.ToLower(err.Error()), want) {
					t.Fatalf("async error %v, want %s", err, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no %s", want)
			}
		}
	})

	resultsRefused := func(reason string) float64 {
		return promtestutil.ToFloat64(agents.resultsRefused.WithLabelValues(reason))
	}
	beatsRefused := func(reason string) float64 {
		return promtestutil.ToFloat64(agents.beatsRefused.WithLabelValues(reason))
	}

	t.Run("forged results on its own subject are refused", func(t *testing.T) {
		for i, f := range []struct{ job, where string }{
			{"db", ""},              // web01's job, from web02
			{"db", "agent:web01"},   // claiming to be web01
			{"logs", "agent:web02"}, // a tag web02 does not hold
		} {
			if _, err := js2.Publish(ctx, "unyo.job.result.web02", forged(f.job, f.where),
				jetstream.WithMsgID(fmt.Sprintf("forged-%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		lines := []string{
			`msg="job result refused" job=` + id + `/db/1 claimed="" subject=unyo.job.result.web02 reason=sender code=0`,
			`msg="job result refused" job=` + id + `/db/1 claimed=agent:web01 subject=unyo.job.result.web02 reason=claim`,
			`msg="job result refused" job=` + id + `/logs/1 claimed=agent:web02 subject=unyo.job.result.web02 reason=sender`,
		}
		waitFor(t, "three refused results, counted and logged", func() bool {
			for _, line := range lines {
				if !strings.Contains(leaderLog.String(), line) {
					return false
				}
			}
			return resultsRefused(RefusedSender) == 2 && resultsRefused(RefusedClaim) == 1
		})
		r, _ := h.e.GetRun(id)
		for _, j := range []string{"db", "logs"} {
			if r.Jobs[j].State != runstate.Running || r.Jobs[j].Code != nil {
				t.Errorf("%s after forged results: %+v", j, r.Jobs[j])
			}
		}
		// Refused, not left to be redelivered.
		waitFor(t, "the result stream drained", func() bool {
			s, err := b.JetStream().Stream(ctx, ResultStream)
			if err != nil {
				return false
			}
			info, err := s.Info(ctx)
			return err == nil && info.State.Msgs == 0
		})
	})

	t.Run("forged heartbeats keep nothing alive", func(t *testing.T) {
		gid, err := h.e.Start(t.Context(), "gone", nil, "", "test")
		if err != nil {
			t.Fatal(err)
		}
		h.waitJob(gid, "a", runstate.Running)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		deadline := time.Now().Add(20 * time.Second)
		for {
			if r, _ := h.e.GetRun(gid); r != nil && r.Jobs["a"].State == runstate.Lost {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the forged heartbeats kept web03's job alive")
			}
			hb, _ := json.Marshal(heartbeat{Agent: "web02", Keys: []string{gid + "/a/1"}})
			if err := nc2.Publish("unyo.job.heartbeat.web02", hb); err != nil {
				t.Fatal(err)
			}
			<-tick.C
		}
		waitFor(t, "forged heartbeats counted and logged", func() bool {
			return beatsRefused(RefusedSender) > 0 && strings.Contains(leaderLog.String(),
				`msg="heartbeat refused" job=`+gid+`/a/1 claimed=agent:web02 subject=unyo.job.heartbeat.web02 reason=sender keys_refused=1`)
		})
	})

	// By now more than LostAfter has passed: web01's heartbeats were taken.
	r, _ := h.e.GetRun(id)
	if r.Jobs["db"].State != runstate.Running || r.Jobs["logs"].State != runstate.Running {
		t.Fatalf("web01's jobs with its heartbeats: %s", jobStates(r))
	}
	beatsBefore := beatsRefused(RefusedSender) + beatsRefused(RefusedClaim) + beatsRefused(RefusedSubject)

	// The genuine results from web01 end both jobs.
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r = h.wait(id)
	for _, j := range []string{"db", "logs"} {
		if jb := r.Jobs[j]; jb.State != runstate.EndedNormal || jb.Output == "forged\n" {
			t.Errorf("%s: %+v", j, jb)
		}
	}
	if got := resultsRefused(RefusedSender) + resultsRefused(RefusedClaim) + resultsRefused(RefusedSubject); got != 3 {
		t.Errorf("%v results refused in all, want the 3 forged", got)
	}
	if got := beatsRefused(RefusedSender) + beatsRefused(RefusedClaim) + beatsRefused(RefusedSubject); got != beatsBefore {
		t.Errorf("web01's heartbeats refused: %v, had %v", got, beatsBefore)
	}
}

// TestResultStreamUpgrade: a result stream made by an older version with
// the single subject unyo.job.result takes the per-sender subjects once
// the node ensures the streams, and a result left on the old subject is
// refused (it names no sender), not taken.
func TestResultStreamUpgrade(t *testing.T) {
	b := openBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	js := b.JetStream()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: ResultStream, Subjects: []string{resultSubject},
		Retention: jetstream.WorkQueuePolicy, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	h := start(t, `
jobnets:
  - name: old
    jobs:
      - {name: a, command: /bin/sleep, args: ["30"], run_on: {agent: web01}}
`)
	if _, err := js.Publish(ctx, resultSubject, []byte(`{"run":"r","job":"a","attempt":1,"code":0}`)); err != nil {
		t.Fatal(err)
	}
	agents, err := NewAgents(ctx, b.Conn(), AgentsOptions{Signer: testSigner})
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, ResultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(info.Config.Subjects, []string{resultSubject + ".>"}) || info.State.Msgs != 1 {
		t.Fatalf("after the upgrade: subjects %v, %d messages", info.Config.Subjects, info.State.Msgs)
	}
	go agents.Serve(ctx, h.e)
	waitFor(t, "the old subject's result refused", func() bool {
		return promtestutil.ToFloat64(agents.resultsRefused.WithLabelValues(RefusedSubject)) == 1
	})
	// Nothing is stored on the old subject any more.
	pctx, pcancel := context.WithTimeout(ctx, time.Second)
	defer pcancel()
	if _, err := js.Publish(pctx, resultSubject, []byte(`{}`)); err == nil {
		t.Error("a result on the old subject was stored")
	}
}

// TestSenderOf: subjects name their sender; reports are taken from the
// sender an attempt was dispatched to.
func TestSenderOf(t *testing.T) {
	for _, tc := range []struct {
		subject string
		want    string
	}{
		{"unyo.job.result.web01", "agent:web01"},
		{"unyo.job.result.node", "agent:node"},
		{"unyo.job.result.node.n1", "node:n1"},
		{"unyo.job.heartbeat.web01", ""}, // another prefix
		{"unyo.job.result", ""},
		{"unyo.job.result.", ""},
		{"unyo.job.result.a.b", ""},
		{"unyo.job.result.node.", ""},
		{"unyo.job.result.node.n1.x", ""},
	} {
		s, ok := senderOf(tc.subject, resultSubject)
		if got := map[bool]string{true: s.String(), false: ""}[ok]; got != tc.want {
			t.Errorf("senderOf(%q) = %q, want %q", tc.subject, got, tc.want)
		}
	}
	tags := map[string][]string{"web01": {"linux"}, "web02": nil}
	for _, tc := range []struct {
		from, where string
		tags        map[string][]string
		ok          bool
	}{
		{"agent:web01", "agent:web01", tags, true},
		{"agent:web02", "agent:web01", tags, false},
		{"node:web01", "agent:web01", tags, false},
		{"agent:n1", "node:n1", tags, false},
		{"node:n1", "node:n1", tags, true},
		{"agent:web01", "tag:linux", tags, true},
		{"agent:web02", "tag:linux", tags, false},
		{"agent:web03", "tag:linux", tags, false},
		{"agent:web03", "tag:linux", nil, true}, // tags unknown (external NATS)
		{"node:n1", "tag:linux", nil, false},
		{"agent:n1", "n1", tags, false}, // run by a leader itself: only that node
		{"node:n2", "n1", tags, false},
		{"node:n1", "n1", tags, true},
		{"agent:x", "nested", tags, false},
		{"node:nested", "nested", tags, false},
	} {
		kind, name, _ := strings.Cut(tc.from, ":")
		if got := mayReport(sender{kind, name}, tc.where, tc.tags); got != tc.ok {
			t.Errorf("%s reporting on %s (tags %v): %v, want %v", tc.from, tc.where, tc.tags, got, tc.ok)
		}
	}
	for k, want := range map[string]string{
		"backup-20260101T000000/db/1":     "backup-20260101T000000|db|1",
		"p-1/sub/a#2/x/3":                 "p-1/sub/a#2|x|3",
		"r/j/x":                           "",
		"/j/1":                            "",
		"r//1":                            "",
		"r/j":                             "",
		"j/1":                             "",
		"":                                "",
		"run/job/-1":                      "run|job|-1",
		"nested/run/with/slashes/job/12":  "nested/run/with/slashes|job|12",
		"run/job/1/":                      "",
		"run/job/99999999999999999999999": "",
	} {
		run, job, n, ok := splitKey(k)
		got := ""
		if ok {
			got = fmt.Sprintf("%s|%s|%d", run, job, n)
		}
		if got != want {
			t.Errorf("splitKey(%q) = %q, want %q", k, got, want)
		}
	}
}

// FuzzSenderOf: a sender's subject reads back as that sender, and no
// subject reads as a sender whose own subject differs.
func FuzzSenderOf(f *testing.F) {
	for _, s := range []string{"unyo.job.result.web01", "unyo.job.result.node.n1", "unyo.job.result", "unyo.job.result.a.b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, subject string) {
		s, ok := senderOf(subject, resultSubject)
		if !ok {
			return
		}
		if back := resultSubject + senderSuffix(s.kind, s.name); back != subject {
			t.Fatalf("%q reads as %s, whose subject is %q", subject, s, back)
		}
	})
}

// TestNodeAgentReports: a node's built-in agent reports on its own
// subjects (unyo.job.result.node.NAME), which the leader takes for a
// run_on.node job; an agent of the same name cannot report on it.
func TestNodeAgentReports(t *testing.T) {
	b := openBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	agents, err := NewAgents(ctx, b.Conn(), AgentsOptions{Signer: testSigner})
	if err != nil {
		t.Fatal(err)
	}
	gate := filepath.Join(t.TempDir(), "go")
	h := start(t, fmt.Sprintf(`
jobnets:
  - name: onnode
    jobs:
      - {name: a, command: /bin/sh, args: ["-c", "while [ ! -e %s ]; do sleep 0.05; done; echo on $UNYO_JOB"], run_on: {node: n2}}
`, gate), func(o *Options) { o.Remote = agents })
	go agents.Serve(ctx, h.e)
	var agentLog syncBuf
	ag := &Agent{Name: "n2", Node: true, NC: b.Conn(), Trust: testTrust, Heartbeat: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&agentLog, nil))}
	agentDone := make(chan struct{})
	go func() { ag.Run(ctx); close(agentDone) }()
	defer func() { cancel(); <-agentDone }()
	id, err := h.e.Start(t.Context(), "onnode", nil, "", "test")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n2 running the job", func() bool { return strings.Contains(agentLog.String(), `msg="task run"`) })
	// An agent named like the node, on its own subject.
	now := time.Now().UTC()
	m, _ := json.Marshal(Result{Run: id, Job: "a", Attempt: 1, Code: 0, Where: "agent:n2", Started: now, Ended: now})
	if _, err := b.JetStream().Publish(ctx, "unyo.job.result.n2", m); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the agent n2's result refused", func() bool {
		return promtestutil.ToFloat64(agents.resultsRefused.WithLabelValues(RefusedSender)) == 1
	})
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r := h.wait(id)
	if j := r.Jobs["a"]; j.State != runstate.EndedNormal || j.Output != "on a\n" || j.Where != "node:n2" {
		t.Fatalf("a: %+v", j)
	}
}

// TestTagsFor: an enrolled agent (AgentTagsOf knows it) is held to its
// registry tags also with an external NATS (AgentTags nil), where an agent
// the registry does not know still may report on any tag's task.
func TestTagsFor(t *testing.T) {
	enrolled := func(name string) ([]string, bool) {
		if name == "web01" {
			return []string{"batch"}, true
		}
		return nil, false
	}
	for _, tc := range []struct {
		name   string
		a      *Agents
		agent  string
		tag    string
		report bool
	}{
		{"external, enrolled with the tag", &Agents{tagsOf: enrolled}, "web01", "batch", true},
		{"external, enrolled without the tag", &Agents{tagsOf: enrolled}, "web01", "linux", false},
		{"external, not enrolled", &Agents{tagsOf: enrolled}, "static01", "linux", true},
		{"external, no registry", &Agents{}, "web01", "linux", true},
		{"embedded, listed", &Agents{tags: map[string][]string{"db01": {"linux"}}, tagsOf: enrolled}, "db01", "linux", true},
		{"embedded, enrolled without the tag", &Agents{tags: map[string][]string{"db01": {"linux"}}, tagsOf: enrolled}, "web01", "linux", false},
		{"embedded, unknown", &Agents{tags: map[string][]string{"db01": {"linux"}}, tagsOf: enrolled}, "static01", "linux", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sender{kind: "agent", name: tc.agent}
			if got := mayReport(s, "tag:"+tc.tag, tc.a.tagsFor(tc.agent)); got != tc.report {
				t.Errorf("mayReport = %v, want %v", got, tc.report)
			}
		})
	}
}
