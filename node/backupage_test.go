package node_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/node"
)

// The leader checks max_age every backup.age_check_interval without any
// backup-verify job: a source never backed up raises backup-too-old.
func TestBackupAgeCheckPeriodic(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.db")
	n, err := node.New(ctx, node.Options{HTTPListen: "127.0.0.1:0", Name: "age1", Bus: bus.Options{StoreDir: t.TempDir()},
		Auth:      node.AuthOptions{BootstrapToken: adminToken},
		OpenStore: func(ctx context.Context) (ledger.Store, error) { return sqlite.Open(ctx, path) },
		Backup: node.BackupOptions{Config: configs.BackupConfig{
			AgeCheckInterval: 100 * time.Millisecond,
			Destinations:     []configs.BackupDestination{{Name: "local", Dir: filepath.Join(dir, "dest")}},
			Sources: []configs.BackupSource{
				{Name: "etc", Kind: configs.BackupKindDir, Paths: []string{dir}, Destination: "local", MaxAge: time.Hour},
				{Name: "unwatched", Kind: configs.BackupKindDir, Paths: []string{dir}, Destination: "local"},
			},
		}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Stop(ctx) })
	if err := n.WaitStore(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := n.Store().Incidents(ctx, ledger.Filter{})
		if err == nil && len(l) > 0 {
			if len(l) != 1 || l[0].Runbook != "backup-too-old" || l[0].DedupKey != "backup/etc/age" {
				t.Fatalf("incidents: %+v", l)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no backup-too-old incident from the periodic check: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
