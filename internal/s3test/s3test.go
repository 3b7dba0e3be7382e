// Package s3test runs a real S3-compatible server for tests and
// benchmarks: versitygw (github.com/versity/versitygw) with its POSIX
// backend, on a loopback port, its data in a temporary directory.
//
// The binary is $UNYO_TEST_S3_SERVER when set, else versitygw from PATH,
// else Version built once (go install, from the Go module proxy) into
// $TMPDIR/unyo-test-versitygw-VERSION and reused by later test
// processes (a lock file keeps test binaries running at once from
// building it twice).
package s3test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/unyo-ops/unyo/internal/syncbuf"
)

// EnvBinary names a versitygw binary for the tests to run.
const EnvBinary = "UNYO_TEST_S3_SERVER"

// Version is the versitygw built when none is given or on PATH.
const Version = "v1.8.0"

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// Binary returns the versitygw to run (see the package doc).
func Binary() (string, error) {
	binOnce.Do(func() {
		if p := os.Getenv(EnvBinary); p != "" {
			if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
				binErr = fmt.Errorf("%s=%q: not an executable file (%v)", EnvBinary, p, err)
				return
			}
			binPath = p
			return
		}
		if p, err := exec.LookPath("versitygw"); err == nil {
			binPath = p
			return
		}
		binPath, binErr = build()
	})
	return binPath, binErr
}

// build installs versitygw Version into the temporary directory once,
// under an exclusive lock on a file beside it.
func build() (string, error) {
	dir := filepath.Join(os.TempDir(), "unyo-test-versitygw-"+Version)
	path := filepath.Join(dir, "versitygw")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "build.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
		return path, nil
	}
	gobin, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(gobin)
	cmd := exec.Command("go", "install", "github.com/versity/versitygw/cmd/versitygw@"+Version)
	cmd.Dir = dir // outside any module: go install pkg@version
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "GOFLAGS=-buildvcs=false", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build versitygw %s (or set %s): %v\n%s", Version, EnvBinary, err, out)
	}
	if err := os.Rename(filepath.Join(gobin, "versitygw"), path); err != nil {
		return "", err
	}
	return path, nil
}

// Options are how Run starts a server.
type Options struct {
	// Buckets are made once it answers.
	Buckets []string
	// CertFile and KeyFile, if set, make it serve https with that
	// certificate (for 127.0.0.1); CAFile is the PEM of the CA that signed
	// it, which Client trusts.
	CertFile, KeyFile, CAFile string
}

// Server is a running versitygw.
type Server struct {
	// Endpoint is its address, 127.0.0.1:PORT (http, or https with
	// Options.CertFile).
	Endpoint string
	// Dir is the POSIX backend's root: each bucket is a directory in it.
	Dir string
	// AccessKey and SecretKey are its root account's credentials, random
	// for each server (so a port taken by another test's server is never
	// mistaken for this one's).
	AccessKey, SecretKey string

	opts Options
	cmd  *exec.Cmd
	log  *syncbuf.Buffer
	done chan struct{}
}

// TLS reports whether the server serves https.
func (s *Server) TLS() bool { return s.opts.CertFile != "" }

// Log returns what the server wrote so far.
func (s *Server) Log() string { return s.log.String() }

// Client returns a minio-go client of the server with the root
// credentials.
func (s *Server) Client() (*minio.Client, error) {
	tr, err := minio.DefaultTransport(s.TLS())
	if err != nil {
		return nil, err
	}
	if s.opts.CAFile != "" {
		pem, err := os.ReadFile(s.opts.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig.RootCAs = pool
	}
	return minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure: s.TLS(), Transport: tr})
}

// Run starts versitygw on a free loopback port with its data in dir
// (which must exist), waits until it answers and makes the buckets. Stop
// ends it.
func Run(ctx context.Context, dir string, opts Options) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	var errs []error
	// A port picked free may be taken before the server binds it: try
	// another then.
	for range 5 {
		s, err := run(ctx, bin, dir, opts)
		if err == nil {
			if err = s.makeBuckets(ctx, opts.Buckets); err == nil {
				return s, nil
			}
			s.Stop()
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func run(ctx context.Context, bin, dir string, opts Options) (*Server, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Endpoint: addr, Dir: dir, AccessKey: "unyo-test-" + random(), SecretKey: random() + random(),
		opts: opts, log: &syncbuf.Buffer{Max: 1 << 20}, done: make(chan struct{})}
	args := []string{"--port", addr, "--quiet"}
	if s.TLS() {
		args = append(args, "--cert", opts.CertFile, "--key", opts.KeyFile)
	}
	s.cmd = exec.Command(bin, append(args, "posix", dir)...)
	// The credentials go in the environment, not on the command line.
	s.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s.AccessKey, "ROOT_SECRET_ACCESS_KEY="+s.SecretKey)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start versitygw: %w", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	if err := s.wait(ctx, 60*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// wait polls until the server answers HTTP (any status: an anonymous
// request is refused with 403), it exits, or the time is up.
func (s *Server) wait(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	// The probe only asks whether something answers; the buckets are
	// made through a verifying client.
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // a liveness probe of our own loopback server
	defer hc.CloseIdleConnections()
	scheme := "http://"
	if s.TLS() {
		scheme = "https://"
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, scheme+s.Endpoint+"/", nil)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("versitygw on %s exited: %s", s.Endpoint, strings.TrimSpace(s.Log()))
		case <-ctx.Done():
			return fmt.Errorf("versitygw on %s does not answer after %s: %s", s.Endpoint, limit, strings.TrimSpace(s.Log()))
		case <-tick.C:
		}
	}
}

// Stop ends the server (SIGTERM, then SIGKILL after 10 s).
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// makeBuckets creates the buckets, and checks that each is a directory
// of s.Dir (this server's, not another's that took the port).
func (s *Server) makeBuckets(ctx context.Context, buckets []string) error {
	c, err := s.Client()
	if err != nil {
		return err
	}
	for _, b := range buckets {
		if err := c.MakeBucket(ctx, b, minio.MakeBucketOptions{}); err != nil {
			return fmt.Errorf("versitygw on %s: make bucket %s: %w", s.Endpoint, b, err)
		}
		if fi, err := os.Stat(filepath.Join(s.Dir, b)); err != nil || !fi.IsDir() {
			return fmt.Errorf("versitygw on %s: bucket %s is not in %s (%v)", s.Endpoint, b, s.Dir, err)
		}
	}
	return nil
}

// Start runs a server for the test (its data in a t.TempDir()) with the
// bucket made, and stops it when the test ends, printing its log if the
// test failed.
func Start(t testing.TB, bucket string) *Server {
	t.Helper()
	return StartWith(t, Options{Buckets: []string{bucket}})
}

// StartWith is Start with options.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Run(t.Context(), t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("versitygw log:\n%s", s.Log())
		}
	})
	return s
}

// freePort returns a loopback address with a port free a moment ago.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// random returns 16 random hex digits.
func random() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
