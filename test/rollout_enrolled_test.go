package test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/rollout"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestRolloutEnrolled: enrolled resident agents (`unyo agent run`, not
// the --name mode) update themselves in a rollout: each reports on its
// own subject, downloads the release differentially (it runs the release
// a patch version before, so it fetches only the few chunks that
// differ), verifies it against --release-key, swaps its binary, starts it
// on trial and is confirmed; at most the limit update at once and every
// agent ends on the new binary. It takes 10 to 45 s after the builds
// on a loaded 2-core machine: run with UNYO_TEST_ROLLOUT_ENROLLED=1.
func TestRolloutEnrolled(t *testing.T) {
	if os.Getenv("UNYO_TEST_ROLLOUT_ENROLLED") == "" {
		t.Skip("set UNYO_TEST_ROLLOUT_ENROLLED=1 to roll out to enrolled agents (differential update)")
	}
	t.Parallel()
	rel := releaseBinary(t)
	testutil.Binary(t)
	began := time.Now() // after the builds the suite shares
	dir := t.TempDir()
	priv, pub := releaseKeys(t, dir)
	relFile := filepath.Join(dir, "unyo-"+testRelease)
	if err := os.Link(rel, relFile); err != nil {
		t.Fatal(err)
	}
	sig := signFile(t, priv, relFile)
	natsAddr, addr := testutil.FreePort(t), testutil.FreePort(t)
	p := serveYAML(t, dir, addr, oneNode("n1", dir, addr)+embeddedNATS(natsAddr)+enrolledAgents(pub)+`  watch_period: 3m
  lease: 3m
`)
	srv := "--server=" + p.URL
	c, err := client.New(p.URL, client.WithToken(testutil.AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	tok := writeFile(t, filepath.Join(dir, "token"), strings.TrimSpace(unyo(t, 0, "agents", "token", "create", "--group", "web", srv))+"\n", 0o600)
	pkgs := writeFile(t, filepath.Join(dir, "pkgs.txt"), "bash\t5.2\tamd64\n", 0o644)
	// The release is known before the agents start: their first report
	// says an update waits (optional mode), which shows they reported.
	unyo(t, 0, "release", "add", "--version", testRelease, "--file", relFile, "--sig", sig, srv)

	// The agents run the same build a patch version before: the release
	// with its version string changed in place.
	prev := prevRelease(t, rel, dir)
	relSize := fileSize(t, rel)
	served0 := metricValue(t, p.URL, "unyo_rollout_bytes_served_total")

	const n, limit = 3, 2
	agents := make([]*fleetAgent, n)
	for i := range agents {
		name := fmt.Sprintf("e%d", i)
		adir := filepath.Join(dir, name)
		state := filepath.Join(adir, "state")
		if err := os.MkdirAll(adir, 0o700); err != nil {
			t.Fatal(err)
		}
		exe := filepath.Join(adir, "unyo")
		copyFile(t, prev, exe)
		unyo(t, 0, "agent", "enroll", "--server", p.URL, "--token-file", tok, "--name", name, "--group", "web",
			"--state-dir", state, "--host-id", "host-"+name)
		agents[i] = &fleetAgent{name: name, dir: adir, exe: exe, log: &lockedBuf{}, args: []string{"agent", "run",
			"--state-dir", state, "--host-id", "host-" + name, "--packages-command", "cat " + pkgs,
			"--release-key", pub, "--report-interval", "300ms"}}
		a := agents[i]
		t.Cleanup(func() {
			a.stop()
			if t.Failed() {
				t.Logf("agent %s log:\n%s", a.name, a.log.String())
			}
		})
		a.start(t)
	}
	for _, a := range agents {
		waitFor(t, a.name+" to report", func() bool { return strings.Contains(a.log.String(), "an update waits") })
	}
	id := strings.TrimSpace(unyo(t, 0, "rollout", "start", "--release", testRelease, "--canary", "1",
		"--max-concurrent", fmt.Sprint(limit), srv))
	maxSeen := 0
	waitLong(t, 3*time.Minute, "the rollout to the enrolled agents to end", func() bool {
		st, err := c.Rollout(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		active := 0
		for _, a := range st.Agents {
			if rollout.Active(a.State) {
				active++
			}
		}
		maxSeen = max(maxSeen, active)
		if active > limit {
			t.Fatalf("%d agents updating at once, limit %d", active, limit)
		}
		if st.Status == rollout.StatusHalted {
			t.Fatalf("rollout halted: %+v", st)
		}
		if st.Status != rollout.StatusDone {
			return false
		}
		if st.Counts[rollout.StateDone] != n {
			t.Fatalf("rollout ended with %v, want %d done", st.Counts, n)
		}
		return true
	})
	for _, a := range agents {
		if v := a.version(t); !strings.Contains(v, testRelease) {
			t.Errorf("%s's binary says %q after the rollout, want %s", a.name, v, testRelease)
		}
		log := a.log.String()
		for _, want := range []string{"update: downloading", "update: differential download", "update: swapped", "update committed"} {
			if !strings.Contains(log, want) {
				t.Errorf("%s's log lacks %q", a.name, want)
			}
		}
	}
	// Each agent fetched the manifest and the few chunks that differ,
	// not the binary.
	served := metricValue(t, p.URL, "unyo_rollout_bytes_served_total") - served0
	if served <= 0 || served > float64(int64(n)*relSize)/10 {
		t.Errorf("%.0f bytes served for %d agents updating to a %d-byte binary a patch version apart", served, n, relSize)
	}
	t.Logf("rollout to %d enrolled agents: at most %d updating at once; %.0f bytes served (binary %d bytes); %s after the builds",
		n, maxSeen, served, relSize, time.Since(began).Round(time.Second))
}

// metricValue reads an unlabelled metric of the node at url (0 when absent).
func metricValue(t testing.TB, url, name string) float64 {
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
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// copyFile copies src to dst (mode 0755): an agent's own binary, which it
// may replace.
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.Link(src, dst); err == nil {
		return
	}
	if out, err := exec.Command("cp", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp %s %s: %v: %s", src, dst, err, out)
	}
}
