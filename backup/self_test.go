package backup_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/backup"
	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/cluster/clustertest"
)

// A self backup of a node running Raft holds a snapshot taken for it and
// neither the Raft log nor the JetStream store; verify reads the snapshot
// back in full, so a snapshot damaged before the copy (its SHA-256 in
// the manifest is of the damaged bytes) still fails verification.
func TestSelfBackupRaftSnapshot(t *testing.T) {
	c := clustertest.Start(t, 1)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := c.Leader().SetConfig(ctx, 1, []byte("v: 1")); err != nil {
		t.Fatal(err)
	}
	raftDir := c.Dir("n1")
	data := filepath.Dir(raftDir)
	js := filepath.Join(data, "jetstream")
	os.MkdirAll(js, 0o750)
	os.WriteFile(filepath.Join(js, "stream.blk"), []byte("live"), 0o600)

	corrupt := false
	self := &backup.SelfSource{Node: "n1", DataDir: data, RaftDir: raftDir, Exclude: []string{js},
		RaftSnapshot: func(ctx context.Context) (string, error) {
			id, err := c.Node("n1").BackupSnapshot(ctx)
			if err == nil && corrupt {
				p := filepath.Join(raftDir, "snapshots", id, "state.bin")
				b, _ := os.ReadFile(p)
				b[len(b)/2] ^= 0xff
				err = os.WriteFile(p, b, 0o600)
			}
			return id, err
		}}
	f := newFixture(t, backup.Spec{Name: "self", Source: self})
	b, err := f.m.Run(ctx, "self", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := backup.ReadManifest(filepath.Join(f.dest.Root, b.Source, b.ID))
	if err != nil {
		t.Fatal(err)
	}
	if m.RaftSnapshot == "" || m.RaftDir != "n1" {
		t.Fatalf("manifest raft snapshot %q dir %q", m.RaftSnapshot, m.RaftDir)
	}
	snaps := 0
	for _, file := range m.Files {
		switch {
		case strings.Contains(file.Path, "/wal/"), strings.Contains(file.Path, "jetstream"):
			t.Errorf("archived %s", file.Path)
		case strings.HasSuffix(file.Path, "/state.bin"):
			snaps++
		}
	}
	if snaps != 1 {
		t.Errorf("archived %d snapshots, want the one taken for the backup", snaps)
	}
	if _, err := f.m.Verify(ctx, b.ID, nil); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// Restored: the data directory holds the snapshot a node starts from.
	to := filepath.Join(t.TempDir(), "restored")
	if err := f.m.Restore(ctx, b.ID, backup.Target{Path: to}, nil); err != nil {
		t.Fatal(err)
	}
	if info, err := cluster.CheckState(ctx, filepath.Join(to, "n1")); err != nil || info.Snapshot != m.RaftSnapshot {
		t.Fatalf("restored raft state: %+v %v", info, err)
	}

	// A new config entry so that the next backup takes a new snapshot.
	if _, err := c.Leader().SetConfig(ctx, 2, []byte("v: 2")); err != nil {
		t.Fatal(err)
	}
	corrupt = true
	b2, err := f.m.Run(ctx, "self", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Verify(ctx, b2.ID, nil); !errors.Is(err, backup.ErrMismatch) || !strings.Contains(err.Error(), "CRC") {
		t.Fatalf("verify of a damaged raft snapshot: %v", err)
	}
}

// Two nodes back up their self source (same name) to one shared
// directory, each with its own catalog: their generations never share a
// name or a directory, and each verifies and prunes its own.
func TestSelfGenerationsUniqueAcrossNodes(t *testing.T) {
	t.Parallel()
	shared := &backup.Dir{DestName: "shared", Root: t.TempDir()}
	var ids []string
	for _, node := range []string{"n1", "db.example"} {
		data := t.TempDir()
		os.WriteFile(filepath.Join(data, "node.txt"), []byte(node), 0o600)
		f := newFixture(t, backup.Spec{Name: "self", Source: &backup.SelfSource{Node: node, DataDir: data},
			Destination: shared, Policy: backup.Policy{Last: 1}})
		f.m.Node = node
		for range 2 {
			b, err := f.m.Run(t.Context(), "self", "test", nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.m.Verify(t.Context(), b.ID, nil); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, b.ID)
		}
		if _, err := f.m.Prune(t.Context(), "self", false); err != nil {
			t.Fatal(err)
		}
		l, err := f.m.List(t.Context(), ledger.BackupFilter{Source: "self"})
		if err != nil || len(l) != 1 {
			t.Fatalf("%s: catalog after prune: %+v %v", node, l, err)
		}
	}
	want := []string{"self-n1.1", "self-n1.2", "self-db_example.1", "self-db_example.2"}
	if strings.Join(ids, " ") != strings.Join(want, " ") {
		t.Fatalf("generations %v, want %v", ids, want)
	}
	for _, g := range []string{"self-n1/self-n1.2", "self-db_example/self-db_example.2"} {
		m, err := backup.ReadManifest(filepath.Join(shared.Root, g))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(m.Source, "self-") || m.Node == "" {
			t.Errorf("%s: manifest source %q node %q", g, m.Source, m.Node)
		}
	}
	for _, g := range []string{"self-n1/self-n1.1", "self-db_example/self-db_example.1"} {
		if _, err := os.Stat(filepath.Join(shared.Root, g)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s not pruned: %v", g, err)
		}
	}
}
