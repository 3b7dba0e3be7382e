package jobnet

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
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
	hist := &delays{}
	e, err := New(Options{Node: leader, Log: ClusterLog{Node: c.Node(leader)}, Nets: compile(t, yaml), Local: noop{},
		Tick: 10 * time.Millisecond, KeepEnded: time.Millisecond, History: hist})
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
	p50, p99, got := hist.percentiles()
	t.Logf("start delay (job started - run scheduled) over %d runs: p50 %v, p99 %v", got, p50, p99)
}

// TestMeasureScheduleDelay: 20 jobnets each scheduled every second
// through a 3-node cluster with the default tick; the start delay is when
// each run's job started after its scheduled time. Set
// UNYO_JOBNET_MEASURE=1.
func TestMeasureScheduleDelay(t *testing.T) {
	if os.Getenv("UNYO_JOBNET_MEASURE") == "" {
		t.Skip("set UNYO_JOBNET_MEASURE=1")
	}
	c := clustertest.Start(t, 3)
	leader := c.WaitLeader()
	var yaml strings.Builder
	yaml.WriteString("jobnets:\n")
	for i := range 20 {
		fmt.Fprintf(&yaml, `  - name: s%d
    schedules: [{cron: "@every 1s"}]
    calendar: {business_days: [mon, tue, wed, thu, fri, sat, sun]}
    concurrency: allow
    jobs: [{name: a, command: /bin/true}, {name: b, command: /bin/true, needs: [a]}]
`, i)
	}
	hist := &delays{}
	e, err := New(Options{Node: leader, Log: ClusterLog{Node: c.Node(leader)}, Nets: compile(t, yaml.String()), Local: noop{},
		KeepEnded: time.Millisecond, History: hist})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	time.Sleep(8 * time.Second)
	cancel()
	<-done
	p50, p99, got := hist.percentiles()
	t.Logf("scheduled start delay over %d runs of 20 jobnets @every 1s (3-node Raft, default tick): p50 %v, p99 %v", got, p50, p99)
}

// delays is a RunHistoryStore that keeps each run's start delay: when its
// job started after the run's scheduled time.
type delays struct {
	mu sync.Mutex
	d  map[string]time.Duration
}

func (h *delays) RecordRun(_ context.Context, r ledger.RunRecord) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.d == nil {
		h.d = map[string]time.Duration{}
	}
	for _, j := range r.Jobs {
		if !j.Started.IsZero() {
			h.d[r.ID] = j.Started.Sub(r.Scheduled)
			break // the first job
		}
	}
	return nil
}

func (h *delays) Runs(context.Context, ledger.RunFilter) ([]ledger.RunRecord, error) { return nil, nil }

func (h *delays) RunDetail(context.Context, string) (ledger.RunRecord, error) {
	return ledger.RunRecord{}, nil
}

func (h *delays) percentiles() (p50, p99 time.Duration, n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var all []time.Duration
	for _, d := range h.d {
		all = append(all, d)
	}
	if len(all) == 0 {
		return 0, 0, 0
	}
	slices.Sort(all)
	return all[len(all)/2], all[len(all)*99/100], len(all)
}
