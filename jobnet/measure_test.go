package jobnet

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/cluster/clustertest"
)

// TestMeasureThroughput: no-op jobs through a 3-node cluster (every start
// and end committed through Raft), started by operator starts from 8
// goroutines. Set UNYO_JOBNET_MEASURE=1.
func TestMeasureThroughput(t *testing.T) {
	if os.Getenv("UNYO_JOBNET_MEASURE") == "" {
		t.Skip("set UNYO_JOBNET_MEASURE=1")
	}
	c := clustertest.Start(t, 3)
	leader := c.WaitLeader()
	yaml := `
jobnets:
  - name: noop
    concurrency: allow
    jobs: [{name: a, command: /bin/true}]
`
	e, err := New(Options{Node: leader, Log: ClusterLog{Node: c.Node(leader)}, Nets: compile(t, yaml), Local: noop{},
		Tick: 10 * time.Millisecond, KeepEnded: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	const n = 2000
	start := time.Now()
	var wg sync.WaitGroup
	ids := make(chan string, n)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/8; i++ {
				id, err := e.Start(ctx, "noop", nil, "", "bench")
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}
		}()
	}
	wg.Wait()
	close(ids)
	fired := time.Since(start)
	// Wait until every run has ended (archived or ended).
	for {
		live := 0
		for _, r := range e.Runs() {
			if r.Live() {
				live++
			}
		}
		if live == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("%d no-op jobs through 3-node Raft: fired in %v, all ended in %v: %.0f jobs/s", n, fired.Round(time.Millisecond), took.Round(time.Millisecond), float64(n)/took.Seconds())
}
