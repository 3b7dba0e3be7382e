package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/backup"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/internal/s3test"
)

// TestRestoreFromDestination: `unyo restore --config FILE --destination
// NAME GENERATION` rebuilds a data directory from a self generation in
// an S3 bucket (versitygw), the destination built from the node's
// configuration file (its secret key a file: reference); the directory
// form still works beside it; a wrong destination, a missing generation
// and mixed forms are refused clearly.
func TestRestoreFromDestination(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t, "unyo-backups")
	dir := t.TempDir()
	data, local, etc := filepath.Join(dir, "data"), filepath.Join(dir, "local"), filepath.Join(dir, "etc")
	for _, d := range []string{data, etc} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{"admin.token": "secret-token\n", "spool/0001.log": "event 1\n", "raftless/state": "x"}
	for name, body := range files {
		p := filepath.Join(data, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o750)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(etc, "app.conf"), []byte("answer = 42\n"), 0o644)
	secretFile := filepath.Join(dir, "s3.secret")
	if err := os.WriteFile(secretFile, []byte(srv.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "unyo.yaml")
	cfgText := fmt.Sprintf(`node:
  name: n1
  data_dir: %q
backup:
  destinations:
    - {name: local, dir: %q}
    - name: offsite
      s3: {endpoint: %q, bucket: unyo-backups, prefix: site-a, access_key: %q, secret_key: "file:%s", tls: false}
  sources:
    - {name: self, kind: self, destination: offsite}
    - {name: etc, kind: dir, paths: [%q], destination: local}
`, data, local, srv.Endpoint, srv.AccessKey, secretFile, etc)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	// The generations, written as the node writes them (its Specs).
	cfg, err := configs.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := backup.Specs(cfg.Backup, backup.Env{Node: "n1", DataDir: data, ConfigFile: cfgPath})
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(t.Context(), filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	m := &backup.Manager{Store: store, Specs: specs, Node: "n1"}
	for _, s := range []string{"self", "etc"} {
		if _, err := m.Run(t.Context(), s, "test", nil); err != nil {
			t.Fatal(err)
		}
	}

	to := filepath.Join(t.TempDir(), "restored")
	out, errOut, code := runEnv(t, nil, "restore", "--config", cfgPath, "--destination", "offsite", "self-n1.1", "--data-dir", to)
	if code != 0 || !strings.Contains(out, "restored node n1 from self-n1.1 into "+to) {
		t.Fatalf("restore from s3: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	for name, body := range files {
		if b, err := os.ReadFile(filepath.Join(to, filepath.FromSlash(name))); err != nil || string(b) != body {
			t.Errorf("restored %s: %q %v, want %q", name, b, err, body)
		}
	}
	if b, err := os.ReadFile(to + ".config.yaml"); err != nil || !bytes.Equal(b, []byte(cfgText)) {
		t.Errorf("restored configuration: %v\n%s", err, b)
	}

	// The directory form, unchanged.
	to2 := filepath.Join(t.TempDir(), "restored")
	out, errOut, code = runEnv(t, nil, "restore", filepath.Join(local, "etc", "etc.1"), "--data-dir", to2)
	if code != 0 || !strings.Contains(out, "restored etc.1 (dir)") {
		t.Fatalf("restore of a generation directory: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(to2, strings.TrimPrefix(etc, "/"), "app.conf")); err != nil || string(b) != "answer = 42\n" {
		t.Errorf("restored app.conf: %q %v", b, err)
	}
	// And a dir destination by name.
	to3 := filepath.Join(t.TempDir(), "restored")
	if out, errOut, code = runEnv(t, nil, "restore", "--config", cfgPath, "--destination", "local", "etc.1", "--data-dir", to3); code != 0 {
		t.Fatalf("restore from a dir destination: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	fresh := func() string { return filepath.Join(t.TempDir(), "d") }
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--config", cfgPath, "--destination", "nope", "self-n1.1"}, 2, `no backup destination "nope": configured are [local offsite]`},
		{[]string{"--config", cfgPath, "--destination", "offsite", "self-n1.7"}, 1, "s3://unyo-backups/site-a/self-n1/self-n1.7"},
		{[]string{"--config", cfgPath, "--destination", "local", "self-n1.1"}, 1, filepath.Join(local, "self-n1", "self-n1.1")},
		{[]string{"--destination", "offsite", "self-n1.1"}, 2, "--config and --destination go together"},
		{[]string{"--config", cfgPath, filepath.Join(local, "etc", "etc.1")}, 2, "--config and --destination go together"},
		{[]string{"--config", cfgPath, "--destination", "local", filepath.Join(local, "etc", "etc.1")}, 2, "not a directory"},
		{[]string{"--config", cfgPath, "--destination", "offsite", "self"}, 2, "want SOURCE.N"},
		{[]string{"--config", cfgPath, "--destination", "offsite"}, 2, "usage: unyo restore"},
	} {
		d := fresh()
		out, errOut, code := runEnv(t, nil, append(append([]string{"restore"}, c.args...), "--data-dir", d)...)
		if code != c.code || out != "" || !strings.Contains(errOut, c.want) {
			t.Errorf("unyo restore %v: exit %d, stdout %q, stderr %q; want exit %d and %q", c.args, code, out, errOut, c.code, c.want)
		}
		if _, err := os.Stat(d); code == 2 && !os.IsNotExist(err) {
			t.Errorf("unyo restore %v: a usage error made the data directory (%v)", c.args, err)
		}
	}
}
