package test

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/rollout"
	"github.com/unyo-ops/unyo/test/testutil"
)

// The release the rollout tests install: the real unyo built with another
// version (built once per test binary, reused).
const testRelease = "9.9.9-test"

var (
	relOnce sync.Once
	relPath string
	relErr  error
)

// releaseBinary builds the real unyo with -X node.Version=testRelease.
func releaseBinary(t testing.TB) string {
	t.Helper()
	testutil.Binary(t) // the module is built (and its cache warm) first
	relOnce.Do(func() {
		dir, err := os.MkdirTemp("", "unyo-release-")
		if err != nil {
			relErr = err
			return
		}
		relPath = filepath.Join(dir, "unyo")
		out, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			relErr = err
			return
		}
		cmd := exec.Command("go", "build", "-ldflags",
			"-s -w -X github.com/unyo-ops/unyo/node.Version="+testRelease, "-o", relPath, "./cmd/unyo")
		cmd.Dir = filepath.Dir(strings.TrimSpace(string(out)))
		if out, err := cmd.CombinedOutput(); err != nil {
			relErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if relErr != nil {
		t.Fatal(relErr)
	}
	return relPath
}

// releaseKeys makes a minisign key pair; the public key is written to
// dir/release.pub.
func releaseKeys(t testing.TB, dir string) (minisign.PrivateKey, string) {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	text, err := pub.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "release.pub")
	if err := os.WriteFile(path, append(text, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	return priv, path
}

// signFile writes path.minisig, minisign's prehashed form.
func signFile(t testing.TB, priv minisign.PrivateKey, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := minisign.NewReader(f)
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	sig := path + ".minisig"
	if err := os.WriteFile(sig, r.Sign(priv), 0o644); err != nil {
		t.Fatal(err)
	}
	return sig
}

// fleetAgent is one `unyo agent` run from its own copy (a hard link) of
// the binary, so that it can update itself.
type fleetAgent struct {
	name, dir, exe string
	args           []string
	cmd            *exec.Cmd
	log            *lockedBuf
}

func newFleetAgent(t testing.TB, root, name, natsURL, trust, releaseKey string) *fleetAgent {
	t.Helper()
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "unyo")
	if err := os.Link(testutil.Binary(t), exe); err != nil {
		b, err := os.ReadFile(testutil.Binary(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(exe, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte("pw-"+name+"-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := &fleetAgent{name: name, dir: dir, exe: exe, log: &lockedBuf{}, args: []string{"agent", "--name", name,
		"--nats", natsURL, "--password-file", pass, "--trust-key", trust, "--state-dir", filepath.Join(dir, "state"),
		"--release-key", releaseKey, "--report-interval", "300ms"}}
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			if log := a.log.String(); strings.Contains(log, "level=ERROR") || strings.Contains(log, "level=WARN") {
				t.Logf("agent %s log:\n%s", name, log)
			}
		}
	})
	return a
}

func (a *fleetAgent) start(t testing.TB) {
	t.Helper()
	a.cmd = exec.Command(a.exe, a.args...)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

func (a *fleetAgent) stop() {
	if a.cmd != nil && a.cmd.Process != nil {
		_ = a.cmd.Process.Kill()
		_ = a.cmd.Wait()
	}
}

// version runs the agent's binary's `version`.
func (a *fleetAgent) version(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(a.exe, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v: %s", a.exe, err, out)
	}
	return strings.TrimSpace(string(out))
}

// fleetNode serves a node whose embedded NATS lets in the agents names
// (each with password pw-NAME-0123456789, tagged tag).
func fleetNode(t testing.TB, dir, pubKey string, names []string, tag, extra string) (*testutil.Process, string, string) {
	t.Helper()
	natsAddr := testutil.FreePort(t)
	addr := testutil.FreePort(t)
	var agents strings.Builder
	for _, n := range names {
		fmt.Fprintf(&agents, "      - {name: %s, tags: [%s], password: pw-%s-0123456789}\n", n, tag, n)
	}
	cfg := fmt.Sprintf(`node:
  name: n1
  data_dir: %q
http:
  listen: %q
cluster:
  bind: 127.0.0.1:0
nats:
  embedded:
    listen: %q
    agents:
%sreleases:
  public_key_file: %q
  watch_period: 3m
  lease: 3m
%s`, dir, addr, natsAddr, agents.String(), pubKey, extra)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "unyo.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := testutil.Serve(t, path, addr)
	trust := filepath.Join(dir, "trust.pub")
	if err := os.WriteFile(trust, []byte(unyoTB(t, 0, "agent", "trust-key", "--config", path)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, "nats://" + natsAddr, trust
}

// waitLong polls cond every 100 ms for up to d.
func waitLong(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}

// unyoTB is unyo for tests and benchmarks.
func unyoTB(t testing.TB, want int, args ...string) string {
	t.Helper()
	out, errOut, code := testutil.Run(t, args...)
	if code != want {
		t.Fatalf("unyo %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out
}

// TestRollout: a release goes out to 14 real agents with the limit at 5
// (40 at 15 with UNYO_TEST_ROLLOUT_AGENTS=40): never more than the limit
// update at once (sampled through the run), every
// agent ends on the new binary; a release whose binary does not start is
// rolled back (the agent restores its old binary itself) and halts the
// rollout; refuse mode keeps agents from starting jobs.
func TestRollout(t *testing.T) {
	t.Parallel()
	rel := releaseBinary(t)
	dir := t.TempDir()
	priv, pub := releaseKeys(t, dir)
	relFile := filepath.Join(dir, "unyo-"+testRelease)
	if err := os.Link(rel, relFile); err != nil {
		t.Fatal(err)
	}
	sig := signFile(t, priv, relFile)
	// 40 agents at 15 is the figure (UNYO_TEST_ROLLOUT_AGENTS=40);
	// the suite's default keeps the same shape at a third of the cost.
	n, limit := 14, 5
	if os.Getenv("UNYO_TEST_ROLLOUT_AGENTS") == "40" {
		n, limit = 40, 15
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("a%02d", i)
	}
	marker := filepath.Join(dir, "job-ran")
	p, natsURL, trust := fleetNode(t, dir, pub, names, "fleet", fmt.Sprintf(`jobnets:
  - name: gated
    jobs:
      - {name: j, command: /bin/sh, args: ["-c", "touch %s"], run_on: {agent: a00}}
`, marker))
	srv := "--server=" + p.URL
	c, err := client.New(p.URL, client.WithToken(testutil.AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	agents := make([]*fleetAgent, n)
	for i, name := range names {
		agents[i] = newFleetAgent(t, dir, name, natsURL, trust, pub)
		agents[i].start(t)
	}

	// An unsigned or wrongly signed release is refused.
	bad := writeFile(t, filepath.Join(dir, "bad.minisig"), "untrusted comment: x\nRUQ\n", 0o644)
	unyo(t, 1, "release", "add", "--version", "0.0.1", "--file", relFile, "--sig", bad, srv)
	unyo(t, 0, "release", "add", "--version", testRelease, "--file", relFile, "--sig", sig, "--message", "the test release", srv)
	if out := unyo(t, 0, "release", "list", srv); !strings.Contains(out, testRelease) {
		t.Fatalf("release list:\n%s", out)
	}

	ctx := t.Context()
	id := strings.TrimSpace(unyo(t, 0, "rollout", "start", "--release", testRelease, "--canary", "2", "--wave", strconv.Itoa(n/2), "--max-concurrent", strconv.Itoa(limit), srv))
	maxSeen, samples := 0, 0
	var st console.RolloutStatus
	defer func() {
		if t.Failed() {
			out, errOut, _ := testutil.Run(t, "rollout", "status", id, srv)
			t.Logf("rollout status at the end:\n%s%s", out, errOut)
		}
	}()
	waitLong(t, 8*time.Minute, "the rollout to end", func() bool {
		st, err = c.Rollout(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		active := 0
		for _, a := range st.Agents {
			if rollout.Active(a.State) {
				active++
			}
		}
		samples++
		maxSeen = max(maxSeen, active, st.Updating)
		if active > limit || st.Updating > limit {
			t.Fatalf("%d agents updating at once (status says %d), limit %d", active, st.Updating, limit)
		}
		return st.Status == rollout.StatusDone
	})
	t.Logf("rollout to %d agents: at most %d updating at once (%d samples)", n, maxSeen, samples)
	if st.Counts[rollout.StateDone] != n {
		t.Fatalf("rollout ended with %v, want %d done\n%s", st.Counts, n, unyo(t, 0, "rollout", "status", id, srv))
	}
	if maxSeen < 2 {
		t.Errorf("never saw more than %d agents updating at once", maxSeen)
	}
	for _, a := range []*fleetAgent{agents[0], agents[n/2], agents[n-1]} {
		if v := a.version(t); !strings.Contains(v, testRelease) {
			t.Errorf("%s's binary says %q after the rollout, want %s", a.name, v, testRelease)
		}
	}
	if out := unyo(t, 0, "rollout", "status", id, srv); !strings.Contains(out, fmt.Sprintf("done %d", n)) {
		t.Errorf("rollout status:\n%s", out)
	}

	t.Run("a binary that does not start is rolled back", func(t *testing.T) {
		broken := writeFile(t, filepath.Join(dir, "unyo-broken"), "#!/bin/sh\nexit 3\n", 0o755)
		unyo(t, 0, "release", "add", "--version", "9.9.10-broken", "--file", broken, "--sig", signFile(t, priv, broken), srv)
		// --full: the agents fetch the whole binary (no manifest).
		id := strings.TrimSpace(unyo(t, 0, "rollout", "start", "--release", "9.9.10-broken", "--agents", "a01,a02", "--max-concurrent", "1", "--full", srv))
		waitLong(t, time.Minute, "the broken rollout to halt", func() bool {
			st, err = c.Rollout(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return st.Counts[rollout.StateRolledBack] == 1 && st.Status == rollout.StatusHalted
		})
		if st.Counts[rollout.StateQueued] != 1 {
			t.Errorf("halted rollout: %v, want the other agent still queued", st.Counts)
		}
		for _, a := range st.Agents {
			if a.State == rollout.StateRolledBack && (a.Level != "failed" || !strings.Contains(a.Err, "does not start")) {
				t.Errorf("rolled-back agent %s: level %s, error %q", a.Agent, a.Level, a.Err)
			}
		}
		for _, a := range agents[1:3] {
			if v := a.version(t); !strings.Contains(v, testRelease) {
				t.Errorf("%s's binary says %q after the rollback, want %s back", a.name, v, testRelease)
			}
		}
		var hasError bool
		for _, l := range st.Log {
			hasError = hasError || l.Level == "error"
		}
		if !hasError {
			t.Errorf("the rollout's log has no error line: %+v", st.Log)
		}
		// The release goes back to optional so that the next test's mode
		// is the only one in force.
		unyo(t, 0, "release", "mode", "9.9.10-broken", "--mode", "optional", srv)
	})

	t.Run("refuse mode keeps agents from starting jobs", func(t *testing.T) {
		unyo(t, 0, "release", "mode", "9.9.10-broken", "--mode", "refuse", "--message", "server upgrade in progress", srv)
		waitFor(t, "a00 to refuse jobs", func() bool {
			return strings.Contains(agents[0].log.String(), "server upgrade in progress")
		})
		unyo(t, 0, "jobnet", "run", "gated", srv)
		// Several report rounds (300ms each) pass with the job queued.
		r0 := reportsAnswered(t, p.URL)
		waitFor(t, "report rounds while refusing", func() bool { return reportsAnswered(t, p.URL) > r0+3*n })
		if _, err := os.Stat(marker); err == nil {
			t.Fatal("a job ran on a00 while the release mode is refuse")
		}
		// The task reaches a00 after the refused direct offer falls back
		// to the stream; a00 logs the refusal when it fetches it.
		waitFor(t, "a00 to log that it refuses the job", func() bool {
			return strings.Contains(agents[0].log.String(), "jobs refused")
		})
		if _, err := os.Stat(marker); err == nil {
			t.Fatal("a job ran on a00 while the release mode is refuse")
		}
		unyo(t, 0, "release", "mode", "9.9.10-broken", "--mode", "optional", srv)
		waitLong(t, time.Minute, "the job to run once jobs are allowed", func() bool {
			_, err := os.Stat(marker)
			return err == nil
		})
	})
	if strings.Contains(p.Log(), "level=ERROR") {
		t.Logf("node log has errors:\n%s", p.Log())
	}
}

// reportsAnswered reads the node's unyo_rollout_reports_total{result="ok"}.
func reportsAnswered(t *testing.T, url string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testutil.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, `unyo_rollout_reports_total{result="ok"} `); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int(f)
		}
	}
	return 0
}
