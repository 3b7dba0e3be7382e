package cluster_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/cluster/clustertest"
)

// backupRaft copies node id's Raft data directory as a self backup
// does: a snapshot taken now, the log left out.
func backupRaft(t *testing.T, c *clustertest.Cluster, id string) string {
	t.Helper()
	snap, err := c.Node(id).BackupSnapshot(ctxT(t, 30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	src, dst := c.Dir(id), t.TempDir()
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		if cluster.BackupSkip(filepath.ToSlash(rel), snap) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o750)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(filepath.Join(dst, rel))
		if err != nil {
			return err
		}
		defer out.Close()
		_, err = io.Copy(out, in)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst, "wal")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the backup copied the raft log: %v", err)
	}
	return dst
}

// restoreRaft puts a backup copy into a killed node's directory with a
// restore marker of mode.
func restoreRaft(t *testing.T, backup, dir, mode string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(dir, os.DirFS(backup)); err != nil {
		t.Fatal(err)
	}
	if mode != "" {
		if err := cluster.WriteRestoreMarker(dir, cluster.RestoreMarker{Mode: mode, Backup: "self.1"}); err != nil {
			t.Fatal(err)
		}
	}
}

func joining(_ string, o *cluster.Options) { o.Joining = true }

// Every member is lost: one node restored with mode new-cluster becomes
// a cluster of its own with the backup's state; a node with an empty
// data directory then joins it and receives that state.
func TestRestoreNewCluster(t *testing.T) {
	c := clustertest.Start(t, 3, clustertest.WithOptions(joining))
	ctx := ctxT(t, 60*time.Second)
	for v := int64(1); v <= 5; v++ {
		if _, err := c.Leader().SetConfig(ctx, v, configData(v)); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitConverged()
	backup := backupRaft(t, c, "n2")
	if _, err := c.Leader().SetConfig(ctx, 6, configData(6)); err != nil { // lost with the cluster
		t.Fatal(err)
	}
	for _, id := range c.Running() {
		c.Kill(id)
	}
	for _, id := range c.IDs() {
		os.RemoveAll(c.Dir(id))
	}
	// Without the marker's new-cluster mode a restored member of a
	// three-member cluster may not start on its own.
	restoreRaft(t, backup, c.Dir("n2"), cluster.RestoreRejoin)
	_, err := cluster.New(cluster.Options{NodeID: "n2", DataDir: c.Dir("n2"), BindAddr: "127.0.0.1:0"})
	if !errors.Is(err, cluster.ErrRestoredNeedsJoin) {
		t.Fatalf("restored member of a lost cluster without a join: %v, want ErrRestoredNeedsJoin", err)
	}

	restoreRaft(t, backup, c.Dir("n2"), cluster.RestoreNewCluster)
	n2 := c.Restart("n2")
	if got := c.WaitLeader(); got != "n2" {
		t.Fatalf("leader %s, want the restored n2", got)
	}
	if got := n2.Config(); got.Version != 5 {
		t.Fatalf("restored config version %d, want 5 (the backup's)", got.Version)
	}
	if _, ok, err := cluster.ReadRestoreMarker(c.Dir("n2")); ok || err != nil {
		t.Fatalf("restore marker left after the recovery: %v %v", ok, err)
	}
	if _, err := n2.SetConfig(ctx, 6, configData(6)); err != nil {
		t.Fatalf("the new cluster does not commit: %v", err)
	}
	// n1 comes back with an empty data directory and joins.
	n1 := c.Restart("n1")
	if err := n2.Join(ctx, "n1", n1.Addr(), "", c.APIAddr("n1")); err != nil {
		t.Fatal(err)
	}
	c.WaitFor("n1 to receive the restored state", func() bool { return n1.Config().Version == 6 })
	if st := n2.Raft().Stats(); st["num_peers"] != "1" {
		t.Fatalf("new cluster peers: %s, want 1", st["num_peers"])
	}
}

// A member of a live cluster restored from an old backup discards its
// stale Raft state: it cannot campaign (no configuration, no log) and
// catches up from the cluster once a leader reaches it.
func TestRestoreRejoin(t *testing.T) {
	c := clustertest.Start(t, 3, clustertest.WithOptions(joining))
	ctx := ctxT(t, 60*time.Second)
	for v := int64(1); v <= 3; v++ {
		if _, err := c.Leader().SetConfig(ctx, v, configData(v)); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitConverged()
	backup := backupRaft(t, c, "n2")
	for v := int64(4); v <= 10; v++ {
		if _, err := c.Leader().SetConfig(ctx, v, configData(v)); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitConverged()
	for _, id := range c.Running() {
		c.Kill(id)
	}
	restoreRaft(t, backup, c.Dir("n2"), cluster.RestoreRejoin)
	n2 := c.Restart("n2")
	if li := n2.Raft().LastIndex(); li != 0 {
		t.Fatalf("rejoining node kept raft state up to index %d", li)
	}
	if cf := n2.Raft().GetConfiguration(); cf.Error() != nil || len(cf.Configuration().Servers) != 0 {
		t.Fatalf("rejoining node has a configuration to campaign with: %+v %v", cf.Configuration(), cf.Error())
	}
	if m, ok, err := cluster.ReadRestoreMarker(c.Dir("n2")); !ok || !m.Wiped || err != nil {
		t.Fatalf("restore marker after the wipe: %+v %v %v", m, ok, err)
	}
	c.Restart("n1")
	c.Restart("n3")
	c.WaitConverged()
	if got := n2.Config(); got.Version != 10 {
		t.Fatalf("rejoined config version %d, want 10", got.Version)
	}
	// The next start finds the state sent by the cluster and drops the marker.
	c.Kill("n2")
	c.Restart("n2")
	if _, ok, err := cluster.ReadRestoreMarker(c.Dir("n2")); ok || err != nil {
		t.Fatalf("restore marker after rejoining: %v %v", ok, err)
	}
	c.WaitConverged()
}

// A one-member cluster's node restored without new-cluster carries on
// with the backup's state (nobody else holds a vote).
func TestRestoreSingleMember(t *testing.T) {
	c := clustertest.Start(t, 1)
	ctx := ctxT(t, 30*time.Second)
	for v := int64(1); v <= 4; v++ {
		if _, err := c.Leader().SetConfig(ctx, v, configData(v)); err != nil {
			t.Fatal(err)
		}
	}
	backup := backupRaft(t, c, "n1")
	c.Kill("n1")
	restoreRaft(t, backup, c.Dir("n1"), cluster.RestoreRejoin)
	n1 := c.Restart("n1")
	c.WaitLeader()
	if got := n1.Config(); got.Version != 4 {
		t.Fatalf("restored config version %d, want 4", got.Version)
	}
	if _, err := n1.SetConfig(ctx, 5, configData(5)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := cluster.ReadRestoreMarker(c.Dir("n1")); ok {
		t.Fatal("restore marker left")
	}
	if st := n1.Raft().Stats(); st["term"] == "1" {
		t.Fatalf("term after restore %s: not raised above the backup's", st["term"])
	}
}

// CheckState reads a backup copy's snapshot; a corrupted one fails.
func TestCheckState(t *testing.T) {
	c := clustertest.Start(t, 1)
	if _, err := c.Leader().SetConfig(ctxT(t, 30*time.Second), 1, configData(1)); err != nil {
		t.Fatal(err)
	}
	backup := backupRaft(t, c, "n1")
	info, err := cluster.CheckState(ctxT(t, 30*time.Second), backup)
	if err != nil || info.Index == 0 || len(info.Servers) != 1 || info.Servers[0] != "n1" {
		t.Fatalf("CheckState: %+v %v", info, err)
	}
	snaps, _ := filepath.Glob(filepath.Join(backup, "snapshots", "*", "state.bin"))
	if len(snaps) != 1 {
		t.Fatalf("snapshots in the copy: %v", snaps)
	}
	b, _ := os.ReadFile(snaps[0])
	b[len(b)/2] ^= 0xff
	os.WriteFile(snaps[0], b, 0o600)
	if _, err := cluster.CheckState(ctxT(t, 30*time.Second), backup); err == nil {
		t.Fatal("CheckState passed a corrupted snapshot")
	}
	if _, err := cluster.CheckState(ctxT(t, 30*time.Second), t.TempDir()); err == nil {
		t.Fatal("CheckState passed an empty directory")
	}
}
