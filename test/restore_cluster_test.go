package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestRestoreLostCluster first loses n1 alone and restores it from its
// own self backup (it discards its stale Raft state and rejoins through
// cluster.join, catching up with what was replicated after the backup),
// then loses the whole cluster and rebuilds it from one self backup:
// three real nodes (embedded ledgers, Raft), n0 backed up
// with an incident in its ledger, every node killed and its data
// directory deleted, `unyo restore --new-cluster` of n0's generation,
// and n0 starts as a one-member cluster with its history (the incident;
// the bootstrap join token in its replicated state); n1 then joins it
// with an empty data directory and that token. About 30 s on a quiet
// machine, so opt-in: UNYO_TEST_RESTORE_CLUSTER=1 (the marker logic is
// covered cheaply by cluster/restore_test.go).
func TestRestoreLostCluster(t *testing.T) {
	if os.Getenv("UNYO_TEST_RESTORE_CLUSTER") != "1" {
		t.Skip("UNYO_TEST_RESTORE_CLUSTER=1 runs the lost-cluster rebuild (three nodes, ~30 s)")
	}
	dest := t.TempDir()
	var addrs, raftAddrs, cfgs, dirs []string
	for range 3 {
		addrs = append(addrs, testutil.FreePort(t))
		raftAddrs = append(raftAddrs, testutil.FreePort(t))
	}
	writeCfg := func(i int, data string) string {
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
%sbackup:
  destinations:
    - {name: shared, dir: %q}
  sources:
    - {name: self, kind: self, destination: shared}
`, i, data, addrs[i], raftAddrs[i], join, dest)
		p := filepath.Join(filepath.Dir(data), "unyo.yaml")
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for i := range 3 {
		dir := t.TempDir()
		dirs = append(dirs, filepath.Join(dir, "data"))
		cfgs = append(cfgs, writeCfg(i, dirs[i]))
	}
	var procs []*testutil.Process
	for i := range 3 {
		procs = append(procs, testutil.Start(t, cfgs[i], addrs[i]))
	}
	for _, p := range procs {
		p.WaitReady(90 * time.Second)
	}
	status := func(i int) (cluster.Status, error) {
		var st cluster.Status
		out, _, code := testutil.Run(t, "cluster", "status", "--server=http://"+addrs[i], "-o", "json")
		if code != 0 {
			return st, fmt.Errorf("exit %d", code)
		}
		return st, json.Unmarshal([]byte(out), &st)
	}
	voters := func(st cluster.Status) int {
		n := 0
		for _, m := range st.Members {
			if m.Voter {
				n++
			}
		}
		return n
	}
	waitFor(t, "three voters", func() bool { st, err := status(0); return err == nil && voters(st) == 3 })

	srv := "--server=http://" + addrs[0]
	unyo(t, 0, "event", "send", srv, "--target", "db01", "--check", "ping", "--severity", "critical", "--message", "before the loss")
	c := testutil.Client(t, "http://"+addrs[0])
	ctx := context.Background()
	waitFor(t, "the incident", func() bool {
		l, err := c.Incidents(ctx, client.ListOptions{Target: "db01"})
		return err == nil && len(l) == 1
	})
	out := unyo(t, 0, "backup", "run", "self", srv)
	// A self source's generations are the node's own: self-n0.N.
	if !strings.Contains(out, "self-n0.1") {
		t.Fatalf("backup run self: %s", out)
	}

	// n1 alone is lost and restored from its own backup: its Raft state
	// is stale, so it discards it and rejoins through cluster.join.
	srv1 := "--server=http://" + addrs[1]
	if out := unyo(t, 0, "backup", "run", "self", srv1); !strings.Contains(out, "self-n1.1") {
		t.Fatalf("backup run self on n1: %s", out)
	}
	unyo(t, 0, "cluster", "token", "create", srv) // replicated after n1's backup
	procs[1].Kill()
	if err := os.RemoveAll(dirs[1]); err != nil {
		t.Fatal(err)
	}
	if out := unyo(t, 0, "restore", filepath.Join(dest, "self-n1", "self-n1.1"), "--data-dir", dirs[1]); !strings.Contains(out, "rejoins") {
		t.Fatalf("unyo restore of n1: %s", out)
	}
	procs[1] = testutil.Serve(t, cfgs[1], addrs[1])
	waitFor(t, "n1 to rejoin with the cluster's current state", func() bool {
		st, err := status(0)
		if err != nil || voters(st) != 3 {
			return false
		}
		st1, err := status(1)
		return err == nil && st1.State == "Follower" && st1.Leader.ID == "n0" && st1.AppliedIndex >= st.CommitIndex
	})
	if m, ok, err := cluster.ReadRestoreMarker(filepath.Join(dirs[1], "raft")); !ok || !m.Wiped || err != nil {
		t.Fatalf("n1's restore marker: %+v %v %v (want the stale state wiped)", m, ok, err)
	}

	// The cluster is lost: every node killed, every data directory gone.
	for _, p := range procs {
		p.Kill()
	}
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			t.Fatal(err)
		}
	}
	out = unyo(t, 0, "restore", filepath.Join(dest, "self-n0", "self-n0.1"), "--data-dir", dirs[0], "--new-cluster")
	if !strings.Contains(out, "new cluster") {
		t.Fatalf("unyo restore --new-cluster: %s", out)
	}
	p0 := testutil.Serve(t, cfgs[0], addrs[0])
	waitFor(t, "n0 to lead alone", func() bool {
		st, err := status(0)
		return err == nil && st.State == "Leader" && voters(st) == 1
	})
	c = testutil.Client(t, p0.URL)
	l, err := c.Incidents(ctx, client.ListOptions{Target: "db01"})
	if err != nil || len(l) != 1 || l[0].Message != "before the loss" {
		t.Fatalf("incidents after the rebuild: %+v %v", l, err)
	}
	// n1 joins with an empty data directory and the backup's join token.
	testutil.Serve(t, cfgs[1], addrs[1])
	waitFor(t, "n1 to join the rebuilt cluster", func() bool {
		st, err := status(0)
		if err != nil || voters(st) != 2 {
			return false
		}
		st1, err := status(1)
		return err == nil && st1.Leader.ID == "n0" && st1.AppliedIndex >= st.CommitIndex-1
	})
}
