package test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/rollout"
	"github.com/unyo-ops/unyo/test/testutil"
)

// BenchmarkRollout measures a rollout of the real unyo binary (stripped,
// built with another version) to 40 real agents at 15 at once on one
// node, in two ways: full (the agents run the development build and the
// rollout is started with --full: every agent fetches the whole binary)
// and delta (the agents run the same build a patch version before and
// fetch only the chunks that differ):
//
//	UNYO_BENCH_ROLLOUT_FULL=1 go test ./test -run '^$' -bench 'BenchmarkRollout$' -benchtime 1x -timeout 30m
//
// It reports the wall time from `rollout start` to the last agent done,
// the binary's size, the most agents seen updating at once, the bytes the
// node served, the node's CPU over the rollout and its peak RSS, and the
// agents' download times (from their logs). Slow (two rollouts of 40
// agents): skipped without UNYO_BENCH_ROLLOUT_FULL=1;
// UNYO_BENCH_ROLLOUT_MODES=delta,full picks and orders the modes.
func BenchmarkRollout(b *testing.B) {
	if os.Getenv("UNYO_BENCH_ROLLOUT_FULL") == "" {
		b.Skip("set UNYO_BENCH_ROLLOUT_FULL=1 to roll out to 40 real agents")
	}
	rel := releaseBinary(b)
	modes := []string{"full", "delta"}
	if v := os.Getenv("UNYO_BENCH_ROLLOUT_MODES"); v != "" {
		modes = strings.Split(v, ",")
	}
	for _, mode := range modes {
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				benchRollout(b, rel, mode == "full")
			}
		})
	}
}

func benchRollout(b *testing.B, rel string, full bool) {
	b.StopTimer()
	dir := b.TempDir()
	priv, pub := releaseKeys(b, dir)
	relFile := filepath.Join(dir, "unyo-new")
	if err := os.Link(rel, relFile); err != nil {
		b.Fatal(err)
	}
	size := fileSize(b, relFile)
	sig := signFile(b, priv, relFile)
	const n, limit = 40, 15
	names := make([]string, n)
	for j := range names {
		names[j] = fmt.Sprintf("b%02d", j)
	}
	p, natsURL, trust := fleetNode(b, dir, pub, names, "fleet", "")
	from := testutil.Binary(b)
	if !full {
		from = prevRelease(b, rel, dir)
	}
	var fleet []*fleetAgent
	for _, name := range names {
		a := newFleetAgent(b, dir, name, natsURL, trust, pub)
		fleet = append(fleet, a)
		if err := os.Remove(a.exe); err != nil {
			b.Fatal(err)
		}
		copyFile(b, from, a.exe)
		a.start(b)
	}
	srv := "--server=" + p.URL
	unyoTB(b, 0, "release", "add", "--version", testRelease, "--file", relFile, "--sig", sig, srv)
	c, _ := client.New(p.URL, client.WithToken(testutil.AdminToken))
	// Every agent has reported before the rollout starts.
	waitLong(b, 2*time.Minute, "all agents reporting", func() bool {
		return metricValue(b, p.URL, `unyo_rollout_reports_total{result="ok"}`) >= 2*n
	})
	args := []string{"rollout", "start", "--release", testRelease, "--max-concurrent", strconv.Itoa(limit), srv}
	if full {
		args = append(args, "--full")
	}
	served0, cpu0 := metricValue(b, p.URL, "unyo_rollout_bytes_served_total"), procCPU(b, p.Pid())
	b.StartTimer()
	start := time.Now()
	id := strings.TrimSpace(unyoTB(b, 0, args...))
	peak := 0
	waitLong(b, 15*time.Minute, "the rollout", func() bool {
		st, err := c.Rollout(b.Context(), id)
		if err != nil {
			b.Fatal(err)
		}
		active := 0
		for _, a := range st.Agents {
			if rollout.Active(a.State) {
				active++
			}
		}
		peak = max(peak, active, st.Updating)
		if active > limit {
			b.Fatalf("%d agents updating at once, limit %d", active, limit)
		}
		if st.Status == rollout.StatusHalted {
			b.Fatalf("rollout halted: %v", st.Counts)
		}
		return st.Status == rollout.StatusDone
	})
	el := time.Since(start)
	b.StopTimer()
	served := metricValue(b, p.URL, "unyo_rollout_bytes_served_total") - served0
	cpu := procCPU(b, p.Pid()) - cpu0
	hwm := procHWM(b, p.Pid())
	b.ReportMetric(el.Seconds(), "s/rollout")
	b.ReportMetric(float64(size)/1e6, "MB/binary")
	b.ReportMetric(float64(peak), "peak-updating")
	b.ReportMetric(served/1e6, "MB-served")
	b.ReportMetric(cpu.Seconds(), "node-cpu-s")
	b.ReportMetric(float64(hwm)/(1<<20), "node-peak-MB")
	// Each agent's download time, from its log.
	var sum, worst time.Duration
	for _, a := range fleet {
		m := tookRE.FindStringSubmatch(a.log.String())
		if m == nil {
			b.Fatalf("%s logged no download time", a.name)
		}
		d, _ := time.ParseDuration(m[1])
		sum, worst = sum+d, max(worst, d)
	}
	b.ReportMetric((sum / time.Duration(len(fleet))).Seconds(), "s/download-mean")
	b.ReportMetric(worst.Seconds(), "s/download-max")
}

// tookRE finds an agent's logged download time.
var tookRE = regexp.MustCompile(`msg="update: (?:differential|full) download".* took=([0-9.a-zµ]+)`)

// prevRelease writes dir/unyo-prev: the release binary with its version
// a patch level lower (9.9.7-test, the string changed in place), i.e. the
// same build a patch version before.
func prevRelease(t testing.TB, rel, dir string) string {
	t.Helper()
	b, err := os.ReadFile(rel)
	if err != nil {
		t.Fatal(err)
	}
	prev := filepath.Join(dir, "unyo-prev")
	if err := os.WriteFile(prev, bytes.ReplaceAll(b, []byte(testRelease), []byte(prevVersion)), 0o755); err != nil {
		t.Fatal(err)
	}
	return prev
}

// prevVersion is prevRelease's version (as long as testRelease).
const prevVersion = "9.9.7-test"

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// procHWM is process pid's peak RSS (VmHWM) in bytes.
func procHWM(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
