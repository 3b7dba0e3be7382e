package test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/unyo-ops/unyo/alerting/ledger/postgres/pgtest"
	"github.com/unyo-ops/unyo/internal/natstest"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestEnrolledAgentExternalNATS: a real node on a real external
// nats-server (its own process, ≥ 2.10, configured as docs/bus.md shows
// with an auth_callout block): a real `unyo agent` enrolled with a token
// connects with its NKey, which the server asks the node about; it
// heartbeats, runs a jobnet task addressed to it, and, once an admin gives
// it a tag, the tag's task (its new permissions come from the callout when
// it reconnects). An NKey nobody enrolled is refused, and so is the
// agent's own once it uninstalled itself (disabled in the registry).
func TestEnrolledAgentExternalNATS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	x := startCalloutNATS(t, dir)
	issuerSeed, nodePass, seedFile, srv := x.issuerSeed, x.nodePass, x.seedFile, x.srv
	hostPort := strings.TrimPrefix(srv.URL, "nats://")

	addr := testutil.FreePort(t)
	p := serveYAML(t, dir, addr, oneNode("n1", dir, addr)+fmt.Sprintf(`nats:
  url: nats://unyo:%[1]s@%[2]s
  auth_callout:
    issuer_seed: file:%[3]s
    account: UNYO
agents:
  enabled: true
  heartbeat: 1s
  down_after: 2
  inventory_interval: 1m
jobnets:
  - name: direct
    jobs:
      - {name: j, command: /bin/sh, args: ["-c", "touch %[4]s"], run_on: {agent: web01}}
  - name: tagged
    jobs:
      - {name: j, command: /bin/sh, args: ["-c", "touch %[5]s"], run_on: {tag: batch}}
`, nodePass, hostPort, seedFile, filepath.Join(dir, "direct-ran"), filepath.Join(dir, "tagged-ran")))
	srvFlag := "--server=" + p.URL
	c := testutil.Client(t, p.URL)
	if strings.Contains(p.Log(), string(issuerSeed)) || strings.Contains(p.Log(), nodePass) {
		t.Error("the node logged the issuer seed or its NATS password")
	}

	tok := strings.TrimSpace(unyo(t, 0, "agents", "token", "create", "--group", "web", srvFlag))
	state := filepath.Join(dir, "agent-state")
	tokFile := writeFile(t, filepath.Join(dir, "tok"), tok+"\n", 0o600)
	if out, errOut, code := testutil.Run(t, "agent", "enroll", "--server", p.URL, "--token-file", tokFile, "--name", "web01",
		"--group", "web", "--state-dir", state, "--host-id", "host-web01"); code != 0 {
		t.Fatalf("enrol: exit %d\n%s%s", code, out, errOut)
	}
	st, err := os.ReadFile(filepath.Join(state, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(st), nodePass) || !strings.Contains(string(st), hostPort) {
		t.Fatalf("the agent's state holds the nodes' password, or not the external server:\n%s", st)
	}

	pkgs := writeFile(t, filepath.Join(dir, "pkgs.txt"), "bash\t5.2\tamd64\n", 0o644)
	ag := startAgent(t, "run", "--state-dir", state, "--packages-command", "cat "+pkgs, "--heartbeat", "500ms",
		"--host-id", "host-web01")
	waitFor(t, "web01 live through the external NATS", func() bool {
		l, err := c.Agents(t.Context())
		return err == nil && len(l) == 1 && l[0].Live
	})

	id := strings.TrimSpace(unyo(t, 0, "jobnet", "run", "direct", srvFlag))
	waitRunStatus(t, srvFlag, id, "ended-normal")
	if _, err := os.Stat(filepath.Join(dir, "direct-ran")); err != nil {
		t.Fatalf("the agent's job did not run: %v", err)
	}

	// A tag: the agent restarts, reconnects, and the callout gives it the
	// tag's subjects.
	unyo(t, 0, "agents", "tag", "web01", "+batch", srvFlag)
	id = strings.TrimSpace(unyo(t, 0, "jobnet", "run", "tagged", srvFlag))
	waitRunStatus(t, srvFlag, id, "ended-normal")
	if _, err := os.Stat(filepath.Join(dir, "tagged-ran")); err != nil {
		t.Fatalf("the tag's job did not run: %v", err)
	}
	if !strings.Contains(ag.log.String(), "tags changed: restarting") {
		t.Errorf("the agent did not restart for its new tag:\n%s", ag.log.String())
	}

	// An NKey nobody enrolled is refused by the node.
	stranger, _ := nkeys.CreateUser()
	sseed, _ := stranger.Seed()
	opt, err := nats.NkeyOptionFromSeed(writeFile(t, filepath.Join(dir, "stranger.nk"), string(sseed), 0o600))
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(srv.URL, opt, nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Error("an NKey nobody enrolled connected to the external NATS")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		t.Errorf("stranger: %v, want an authorization violation", err)
	}
	if strings.Contains(p.Log(), string(issuerSeed)) || strings.Contains(p.Log(), nodePass) {
		t.Error("the node logged the issuer seed or its NATS password")
	}
	// Uninstalled (its group has no secret): disabled in the registry, and
	// its NKey is refused from its next connection.
	seed, err := os.ReadFile(filepath.Join(state, "nkey.seed"))
	if err != nil {
		t.Fatal(err)
	}
	oldSeed := writeFile(t, filepath.Join(dir, "web01-old.nk"), string(seed), 0o600)
	if out, errOut, code := testutil.RunEnv(t, []string{"UNYO_UNINSTALL_SECRET=no-secret-set-for-the-group"},
		"agent", "uninstall", "--state-dir", state); code != 0 {
		t.Fatalf("uninstall: exit %d\n%s%s", code, out, errOut)
	}
	if a, err := c.Agent(t.Context(), "web01"); err != nil || !a.Disabled {
		t.Fatalf("web01 after its uninstall: %+v %v, want disabled", a, err)
	}
	opt, err = nats.NkeyOptionFromSeed(oldSeed)
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(srv.URL, opt, nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Error("an uninstalled (disabled) agent's NKey connected to the external NATS")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
		t.Errorf("disabled agent: %v, want an authorization violation", err)
	}

	waitFor(t, "the callout's answers in /metrics", func() bool {
		// Two connections of web01 (before and after its tag); the stranger
		// and the uninstalled web01.
		return metricValue(t, p.URL, `unyo_bus_auth_callout_requests_total{result="granted"}`) >= 2 &&
			metricValue(t, p.URL, `unyo_bus_auth_callout_requests_total{result="refused"}`) >= 2
	})
}

// calloutNATS is a nats-server of its own configured as docs/bus.md shows
// for enrolled agents: the nodes' user, the auth callout and its issuer.
type calloutNATS struct {
	srv        *natstest.Server
	issuerSeed []byte
	seedFile   string // the issuer seed, mode 0600
	nodePass   string
}

func startCalloutNATS(t *testing.T, dir string) calloutNATS {
	t.Helper()
	issuer, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	issuerPub, _ := issuer.PublicKey()
	issuerSeed, _ := issuer.Seed()
	seedFile := writeFile(t, filepath.Join(dir, "callout-issuer.nk"), string(issuerSeed)+"\n", 0o600)
	nonceKP, _ := nkeys.CreateUser()
	nonceKey, _ := nonceKP.PublicKey()
	raw := make([]byte, 16)
	_, _ = rand.Read(raw)
	nodePass := hex.EncodeToString(raw)

	srv := natstest.Start(t, natstest.CalloutConf(issuerPub, nodePass, nonceKey))
	return calloutNATS{srv: srv, issuerSeed: issuerSeed, seedFile: seedFile, nodePass: nodePass}
}

// TestEnrolledAgentExternalNATSCluster: two nodes (one Raft cluster,
// PostgreSQL) on one external nats-server answer its auth callout in one
// queue group. An agent enrolled through the first connects once the
// first is stopped: the second answers, from the registry it shares.
func TestEnrolledAgentExternalNATSCluster(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	x := startCalloutNATS(t, dir)
	hostPort := strings.TrimPrefix(x.srv.URL, "nats://")
	dbURL := pgtest.NewDatabase(t)
	addrs := []string{testutil.FreePort(t), testutil.FreePort(t)}
	var procs []*testutil.Process
	for i := range 2 {
		join := fmt.Sprintf("  bootstrap_join_token: %q\n", e2eJoinToken)
		if i > 0 {
			join = fmt.Sprintf("  join: [%q]\n  join_token: %q\n", "http://"+addrs[0], e2eJoinToken)
		}
		ndir := filepath.Join(dir, fmt.Sprintf("n%d", i))
		if err := os.Mkdir(ndir, 0o700); err != nil {
			t.Fatal(err)
		}
		path := writeFile(t, filepath.Join(ndir, "unyo.yaml"), fmt.Sprintf(`node:
  name: n%[1]d
  data_dir: %[2]q
http:
  listen: %[3]q
cluster:
  bind: 127.0.0.1:0
%[4]snats:
  url: nats://unyo:%[5]s@%[6]s
  auth_callout:
    issuer_seed: file:%[7]s
    account: UNYO
ledger:
  driver: postgres
  postgres:
    url: %[8]q
agents:
  enabled: true
  heartbeat: 1s
  down_after: 2
`, i, ndir, addrs[i], join, x.nodePass, hostPort, x.seedFile, dbURL), 0o600)
		procs = append(procs, testutil.Start(t, path, addrs[i]))
		procs[i].WaitReady(90 * time.Second)
	}
	granted := func(i int) float64 {
		return metricValue(t, procs[i].URL, `unyo_bus_auth_callout_requests_total{result="granted"}`)
	}

	tok := strings.TrimSpace(unyo(t, 0, "agents", "token", "create", "--group", "web", "--server="+procs[0].URL))
	state := filepath.Join(dir, "agent-state")
	tokFile := writeFile(t, filepath.Join(dir, "tok"), tok+"\n", 0o600)
	if out, errOut, code := testutil.Run(t, "agent", "enroll", "--server", procs[0].URL, "--token-file", tokFile, "--name", "web01",
		"--group", "web", "--state-dir", state, "--host-id", "host-web01"); code != 0 {
		t.Fatalf("enrol: exit %d\n%s%s", code, out, errOut)
	}
	procs[0].Stop()
	if g := granted(1); g != 0 {
		t.Fatalf("the second node granted %v connections before the agent started", g)
	}
	// The agent exits when its first connection is refused (systemd
	// restarts it): started again until the second node, whose registry
	// learns the enrolment within 5 s, lets it in.
	pkgs := writeFile(t, filepath.Join(dir, "pkgs.txt"), "bash\t5.2\tamd64\n", 0o644)
	var ag *agentProc
	var started time.Time
	refusedOnce := false
	waitFor(t, "the second node to let the agent in", func() bool {
		refused := ag != nil && strings.Contains(ag.log.String(), "Authorization Violation")
		refusedOnce = refusedOnce || refused
		if ag == nil || refused && time.Since(started) > time.Second {
			ag = startAgent(t, "run", "--state-dir", state, "--packages-command", "cat "+pkgs, "--heartbeat", "500ms",
				"--host-id", "host-web01")
			started = time.Now()
		}
		return granted(1) >= 1
	})
	t.Logf("refused before the second node's registry refresh: %v", refusedOnce)
	waitFor(t, "the agent's heartbeats on the second node", func() bool {
		return metricValue(t, procs[1].URL, `unyo_agents_heartbeats_total{outcome="ok"}`) >= 1
	})
}
