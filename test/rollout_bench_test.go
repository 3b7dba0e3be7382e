package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/rollout"
	"github.com/unyo-ops/unyo/test/testutil"
)

// BenchmarkRollout measures a rollout of the real unyo binary (built with
// another version) to 40 real agents at 15 at once on one node:
//
//	go test ./test -run '^$' -bench BenchmarkRollout -benchtime 1x
//
// It reports the wall time from `rollout start` to the last agent done,
// the binary's size and the most agents seen updating at once.
func BenchmarkRollout(b *testing.B) {
	rel := releaseBinary(b)
	fi, err := os.Stat(rel)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		priv, pub := releaseKeys(b, dir)
		relFile := filepath.Join(dir, "unyo-new")
		if err := os.Link(rel, relFile); err != nil {
			b.Fatal(err)
		}
		sig := signFile(b, priv, relFile)
		const n = 40
		names := make([]string, n)
		for j := range names {
			names[j] = fmt.Sprintf("b%02d", j)
		}
		p, natsURL, trust := fleetNode(b, dir, pub, names, "fleet", "")
		for _, name := range names {
			newFleetAgent(b, dir, name, natsURL, trust, pub).start(b)
		}
		srv := "--server=" + p.URL
		unyoTB(b, 0, "release", "add", "--version", testRelease, "--file", relFile, "--sig", sig, srv)
		c, _ := client.New(p.URL, client.WithToken(testutil.AdminToken))
		b.StartTimer()
		start := time.Now()
		id := strings.TrimSpace(unyoTB(b, 0, "rollout", "start", "--release", testRelease, "--max-concurrent", "15", srv))
		peak := 0
		waitLong(b, 10*time.Minute, "the rollout", func() bool {
			st, err := c.Rollout(b.Context(), id)
			if err != nil {
				b.Fatal(err)
			}
			peak = max(peak, st.Updating)
			return st.Status == rollout.StatusDone
		})
		el := time.Since(start)
		b.StopTimer()
		b.ReportMetric(el.Seconds(), "s/rollout")
		b.ReportMetric(float64(fi.Size())/1e6, "MB/binary")
		b.ReportMetric(float64(peak), "peak-updating")
	}
}
