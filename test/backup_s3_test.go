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
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/internal/s3test"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestBackupSelfRestoreFromS3 is TestBackupSelfRestore with the self
// backup in an S3 bucket (versitygw): the node backs itself up there
// (`unyo backup run`, its secret key from ${env:...}), its data
// directory is deleted, and `unyo restore --config --destination`
// rebuilds it straight from the bucket, nothing copied down first: the
// node starts again with its history.
func TestBackupSelfRestoreFromS3(t *testing.T) {
	t.Parallel()
	s3 := s3test.Start(t, "unyo-backups")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	addr := testutil.FreePort(t)
	cfg := oneNode("bk3", data, addr) + fmt.Sprintf(`backup:
  destinations:
    - name: offsite
      s3: {endpoint: %q, bucket: unyo-backups, prefix: unyo/site-a, access_key: %q, secret_key: "${env:UNYO_TEST_S3_SECRET}", tls: false}
  sources:
    - {name: self, kind: self, destination: offsite}
`, s3.Endpoint, s3.AccessKey)
	cfgPath := filepath.Join(dir, "unyo.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := []string{"UNYO_TEST_S3_SECRET=" + s3.SecretKey}
	serve := func() *testutil.Process {
		p := testutil.StartEnv(t, cfgPath, addr, append([]string{"UNYO_BOOTSTRAP_TOKEN=" + testutil.AdminToken}, secret...))
		p.WaitReady(60 * time.Second)
		return p
	}
	p := serve()
	srv := "--server=" + p.URL
	c := testutil.Client(t, p.URL)
	ctx := context.Background()

	unyo(t, 0, "event", "send", srv, "--target", "db03", "--check", "ping", "--severity", "critical", "--message", "before the s3 backup")
	waitFor(t, "the incident", func() bool {
		l, err := c.Incidents(ctx, client.ListOptions{Target: "db03"})
		return err == nil && len(l) == 1
	})
	if out := unyo(t, 0, "backup", "run", "self", srv); !strings.Contains(out, "self-bk3.1") {
		t.Fatalf("backup run self: %s", out)
	}
	if _, err := os.Stat(filepath.Join(s3.Dir, "unyo-backups", "unyo", "site-a", "self-bk3", "self-bk3.1", "manifest.json")); err != nil {
		t.Fatalf("the generation is not in the bucket: %v", err)
	}

	// The node is lost: its data directory goes.
	p.Stop()
	if err := os.RemoveAll(data); err != nil {
		t.Fatal(err)
	}
	// The secret key resolves as on the node: without its variable the
	// configuration does not load.
	_, errOut, code := testutil.RunEnv(t, nil, "restore", "--config", cfgPath, "--destination", "offsite", "self-bk3.1", "--data-dir", data)
	if code == 0 || !strings.Contains(errOut, "UNYO_TEST_S3_SECRET") {
		t.Fatalf("restore without the secret key's variable: exit %d, stderr %s", code, errOut)
	}
	out, errOut, code := testutil.RunEnv(t, secret, "restore", "--config", cfgPath, "--destination", "offsite", "self-bk3.1", "--data-dir", data)
	if code != 0 || !strings.Contains(out, "restored node bk3 from self-bk3.1") || !strings.Contains(errOut, "s3://unyo-backups/unyo/site-a/self-bk3/self-bk3.1") {
		t.Fatalf("unyo restore from s3: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	p = serve()
	c = testutil.Client(t, p.URL)
	l, err := c.Incidents(ctx, client.ListOptions{Target: "db03"})
	if err != nil || len(l) != 1 || l[0].Message != "before the s3 backup" {
		t.Fatalf("incidents after the restore: %+v %v", l, err)
	}
	var list console.BackupList
	if err := json.Unmarshal([]byte(unyo(t, 0, "backup", "list", srv, "-o", "json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Backups) != 1 || list.Backups[0].ID != "self-bk3.1" || list.Backups[0].Result != "ok" || list.Backups[0].Destination != "offsite" {
		t.Fatalf("catalog after the restore: %+v", list.Backups)
	}
	// It backs up again, as the next generation, and that one verifies.
	if out := unyo(t, 0, "backup", "run", "self", srv); !strings.Contains(out, "self-bk3.2") {
		t.Fatalf("backup after the restore: %s", out)
	}
	unyo(t, 0, "backup", "verify", "self-bk3.2", srv)
}
