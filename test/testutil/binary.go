package testutil

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/client"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// EnvBinary names a prebuilt unyo binary for the end-to-end tests to run
// instead of building cmd/unyo themselves. `make test` builds it before
// `go test`: the build of the whole module (a second, non-race compile on
// a cold build cache) then runs on all cores up front instead of inside the
// test/ package at the tail of the suite. It must be built from the tree
// under test; unset, Binary builds it.
const EnvBinary = "UNYO_TEST_BINARY"

// Binary returns the path of the unyo binary the tests run: $UNYO_TEST_BINARY
// when set, else cmd/unyo built once per test process.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv(EnvBinary); p != "" {
			if !filepath.IsAbs(p) {
				buildErr = fmt.Errorf("%s=%q: want an absolute path", EnvBinary, p)
				return
			}
			if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
				buildErr = fmt.Errorf("%s=%q: not an executable file (%v)", EnvBinary, p, err)
				return
			}
			binPath = p
			return
		}
		dir, err := os.MkdirTemp("", "unyo-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "unyo")
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/unyo")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// FreePort returns a loopback host:port that was free a moment ago. It is
// taken below the kernel's ephemeral range (net.ipv4.ip_local_port_range),
// where no outgoing connection's source port lands between this check and
// the node's bind (a port the kernel picked for ":0" is in that range, and
// a parallel test's connection took one from under a starting node), and
// it is never handed out twice by this process.
func FreePort(t testing.TB) string {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	lo, hi := portRange()
	if portNext == 0 {
		portNext = lo + (os.Getpid()*7919+int(time.Now().UnixNano()))%(hi-lo)
		portGiven = map[int]bool{}
	}
	for range hi - lo {
		p := portNext
		portNext++
		if portNext >= hi {
			portNext = lo
		}
		if portGiven[p] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		portGiven[p] = true
		return addr
	}
	// Nothing free below the ephemeral range: let the kernel pick.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var (
	portMu    sync.Mutex
	portNext  int
	portGiven map[int]bool
)

// portRange is the ports FreePort hands out: from 20000 up to the start
// of the ephemeral range (10000 ports at least), else 20000–30000.
func portRange() (lo, hi int) {
	lo, hi = 20000, 30000
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return lo, hi
	}
	if eph, err := strconv.Atoi(f[0]); err == nil && eph-lo >= 10000 {
		hi = eph
	}
	return lo, hi
}

// AdminToken is the first admin's API token of every node this test
// binary starts (given as UNYO_BOOTSTRAP_TOKEN), and the token Run gives
// the CLI (UNYO_TOKEN) unless the caller sets its own.
var AdminToken = auth.NewSecret(auth.TokenPrefix)

// Client returns an API client for the node at url acting as the admin.
func Client(t testing.TB, url string) *client.Client {
	t.Helper()
	c, err := client.New(url, client.WithToken(AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Do sends req with the admin token.
func Do(req *http.Request) (*http.Response, error) {
	req.Header.Set("Authorization", "Bearer "+AdminToken)
	return http.DefaultClient.Do(req)
}

// Get is http.Get with the admin token.
func Get(url string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return Do(req)
}

// Post is http.Post with the admin token.
func Post(url, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	return Do(req)
}

// Process is a running `unyo serve`.
type Process struct {
	t      testing.TB
	cmd    *exec.Cmd
	URL    string
	Config string
	// CAFile is the CA the node's HTTPS certificate is signed by ("" for
	// plain HTTP).
	CAFile string
	// Netns is the network namespace the node runs in ("" for the
	// test's own).
	Netns  string
	mu     sync.Mutex
	log    bytes.Buffer
	exited chan struct{}
}

type lockedWriter struct{ p *Process }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.log.Write(b)
}

// Log returns what the process wrote to stderr so far.
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// Serve starts `unyo serve --config cfg` where cfg's http.listen is addr and
// waits until /readyz answers 200.
func Serve(t testing.TB, cfgPath, addr string) *Process {
	t.Helper()
	p := Start(t, cfgPath, addr)
	p.WaitReady(60 * time.Second)
	return p
}

// Start starts `unyo serve --config cfg` without waiting for it to be
// ready (members of a cluster become ready together).
func Start(t testing.TB, cfgPath, addr string) *Process {
	t.Helper()
	return start(t, &Process{t: t, URL: "http://" + addr, Config: cfgPath, exited: make(chan struct{})}, bootstrapEnv())
}

// StartEnv is Start with env added to the environment instead of
// UNYO_BOOTSTRAP_TOKEN (nil: the node makes its own first admin token).
func StartEnv(t testing.TB, cfgPath, addr string, env []string) *Process {
	t.Helper()
	return start(t, &Process{t: t, URL: "http://" + addr, Config: cfgPath, exited: make(chan struct{})}, env)
}

// ServeTLS is Serve for a node whose http.tls certificate for addr is
// signed by caFile.
func ServeTLS(t testing.TB, cfgPath, addr, caFile string) *Process {
	t.Helper()
	p := start(t, &Process{t: t, URL: "https://" + addr, Config: cfgPath, CAFile: caFile, exited: make(chan struct{})}, bootstrapEnv())
	p.WaitReady(60 * time.Second)
	return p
}

// StartNetns is Start for a node run inside the network namespace ns
// (`ip netns exec`), whose API the test reaches at url.
func StartNetns(t testing.TB, ns, cfgPath, url string) *Process {
	t.Helper()
	return start(t, &Process{t: t, URL: url, Config: cfgPath, Netns: ns, exited: make(chan struct{})}, bootstrapEnv())
}

func bootstrapEnv() []string { return []string{"UNYO_BOOTSTRAP_TOKEN=" + AdminToken} }

func start(t testing.TB, p *Process, env []string) *Process {
	t.Helper()
	cfgPath := p.Config
	p.cmd = exec.Command(Binary(t), "serve", "--config", cfgPath)
	if p.Netns != "" {
		// ip netns exec execs the binary: the process is the node.
		p.cmd = exec.Command("ip", "netns", "exec", p.Netns, Binary(t), "serve", "--config", cfgPath)
	}
	p.cmd.Env = append(withoutBootstrap(os.Environ()), env...)
	p.cmd.Stderr = lockedWriter{p}
	p.cmd.Stdout = lockedWriter{p}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("unyo serve log (pid %d, %s):\n%s", p.cmd.Process.Pid, cfgPath, p.Log())
		}
	})
	return p
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// WaitReady waits until /readyz answers 200.
func (p *Process) WaitReady(d time.Duration) {
	p.t.Helper()
	c, err := client.NewTLS(p.URL, client.TLSFiles{CAFile: p.CAFile})
	if err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			p.t.Fatalf("unyo serve exited before it was ready:\n%s", p.Log())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		last = c.Ready(ctx)
		cancel()
		if last == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("unyo serve not ready after %s: %v\n%s", d, last, p.Log())
}

// Kill sends SIGKILL and waits for the process to end.
func (p *Process) Kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop sends SIGTERM and waits up to 30 s for a clean exit.
func (p *Process) Stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.Kill()
		p.t.Errorf("unyo serve did not stop within 30s after SIGTERM")
	}
}

// RSS returns the process's resident set size in bytes.
func (p *Process) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", p.Pid())
}

// Run runs the unyo binary with args as the admin (UNYO_TOKEN) and returns
// stdout, stderr and the exit code.
func Run(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return RunEnv(t, []string{"UNYO_TOKEN=" + AdminToken}, args...)
}

// RunEnv is Run with env added to the environment (and no token unless
// env gives one). The credentials file is kept out of the user's home.
func RunEnv(t testing.TB, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append(withoutToken(os.Environ()), "UNYO_CREDENTIALS="+filepath.Join(t.TempDir(), "credentials.json"))
	cmd.Env = append(cmd.Env, env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

func withoutToken(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "UNYO_TOKEN=") && !strings.HasPrefix(kv, "UNYO_TOKEN_FILE=") && !strings.HasPrefix(kv, "UNYO_CREDENTIALS=") {
			out = append(out, kv)
		}
	}
	return out
}

func withoutBootstrap(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "UNYO_BOOTSTRAP_TOKEN=") {
			out = append(out, kv)
		}
	}
	return out
}

// TCPPort listens on a loopback port that accepts and closes every
// connection (a live service for TCP checks), until the test ends, and
// returns the port.
func TCPPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}
