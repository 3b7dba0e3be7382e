package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestBackupSelfRestore drives backups through the real binary: `unyo
// backup run` of the node itself and of a directory, a backup-verify job
// that finds a corrupted archive (a job fault and an incident with
// runbook backup-failed), then the node's data directory deleted and
// rebuilt with `unyo restore` from the self backup: the node starts
// again with its history (the incident from before the backup, its
// users and tokens, the catalog).
func TestBackupSelfRestore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, dest, etc := filepath.Join(dir, "data"), filepath.Join(dir, "dest"), filepath.Join(dir, "etc")
	os.MkdirAll(etc, 0o755)
	os.WriteFile(filepath.Join(etc, "app.conf"), []byte("answer = 42\n"), 0o644)
	addr := testutil.FreePort(t)
	cfg := fmt.Sprintf(`node:
  name: bk1
  data_dir: %[1]q
http:
  listen: %[2]q
cluster:
  bind: 127.0.0.1:0
backup:
  destinations:
    - {name: local, dir: %[3]q}
  sources:
    - {name: self, kind: self, destination: local, max_age: 1h}
    - {name: etc, kind: dir, paths: [%[4]q], destination: local}
jobnets:
  - name: verify
    jobs:
      - {name: verify, kind: backup-verify, backup: {source: etc}}
`, data, addr, dest, etc)
	cfgPath := filepath.Join(dir, "unyo.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testutil.Serve(t, cfgPath, addr)
	srv := "--server=" + p.URL
	c := testutil.Client(t, p.URL)
	ctx := context.Background()

	unyo(t, 0, "event", "send", srv, "--target", "db01", "--check", "ping", "--severity", "critical", "--message", "before the backup")
	waitFor(t, "the incident", func() bool {
		l, err := c.Incidents(ctx, client.ListOptions{Target: "db01"})
		return err == nil && len(l) == 1
	})
	out := unyo(t, 0, "backup", "run", "self", srv)
	if !strings.Contains(out, "self-bk1.1") {
		t.Fatalf("backup run self: %s", out)
	}
	unyo(t, 0, "backup", "verify", "self-bk1.1", srv)
	unyo(t, 0, "backup", "run", "etc", srv)
	if a := unyo(t, 0, "audit", "list", srv, "-o", "json"); !strings.Contains(a, `"backup.run"`) || !strings.Contains(a, `"backup.verify"`) {
		t.Errorf("audit log lacks backup.run and backup.verify:\n%s", a)
	}

	// A corrupted archive: the verify job fails, a fault with its runbook.
	arch := filepath.Join(dest, "etc", "etc.1", "data.tar.zst")
	b, err := os.ReadFile(arch)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x55
	os.WriteFile(arch, b, 0o600)
	unyo(t, 0, "jobnet", "run", "verify", srv)
	waitFor(t, "the backup-failed incidents", func() bool {
		l, err := c.Incidents(ctx, client.ListOptions{States: []incident.State{incident.Open}})
		n := 0
		for _, i := range l {
			if i.Runbook == "backup-failed" {
				n++
			}
		}
		return err == nil && n == 2 // the job's fault and the verification's
	})

	// The node is lost: its data directory goes.
	p.Stop()
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	out = unyo(t, 0, "restore", filepath.Join(dest, "self-bk1", "self-bk1.1"), "--data-dir", data)
	if !strings.Contains(out, "restored node bk1 from self-bk1.1") {
		t.Fatalf("unyo restore: %s", out)
	}
	p = testutil.Serve(t, cfgPath, addr)
	c = testutil.Client(t, p.URL)
	l, err := c.Incidents(ctx, client.ListOptions{Target: "db01"})
	if err != nil || len(l) != 1 || l[0].Message != "before the backup" {
		t.Fatalf("incidents after the restore: %+v %v", l, err)
	}
	var list console.BackupList
	if err := json.Unmarshal([]byte(unyo(t, 0, "backup", "list", srv, "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Backups) != 1 || list.Backups[0].ID != "self-bk1.1" || list.Backups[0].Result != "ok" {
		t.Fatalf("catalog after the restore: %+v", list.Backups)
	}
	// And it backs up again, as the next generation.
	if out := unyo(t, 0, "backup", "run", "self", srv); !strings.Contains(out, "self-bk1.2") {
		t.Fatalf("backup after the restore: %s", out)
	}
}
