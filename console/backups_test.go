package console_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/backup"
	"github.com/unyo-ops/unyo/console"
)

func backupServer(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := sqlite.Open(t.Context(), filepath.Join(dir, "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.txt"), []byte("hello"), 0o644)
	m := &backup.Manager{Store: s, ScratchDir: dir, Specs: map[string]backup.Spec{
		"etc": {Name: "etc", Source: &backup.DirSource{Paths: []string{src}}, Destination: &backup.Dir{DestName: "local", Root: filepath.Join(dir, "dest")},
			Policy: backup.Policy{Last: 1}},
	}}
	srv := httptest.NewServer(console.Handler(testGuard(), console.Deps{Store: s, Backups: m}))
	t.Cleanup(srv.Close)
	return srv, dir
}

// call sends a request as who and returns the status and the body; for
// ndjson answers, the last line.
func call(t *testing.T, srv *httptest.Server, who, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if who != "" {
		req.Header.Set("Authorization", "Bearer test:"+who)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var last map[string]any
	if !strings.Contains(resp.Header.Get("Content-Type"), "ndjson") {
		json.NewDecoder(resp.Body).Decode(&last)
		return resp.StatusCode, last
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		last = nil
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("%s %s: %q: %v", method, path, sc.Text(), err)
		}
	}
	return resp.StatusCode, last
}

func TestBackupRoutesRefuseUnauthorised(t *testing.T) {
	t.Parallel()
	srv, dir := backupServer(t)
	routes := []struct {
		method, path, body string
		refused            []string // roles refused with 403
	}{
		{"GET", "/api/v1/backups", "", nil},
		{"POST", "/api/v1/backups/run", `{"source":"etc"}`, []string{"viewer"}},
		{"POST", "/api/v1/backups/etc.1/verify", ``, []string{"viewer"}},
		{"POST", "/api/v1/backups/prune", `{"source":"etc","dry_run":true}`, []string{"viewer", "operator"}},
		{"POST", "/api/v1/backups/etc.1/restore", `{"path":"` + filepath.Join(dir, "r") + `"}`, []string{"viewer", "operator", "ops-se", "site-manager"}},
	}
	for _, r := range routes {
		if code, _ := call(t, srv, "", r.method, r.path, r.body); code != http.StatusUnauthorized {
			t.Errorf("%s %s anonymous: %d, want 401", r.method, r.path, code)
		}
		for _, role := range append(r.refused, "member") {
			if code, _ := call(t, srv, role+":x", r.method, r.path, r.body); code != http.StatusForbidden {
				t.Errorf("%s %s as %s: %d, want 403", r.method, r.path, role, code)
			}
		}
	}
}

func TestBackupAPIRunVerifyRestorePrune(t *testing.T) {
	t.Parallel()
	srv, dir := backupServer(t)
	for i := 1; i <= 2; i++ {
		code, end := call(t, srv, "operator:o", "POST", "/api/v1/backups/run", `{"source":"etc"}`)
		b, _ := end["backup"].(map[string]any)
		if code != 200 || end["error"] != nil || b["result"] != "ok" {
			t.Fatalf("run: %d %v", code, end)
		}
	}
	if code, end := call(t, srv, "operator:o", "POST", "/api/v1/backups/run", `{"source":"nope"}`); code != 200 || end["error"] == nil {
		t.Errorf("run of an unknown source: %d %v", code, end)
	}
	code, end := call(t, srv, "operator:o", "POST", "/api/v1/backups/etc.2/verify", ``)
	if b, _ := end["backup"].(map[string]any); code != 200 || end["error"] != nil || b["verified_at"] == nil {
		t.Fatalf("verify: %d %v", code, end)
	}
	to := filepath.Join(dir, "restored")
	if code, end := call(t, srv, "admin:a", "POST", "/api/v1/backups/etc.2/restore", `{"path":"`+to+`"}`); code != 200 || end["error"] != nil {
		t.Fatalf("restore: %d %v", code, end)
	}
	if b, err := os.ReadFile(filepath.Join(to, strings.TrimPrefix(dir, "/"), "src", "a.txt")); err != nil || string(b) != "hello" {
		t.Errorf("restored file: %q %v", b, err)
	}
	for _, bad := range []string{`{}`, `{"path":"rel"}`, `{"path":"/x","database":"y"}`, `{"database":"Bad-Name"}`} {
		if code, out := call(t, srv, "admin:a", "POST", "/api/v1/backups/etc.2/restore", bad); code != 400 {
			t.Errorf("restore %s: %d %v, want 400", bad, code, out)
		}
	}
	code, out := call(t, srv, "ops-se:s", "POST", "/api/v1/backups/prune", `{"source":"etc"}`)
	if del, _ := out["deleted"].([]any); code != 200 || len(del) != 1 || del[0] != "etc.1" {
		t.Fatalf("prune: %d %v", code, out)
	}
	code, out = call(t, srv, "viewer:v", "GET", "/api/v1/backups?source=etc", "")
	if l, _ := out["backups"].([]any); code != 200 || len(l) != 1 {
		t.Fatalf("list: %d %v", code, out)
	}
}
