package test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/test/testutil"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// waitFor polls cond every 50 ms for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// serveYAML writes cfg as dir/unyo.yaml and serves it on addr (ready).
func serveYAML(t *testing.T, dir, addr, cfg string) *testutil.Process {
	t.Helper()
	path := filepath.Join(dir, "unyo.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return testutil.Serve(t, path, addr)
}

// unyo runs the CLI and fails the test unless it exits with want; it
// returns the standard output.
func unyo(t *testing.T, want int, args ...string) string {
	t.Helper()
	out, errOut, code := testutil.Run(t, args...)
	if code != want {
		t.Fatalf("unyo %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out
}

// addUser makes user name with role on the node at url, acting as the
// admin (`unyo user add --no-password`), and returns an API token of
// theirs (`unyo token create --owner`): what the user then does is done
// as that identity.
func addUser(t *testing.T, url, name, role string) string {
	t.Helper()
	srv := "--server=" + url
	unyo(t, 0, "user", "add", name, "--role", role, "--no-password", srv)
	tok := strings.TrimSpace(unyo(t, 0, "token", "create", "--name", "e2e-"+name, "--owner", name, srv))
	if !strings.HasPrefix(tok, "unyo_") || strings.ContainsAny(tok, " \n") {
		t.Fatalf("token create for %s printed %q, want one unyo_… secret", name, tok)
	}
	return tok
}

// unyoAs is unyo acting as the holder of token (UNYO_TOKEN); it returns
// the standard output.
func unyoAs(t *testing.T, token string, want int, args ...string) string {
	t.Helper()
	out, errOut, code := testutil.RunEnv(t, []string{"UNYO_TOKEN=" + token}, args...)
	if code != want {
		t.Fatalf("unyo %s (as a token): exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out
}
