package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/jobnet"
	"github.com/unyo-ops/unyo/test/testutil"
)

// agentProc is a running `unyo agent`.
type agentProc struct {
	cmd *exec.Cmd
	log *lockedBuf
}

// startAgent starts `unyo agent args...`; it is killed at the end of the
// test, and its log shown if the test failed.
func startAgent(t *testing.T, args ...string) *agentProc {
	t.Helper()
	cmd := exec.Command(testutil.Binary(t), append([]string{"agent"}, args...)...)
	a := &agentProc{cmd: cmd, log: &lockedBuf{}}
	cmd.Stdout, cmd.Stderr = a.log, a.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("agent %v log:\n%s", args, a.log.String())
		}
	})
	return a
}

// agentFails runs `unyo agent args...`, which must exit non-zero within
// 20 s, and returns what it printed.
func agentFails(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, testutil.Binary(t), append([]string{"agent"}, args...)...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("unyo agent %v still running after 20s, want a refusal:\n%s", args, out)
	}
	if err == nil {
		t.Fatalf("unyo agent %v exited 0, want a refusal:\n%s", args, out)
	}
	return string(out)
}

func writeFile(t *testing.T, path, data string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func runRecord(t *testing.T, srv, id string) ledger.RunRecord {
	t.Helper()
	var r ledger.RunRecord
	out := unyo(t, 0, "run", "show", id, srv, "-o", "json")
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("run show -o json: %v\n%s", err, out)
	}
	return r
}

func waitRunStatus(t *testing.T, srv, id, status string) ledger.RunRecord {
	t.Helper()
	var r ledger.RunRecord
	waitFor(t, "run "+id+" "+status, func() bool {
		r = runRecord(t, srv, id)
		return r.Status == status
	})
	return r
}

// TestAgentAccessEmbedded: a node's embedded NATS server with a listener
// lets in only its configured agents, each only onto its own subjects,
// and the real `unyo agent` runs the tasks the node signed.
func TestAgentAccessEmbedded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	natsAddr := testutil.FreePort(t)
	natsURL := "nats://" + natsAddr
	const web01Pass = "web01-password-0123456789"
	passFile := writeFile(t, filepath.Join(dir, "web01.pass"), web01Pass+"\n", 0o600)
	wrongPass := writeFile(t, filepath.Join(dir, "wrong.pass"), "web01-password-wrong\n", 0o600)
	web02Seed := filepath.Join(dir, "web02.nk")
	web02Pub := strings.TrimSpace(unyo(t, 0, "agent", "nkey", web02Seed))
	if fi, err := os.Stat(web02Seed); err != nil || fi.Mode().Perm() != 0o600 || !strings.HasPrefix(web02Pub, "U") {
		t.Fatalf("agent nkey: seed %v (%v), public key %q", fi, err, web02Pub)
	}
	unyo(t, 1, "agent", "nkey", web02Seed) // never overwrites a seed
	addr := testutil.FreePort(t)
	cfgText := oneNode("n1", dir, addr) + embeddedNATS(natsAddr) + fmt.Sprintf(`    agents:
      - {name: web01, tags: [linux], password: %[2]q}
      - {name: web02, nkey: %[3]s}
jobnets:
  - name: remote
    jobs:
      - {name: a, command: /bin/sh, args: ["-c", "touch %[1]s/ran-web01"], run_on: {agent: web01}}
      - {name: b, command: /bin/sh, args: ["-c", "touch %[1]s/ran-web02"], run_on: {agent: web02}}
      - {name: c, command: /bin/sh, args: ["-c", "touch %[1]s/ran-linux"], run_on: {tag: linux}}
`, dir, web01Pass, web02Pub)
	p := serveYAML(t, dir, addr, cfgText)
	srv := "--server=" + p.URL
	if strings.Contains(p.Log(), web01Pass) {
		t.Error("the node logged an agent's password")
	}

	// The node made its signing key (0600) and publishes the public one.
	keyFile := filepath.Join(dir, "task-signing.key")
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("signing key %v (%v), want mode 0600", fi, err)
	}
	trust := writeFile(t, filepath.Join(dir, "trust.pub"), unyo(t, 0, "agent", "trust-key", "--config", filepath.Join(dir, "unyo.yaml")), 0o644)
	if pub, _ := os.ReadFile(filepath.Join(dir, "task-signing.pub")); string(pub) != mustReadString(t, trust) {
		t.Errorf("trust-key printed something else than task-signing.pub")
	}

	t.Run("wrong credentials get nothing", func(t *testing.T) {
		for name, args := range map[string][]string{
			"wrong password": {"--password-file", wrongPass},
			"no credentials": nil,
			"unknown nkey":   {"--nkey", func() string { s := filepath.Join(t.TempDir(), "x.nk"); unyo(t, 0, "agent", "nkey", s); return s }()},
		} {
			out := agentFails(t, append([]string{"--name", "web01", "--nats", natsURL, "--trust-key", trust}, args...)...)
			if !strings.Contains(strings.ToLower(out), "authorization violation") {
				t.Errorf("%s: %s", name, out)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "ran-web01")); err == nil {
			t.Error("a task ran")
		}
	})

	t.Run("right credentials reach only the agent's own subjects", func(t *testing.T) {
		// web01's credentials taking web02's tasks, or a tag not its own.
		out := agentFails(t, "--name", "web02", "--user", "web01", "--password-file", passFile, "--nats", natsURL, "--trust-key", trust)
		if !strings.Contains(out, "Permissions Violation") || !strings.Contains(out, "agent-web02") {
			t.Errorf("web01 as web02: %s", out)
		}
		out = agentFails(t, "--name", "web01", "--tag", "linux,windows", "--password-file", passFile, "--nats", natsURL, "--trust-key", trust)
		if !strings.Contains(out, "Permissions Violation") || !strings.Contains(out, "tag-windows") {
			t.Errorf("web01 with tag windows: %s", out)
		}
		// A plain client with web01's credentials.
		errs := make(chan error, 16)
		nc, err := nats.Connect(natsURL, nats.UserInfo("web01", web01Pass), nats.CustomInboxPrefix("_INBOX_AGENT.web01"),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		expect := func(what string) {
			t.Helper()
			select {
			case err := <-errs:
				if !strings.Contains(err.Error(), what) {
					t.Errorf("async error %v, want %q", err, what)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("no %q", what)
			}
		}
		if _, err := nc.SubscribeSync("unyo.job.task.agent.web02"); err != nil {
			t.Fatal(err)
		}
		expect(`Permissions Violation for Subscription to "unyo.job.task.agent.web02"`)
		task, _ := json.Marshal(jobnet.Task{Run: "forged", Job: "x", Attempt: 1, Command: "/bin/sh",
			Args: []string{"-c", "touch " + filepath.Join(dir, "pwned")}})
		if err := nc.Publish("unyo.job.task.agent.web01", task); err != nil {
			t.Fatal(err)
		}
		expect(`Permissions Violation for Publish to "unyo.job.task.agent.web01"`)
		// Nor report for web02: its results and heartbeats are its own.
		for _, subj := range []string{"unyo.job.result.web02", "unyo.job.heartbeat.web02"} {
			if err := nc.Publish(subj, []byte(`{"run":"forged","job":"b","attempt":1,"code":0}`)); err != nil {
				t.Fatal(err)
			}
			expect(`Permissions Violation for Publish to "` + subj + `"`)
		}
	})

	t.Run("signed tasks run on the real agents", func(t *testing.T) {
		a1 := startAgent(t, "--name", "web01", "--tag", "linux", "--nats", natsURL, "--password-file", passFile, "--trust-key", trust)
		a2 := startAgent(t, "--name", "web02", "--nats", natsURL, "--nkey", web02Seed, "--trust-key", trust)
		waitFor(t, "both agents serving", func() bool {
			return strings.Contains(a1.log.String(), `msg="agent serving"`) && strings.Contains(a2.log.String(), `msg="agent serving"`)
		})
		id := strings.TrimSpace(unyo(t, 0, "jobnet", "run", "remote", srv))
		r := waitRunStatus(t, srv, id, "ended-normal")
		for _, f := range []string{"ran-web01", "ran-web02", "ran-linux"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("%s: %v (run %+v)", f, err, r.Jobs)
			}
		}
		waitFor(t, "task run lines", func() bool {
			return strings.Contains(a1.log.String(), `job=`+id+`/a/1 command=/bin/sh target=agent:web01 by=n1`) &&
				strings.Contains(a2.log.String(), `job=`+id+`/b/1 command=/bin/sh target=agent:web02 by=n1`)
		})
		if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
			t.Error("the forged task ran")
		}
		// Handed over directly (core NATS), not through the task stream,
		// and answered within the agents' permissions.
		for _, l := range strings.Split(a1.log.String()+a2.log.String(), "\n") {
			if strings.Contains(l, `msg="task run"`) && !strings.Contains(l, "direct=true") {
				t.Errorf("a task not handed to the agent directly: %s", l)
			}
			if strings.Contains(l, "Permissions Violation") {
				t.Errorf("an agent's own subjects denied: %s", l)
			}
		}
	})
}

func mustReadString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAgentRefusesForgedTasks: with an external NATS server (a real
// nats-server configured as docs/bus.md shows), a client that can publish
// on the task subjects — here with the node's own NATS credentials, but
// without its signing key — gets nothing run: the real `unyo agent`
// refuses and logs each forged task; its report of a refusal naming
// another agent's job is refused by the leader (a report on a job is taken
// only from the agent it was dispatched to), so that job goes on; the task
// the node signed runs.
func TestAgentRefusesForgedTasks(t *testing.T) {
	t.Parallel()
	natsBin, err := exec.LookPath("nats-server")
	if err != nil {
		if os.Getenv("UNYO_TEST_ALLOW_SKIP") == "1" {
			t.Skip("nats-server not installed")
		}
		t.Fatal("nats-server not installed (apt-get install nats-server, or UNYO_TEST_ALLOW_SKIP=1)")
	}
	dir := t.TempDir()
	natsAddr := testutil.FreePort(t)
	const nodePass, web01Pass = "node-password-0123456789", "web01-password-0123456789"
	// The operator's NATS configuration: the node's user has every right;
	// the agent the same permissions the embedded server gives it.
	conf := writeFile(t, filepath.Join(dir, "nats.conf"), fmt.Sprintf(`listen: %q
jetstream { store_dir: %q }
authorization {
  users: [
    {user: node, password: %q}
    {user: web01, password: %q, permissions: {
      publish: {allow: [
        "unyo.job.result.web01", "unyo.job.report.web01", "unyo.job.heartbeat.web01",
        "$JS.API.CONSUMER.CREATE.UNYO_JOBS.agent-web01.unyo.job.task.agent.web01",
        "$JS.API.CONSUMER.MSG.NEXT.UNYO_JOBS.agent-web01",
        "$JS.ACK.UNYO_JOBS.agent-web01.>"]}
      subscribe: {allow: ["_INBOX_AGENT.web01.>", "unyo.job.kill.agent.web01", "unyo.job.direct.agent.web01.take", "unyo.job.direct.agent.web01.confirm"]}
      allow_responses: {max: 1, expires: "5m"}
    }}
  ]
}
`, natsAddr, filepath.Join(dir, "js"), nodePass, web01Pass), 0o600)
	ns := exec.Command(natsBin, "-c", conf)
	var nsLog lockedBuf
	ns.Stdout, ns.Stderr = &nsLog, &nsLog
	if err := ns.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ns.Process.Kill()
		_ = ns.Wait()
		if t.Failed() {
			t.Logf("nats-server log:\n%s", nsLog.String())
		}
	})
	var nc *nats.Conn
	waitFor(t, "nats-server", func() bool {
		nc, err = nats.Connect("nats://"+natsAddr, nats.UserInfo("node", nodePass))
		return err == nil
	})
	defer nc.Close()

	addr := testutil.FreePort(t)
	p := serveYAML(t, dir, addr, oneNode("n1", dir, addr)+fmt.Sprintf(`nats:
  url: nats://node:%[2]s@%[3]s
jobnets:
  - name: legit
    jobs:
      - {name: a, command: /bin/sh, args: ["-c", "touch %[1]s/ran-legit"], run_on: {agent: web01}}
  - name: victim
    jobs:
      - {name: v, command: /bin/sleep, args: ["60"], run_on: {agent: web09}}
`, dir, nodePass, natsAddr))
	srv := "--server=" + p.URL
	passFile := writeFile(t, filepath.Join(dir, "web01.pass"), web01Pass, 0o600)
	ag := startAgent(t, "--name", "web01", "--nats", "nats://"+natsAddr, "--password-file", passFile,
		"--trust-key", filepath.Join(dir, "task-signing.pub"))

	// The legitimate path: the task the node signed runs.
	id := strings.TrimSpace(unyo(t, 0, "jobnet", "run", "legit", srv))
	waitRunStatus(t, srv, id, "ended-normal")
	if _, err := os.Stat(filepath.Join(dir, "ran-legit")); err != nil {
		t.Fatal(err)
	}

	// A job is waiting on agent web09 (which never comes); forged tasks
	// for it and for made-up runs go onto web01's subject.
	victim := strings.TrimSpace(unyo(t, 0, "jobnet", "run", "victim", srv))
	waitFor(t, "victim running", func() bool {
		r := runRecord(t, srv, victim)
		return len(r.Jobs) == 1 && r.Jobs[0].State == "running"
	})
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	forged := func(run, job, file string) jobnet.Task {
		return jobnet.Task{Run: run, Job: job, Attempt: 1, Kind: "command", Command: "/bin/sh",
			Args: []string{"-c", "touch " + filepath.Join(dir, file)}}
	}
	bare, _ := json.Marshal(forged(victim, "v", "pwned-victim"))
	attacker, err := jobnet.GenerateSigner("mallory")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := attacker.Sign("agent:web01", forged("made-up", "x", "pwned-attacker-key"))
	for i, m := range [][]byte{bare, other, []byte(`{"payload":"bm90IGEgdGFzaw==","key_id":"x","sig":"AAAA"}`)} {
		if _, err := js.Publish(t.Context(), "unyo.job.task.agent.web01", m, jetstream.WithMsgID(fmt.Sprintf("forged-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	// web01 refuses the forged task naming web09's job and reports that on
	// its own subject; the leader takes reports on that job only from
	// web09, so the report is refused and the job goes on.
	waitFor(t, "web01's report on web09's job refused", func() bool {
		l := p.Log()
		return strings.Contains(l, `msg="job result refused"`) && strings.Contains(l, "job="+victim+"/v/1 claimed=agent:web01 subject=unyo.job.result.web01 reason=sender")
	})
	if r := runRecord(t, srv, victim); len(r.Jobs) != 1 || r.Jobs[0].State != "running" {
		t.Errorf("victim job after another agent's report: %+v", r.Jobs)
	}
	waitFor(t, "refusals in the agent's log", func() bool {
		l := ag.log.String()
		return strings.Count(l, `msg="task refused"`) == 3 && strings.Contains(l, "reason=unsigned") &&
			strings.Contains(l, "reason=unknown_key") && strings.Contains(l, "reason=malformed")
	})
	waitFor(t, "refusals in the node's log", func() bool {
		return strings.Contains(p.Log(), `"an agent refused a task"`) || strings.Contains(p.Log(), `msg="an agent refused a task"`)
	})
	matches, _ := filepath.Glob(filepath.Join(dir, "pwned-*"))
	if len(matches) > 0 {
		t.Errorf("forged tasks ran: %v", matches)
	}
}
