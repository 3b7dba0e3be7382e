package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger/postgres/pgtest"
	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/jobnet"
	"github.com/unyo-ops/unyo/rollout"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestRolloutLeaderKill: a rollout to 40 agents at 15 at once on a
// 3-node cluster (Raft, routed embedded NATS with streams and the release
// store replicated to 3, one PostgreSQL ledger) goes on when the leader is
// killed in the middle: never more than 15 update at once, before or
// after, and every agent ends done. Slow (three nodes, forty agents):
// run with UNYO_TEST_ROLLOUT_CLUSTER=1.
func TestRolloutLeaderKill(t *testing.T) {
	if os.Getenv("UNYO_TEST_ROLLOUT_CLUSTER") == "" {
		t.Skip("set UNYO_TEST_ROLLOUT_CLUSTER=1 to run the 3-node rollout with a leader kill")
	}
	rel := releaseBinary(t)
	root := t.TempDir()
	priv, pub := releaseKeys(t, root)
	relFile := filepath.Join(root, "unyo-new")
	if err := os.Link(rel, relFile); err != nil {
		t.Fatal(err)
	}
	sig := signFile(t, priv, relFile)
	const n = 40
	var agentsYAML strings.Builder
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("c%02d", i)
		fmt.Fprintf(&agentsYAML, "      - {name: %s, password: pw-%s-0123456789}\n", names[i], names[i])
	}
	dbURL := pgtest.NewDatabase(t)
	var addrs, raft, routes, natsAddrs, cfgs []string
	for range 3 {
		addrs = append(addrs, testutil.FreePort(t))
		raft = append(raft, testutil.FreePort(t))
		routes = append(routes, testutil.FreePort(t))
		natsAddrs = append(natsAddrs, testutil.FreePort(t))
	}
	var trust string
	for i := range 3 {
		dir := filepath.Join(root, fmt.Sprintf("n%d", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		var others []string
		for j := range 3 {
			if j != i {
				others = append(others, fmt.Sprintf("%q", "nats-route://"+routes[j]))
			}
		}
		join := fmt.Sprintf("  bootstrap_join_token: %q\n", e2eJoinToken)
		if i > 0 {
			join = fmt.Sprintf("  join: [%q]\n  join_token: %q\n", "http://"+addrs[0], e2eJoinToken)
		}
		cfg := fmt.Sprintf(`node:
  name: n%d
  data_dir: %q
http:
  listen: %q
cluster:
  bind: %q
%snats:
  task_signing:
    key_file: %q
  embedded:
    listen: %q
    agents:
%s    cluster:
      name: unyo-rollout
      listen: %q
      routes: [%s]
  stream:
    replicas: 3
ledger:
  driver: postgres
  postgres:
    url: %q
releases:
  public_key_file: %q
  watch_period: 3m
  lease: 3m
`, i, dir, addrs[i], raft[i], join, filepath.Join(root, "task-signing.key"), natsAddrs[i], agentsYAML.String(), routes[i], strings.Join(others, ", "), dbURL, pub)
		// Watch period and lease of 3m: on a loaded machine the election
		// after the kill can flap for a minute, and a 1m watch period
		// rolled back an agent whose trial could not be confirmed then.
		path := filepath.Join(dir, "unyo.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, path)
	}
	// The shared task-signing key is made before the nodes start (three
	// nodes making it at once would race on the file).
	if _, _, err := jobnet.LoadOrCreateSigningKey(filepath.Join(root, "task-signing.key"), "test"); err != nil {
		t.Fatal(err)
	}
	// All three start before any is waited for: streams replicated to 3
	// need the others' JetStream before the first node is ready.
	var procs []*testutil.Process
	for i := range 3 {
		procs = append(procs, testutil.Start(t, cfgs[i], addrs[i]))
	}
	for _, p := range procs {
		p.WaitReady(3 * time.Minute)
	}
	// All nodes share one task-signing key (the file), so agents trust it
	// wherever they land.
	trust = filepath.Join(root, "task-signing.pub")
	natsURL := "nats://" + strings.Join(natsAddrs, ",nats://")
	for _, name := range names {
		newFleetAgent(t, root, name, natsURL, trust, pub).start(t)
	}
	clients := make([]*client.Client, 3)
	for i := range 3 {
		clients[i], _ = client.New("http://"+addrs[i], client.WithToken(testutil.AdminToken))
	}
	srv := "--server=http://" + addrs[0]
	unyo(t, 0, "release", "add", "--version", testRelease, "--file", relFile, "--sig", sig, srv)
	id := strings.TrimSpace(unyo(t, 0, "rollout", "start", "--release", testRelease, "--max-concurrent", "15", srv))

	leader := func() int {
		for i := range clients {
			if procs[i].Exited() {
				continue
			}
			out, _, code := testutil.Run(t, "cluster", "status", "-o", "json", "--server=http://"+addrs[i])
			var st cluster.Status
			if code == 0 && json.Unmarshal([]byte(out), &st) == nil && st.State == "Leader" {
				return i
			}
		}
		return -1
	}
	maxSeen := 0
	sample := func(c *client.Client) console.RolloutStatus {
		st, err := c.Rollout(t.Context(), id)
		if err != nil {
			return st
		}
		active := 0
		for _, a := range st.Agents {
			if rollout.Active(a.State) {
				active++
			}
		}
		maxSeen = max(maxSeen, active)
		if active > 15 {
			t.Fatalf("%d agents updating at once, limit 15", active)
		}
		return st
	}
	waitLong(t, 5*time.Minute, "some agents done", func() bool { return sample(clients[0]).Counts[rollout.StateDone] >= 10 })
	old := leader()
	if old < 0 {
		t.Fatal("no leader")
	}
	procs[old].Kill()
	t.Logf("killed the leader n%d", old)
	survivor := clients[(old+1)%3]
	waitLong(t, 10*time.Minute, "the rollout to end after the leader kill", func() bool {
		return sample(survivor).Status == rollout.StatusDone
	})
	st := sample(survivor)
	if st.Counts[rollout.StateDone] != n {
		for _, a := range st.Agents {
			if a.State != rollout.StateDone {
				t.Logf("agent %s: %s %s", a.Agent, a.State, a.Err)
			}
		}
		t.Fatalf("after the leader kill the rollout ended with %v, want %d done", st.Counts, n)
	}
	t.Logf("rollout across a leader kill: %d agents done, at most %d updating at once", n, maxSeen)
}
