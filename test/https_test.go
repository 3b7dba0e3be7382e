package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/internal/tlsfiles/tlstest"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestHTTPSWithTheBinary: `unyo serve` with http.tls serves HTTPS; the CLI
// with --ca-file talks to it, without it fails saying
// what to do. A config listening on every interface without TLS is refused
// by `config check` and by `serve`, and accepted with http.insecure: true.
func TestHTTPSWithTheBinary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "unyo")
	cert, key := ca.Issue(t, "https1")
	addr := testutil.FreePort(t)
	cfg := fmt.Sprintf("node:\n  name: https1\n  data_dir: %q\nhttp:\n  listen: %s\n  tls:\n    cert_file: %q\n    key_file: %q\ncluster:\n  bind: %s\n",
		filepath.Join(dir, "data"), addr, cert, key, testutil.FreePort(t))
	path := filepath.Join(dir, "unyo.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testutil.ServeTLS(t, path, addr, ca.File)
	if !strings.HasPrefix(p.URL, "https://") {
		t.Fatal(p.URL)
	}

	out := unyo(t, 0, "incident", "list", "--server", p.URL, "--ca-file", ca.File)
	if !strings.Contains(out, "no incidents") && !strings.Contains(out, "ID") {
		t.Errorf("incident list over HTTPS printed %q", out)
	}
	unyo(t, 0, "cluster", "status", "--server", p.URL, "--ca-file", ca.File)

	_, errOut, code := testutil.Run(t, "incident", "list", "--server", p.URL)
	if code != 1 || !strings.Contains(errOut, "certificate signed by unknown authority") || !strings.Contains(errOut, "--ca-file or UNYO_CA_FILE") {
		t.Errorf("without --ca-file: exit %d, stderr %q; want 1 and a hint at --ca-file", code, errOut)
	}
	_, errOut, code = testutil.Run(t, "cluster", "status", "--server", p.URL)
	if code != 1 || !strings.Contains(errOut, "--ca-file") {
		t.Errorf("cluster status without --ca-file: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = testutil.Run(t, "incident", "list", "--server", p.URL, "--ca-file", filepath.Join(dir, "missing.pem"))
	if code != 1 || !strings.Contains(errOut, "--ca-file") || !strings.Contains(errOut, "missing.pem") {
		t.Errorf("a missing --ca-file: exit %d, stderr %q", code, errOut)
	}

	open := filepath.Join(dir, "open.yaml")
	openCfg := fmt.Sprintf("node:\n  name: open1\n  data_dir: %q\nhttp:\n  listen: 0.0.0.0:0\n", filepath.Join(dir, "open"))
	if err := os.WriteFile(open, []byte(openCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"config", "check", open}, {"serve", "--config", open}} {
		_, errOut, code := testutil.Run(t, args...)
		if code == 0 || !strings.Contains(errOut, open+":5: http.listen") || !strings.Contains(errOut, "http.tls") || !strings.Contains(errOut, "http.insecure: true") {
			t.Errorf("unyo %s: exit %d, stderr %q; want a refusal naming http.listen, http.tls and http.insecure", strings.Join(args, " "), code, errOut)
		}
	}
	if err := os.WriteFile(open, []byte(openCfg+"  insecure: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	unyo(t, 0, "config", "check", open)
}
