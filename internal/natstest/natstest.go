package natstest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/internal/syncbuf"
)

// EnvBinary names a nats-server binary (≥ 2.10) for the tests to run.
// Unset, the tests use nats-server from PATH or /usr/sbin when it is
// recent enough, else build the version this module requires
// (github.com/nats-io/nats-server/v2, from the module cache) into
// $TMPDIR/unyo-test-nats-server-VERSION once and reuse it.
const EnvBinary = "UNYO_TEST_NATS_SERVER"

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

var versionRE = regexp.MustCompile(`v(\d+)\.(\d+)\.(\d+)`)

// recent reports whether the nats-server at path is at least 2.10 (auth
// callout).
func recent(path string) bool {
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return false
	}
	m := versionRE.FindStringSubmatch(string(out))
	if m == nil {
		return false
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return major > 2 || (major == 2 && minor >= 10)
}

// Binary returns a nats-server ≥ 2.10 (see EnvBinary).
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		if p := os.Getenv(EnvBinary); p != "" {
			if !recent(p) {
				binErr = fmt.Errorf("%s=%q: not a nats-server ≥ 2.10", EnvBinary, p)
				return
			}
			binPath = p
			return
		}
		for _, p := range []string{"nats-server", "/usr/sbin/nats-server"} {
			if lp, err := exec.LookPath(p); err == nil && recent(lp) {
				binPath = lp
				return
			}
		}
		binPath, binErr = build()
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// build builds the module's nats-server once into the temporary
// directory, named by its version, and reuses it in later test processes
// (built under a temporary name and renamed, so processes building at
// once do not see half a file).
func build() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/nats-io/nats-server/v2").Output()
	if err != nil {
		return "", fmt.Errorf("go list nats-server's version: %w", err)
	}
	version := strings.TrimSpace(string(out))
	if !versionRE.MatchString(version) {
		return "", fmt.Errorf("nats-server module version %q", version)
	}
	dir := filepath.Join(os.TempDir(), "unyo-test-nats-server-"+version)
	path := filepath.Join(dir, "nats-server")
	if recent(path) {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, "build-*")
	if err != nil {
		return "", err
	}
	_ = tmp.Close()
	defer os.Remove(tmp.Name())
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	cmd := exec.Command("go", "build", "-o", tmp.Name(), "github.com/nats-io/nats-server/v2")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build nats-server from the module: %v\n%s", err, out)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return path, nil
}

// Server is a running nats-server.
type Server struct {
	// URL is its client URL, nats://127.0.0.1:PORT.
	URL string
	// Dir holds its configuration, JetStream store and log.
	Dir string
	cmd *exec.Cmd
	log *syncbuf.Buffer
}

// Log returns what the server logged so far.
func (s *Server) Log() string { return s.log.String() }

// Start runs nats-server with conf (its configuration file without a
// listen address: Start adds `listen: 127.0.0.1:-1`, and `store_dir` is
// best given as $STORE_DIR, which Start replaces with a directory of its
// own) and waits until it takes connections. The server is stopped when
// the test ends; its log is printed if the test failed.
func Start(t testing.TB, conf string) *Server {
	t.Helper()
	dir := t.TempDir()
	store := filepath.Join(dir, "jetstream")
	conf = "listen: 127.0.0.1:-1\n" + strings.ReplaceAll(conf, "$STORE_DIR", strconv.Quote(store))
	path := filepath.Join(dir, "nats-server.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{Dir: dir, log: &syncbuf.Buffer{Max: 4 << 20}}
	s.cmd = exec.Command(Binary(t), "-c", path, "--ports_file_dir", dir)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("nats-server log:\n%s", s.log.String())
		}
	})
	ports := filepath.Join(dir, fmt.Sprintf("%s_%d.ports", filepath.Base(s.cmd.Path), s.cmd.Process.Pid))
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(ports); err == nil {
			var p struct {
				Nats []string `json:"nats"`
			}
			if json.Unmarshal(b, &p) == nil && len(p.Nats) > 0 {
				s.URL = p.Nats[0]
				return s
			}
		}
		select {
		case <-done:
			t.Fatalf("nats-server exited:\n%s", s.log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server wrote no ports file within 60s:\n%s", s.log.String())
		}
	}
}

// CalloutConf is the configuration docs/bus.md gives an external server
// whose clients unyo's nodes admit by the auth callout: the nodes' user
// in auth_users, an NKey user nobody holds (so the server sends a
// nonce), the callout's issuer, and another application's account that
// is not called out for.
func CalloutConf(issuer, nodePass, nonceKey string) string {
	return fmt.Sprintf(`
jetstream { store_dir: $STORE_DIR }
accounts {
  UNYO {
    jetstream: enabled
    users: [
      {user: unyo, password: %q}
      {nkey: %s}
    ]
  }
  # Another application sharing the server, not called out for.
  OTHER { users: [ {user: other, password: "other-password-0123456789"} ] }
}
authorization {
  timeout: 5s
  auth_callout {
    issuer: %s
    account: UNYO
    auth_users: [ unyo ]
    allowed_accounts: [ UNYO ]
  }
}
`, nodePass, nonceKey, issuer)
}
