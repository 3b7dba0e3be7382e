package test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/jobnet/runstate"
	"github.com/unyo-ops/unyo/test/testutil"
)

// startRuns is how many times TestClusterStartConverges starts a
// cluster: UNYO_START_RUNS (the check is 20; make test runs 3).
func startRuns(t *testing.T) int {
	v := os.Getenv("UNYO_START_RUNS")
	if v == "" {
		return 3
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("UNYO_START_RUNS=%q: want a positive count", v)
	}
	return n
}

const startJobnet = `jobnets:
  - name: hello
    jobs:
      - {name: a, command: /bin/true}
`

// TestClusterStartConverges starts three real nodes at once, as the
// documentation says, again and again (one cluster at a time): every time
// all three become ready (no node exits by itself, whatever the order in
// which their NATS servers, JetStream quorum, streams and Raft come up),
// form one Raft cluster of three, and run a job through the job streams.
// UNYO_START_RUNS=20 runs the check.
func TestClusterStartConverges(t *testing.T) {
	t.Parallel()
	runs := startRuns(t)
	for i := range runs {
		t.Run(fmt.Sprintf("start%02d", i+1), func(t *testing.T) {
			began := time.Now()
			c := startThree(t, startJobnet)
			l := c.leader()
			st, err := c.status(l)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Members) != 3 {
				t.Fatalf("leader %s has %d members, want 3: %+v", c.names[l], len(st.Members), st.Members)
			}
			// A job runs through the cluster, asked of a follower.
			f := (l + 1) % 3
			cl := testutil.Client(t, "http://"+c.addrs[f])
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			id, err := cl.StartRun(ctx, "hello", nil)
			if err != nil {
				t.Fatalf("jobnet run on %s: %v", c.names[f], err)
			}
			waitFor(t, "the run to end normally", func() bool {
				r, err := cl.Run(ctx, id)
				return err == nil && r.Status == runstate.StatusNormal
			})
			for i, p := range c.procs {
				if p.Exited() {
					t.Fatalf("node %s exited:\n%s", c.names[i], p.Log())
				}
			}
			t.Logf("cluster formed and ran a job %s after the start", time.Since(began).Round(100*time.Millisecond))
			for _, p := range c.procs {
				p.Stop()
			}
		})
	}
}
