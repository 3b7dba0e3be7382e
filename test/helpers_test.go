package test

import (
	"fmt"
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

// oneNode is the start of a one-member node's configuration: its node
// and cluster sections and an http section listening on addr, last, so
// that the caller may add lines under http (indented two spaces) before
// its own sections.
func oneNode(name, dir, addr string) string {
	return fmt.Sprintf("node:\n  name: %s\n  data_dir: %q\ncluster:\n  bind: 127.0.0.1:0\nhttp:\n  listen: %q\n", name, dir, addr)
}

// embeddedNATS is a nats section whose embedded server listens for agents
// on addr; the caller may add lines under nats.embedded (indented four
// spaces) right after it.
func embeddedNATS(addr string) string {
	return fmt.Sprintf("nats:\n  embedded:\n    listen: %q\n", addr)
}

// enrolledAgents are the agents and releases sections of a node that
// enrols agents (heartbeat 1 s) and trusts the release key pub; the
// caller may add lines under releases (indented two spaces).
func enrolledAgents(pub string) string {
	return fmt.Sprintf("agents:\n  enabled: true\n  heartbeat: 1s\nreleases:\n  public_key_file: %q\n", pub)
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
