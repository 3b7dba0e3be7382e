package test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/agent"
	"github.com/unyo-ops/unyo/agents"
	"github.com/unyo-ops/unyo/test/testutil"
)

// BenchmarkAgentsHeld measures how many agents one real node (`unyo
// serve`) holds: simulated agents in this process, each enrolled through
// the node's API with its own keys and its own NATS connection (NKey),
// send heartbeats through the real agent's code (agent.Agent.Heartbeat)
// every interval (10 s, the default) and report to the rollout service
// through the real updater (agent.Agent.Updater) as resident agents do.
// For each count in UNYO_BENCH_AGENTS (cumulative, ascending) it measures
// over a window of three intervals the heartbeats the node counted
// against those due, the agents the node holds live, and the node's CPU
// and RSS:
//
//	UNYO_BENCH_AGENTS=500,1000,2000 go test ./test -run '^$' -bench 'BenchmarkAgentsHeld$' -benchtime 1x -timeout 60m
//
// UNYO_BENCH_AGENTS_INTERVAL overrides the interval (e.g. 2s for a quick
// look); UNYO_BENCH_AGENTS_REPORTS=0 leaves the updater out.
func BenchmarkAgentsHeld(b *testing.B) {
	spec := os.Getenv("UNYO_BENCH_AGENTS")
	if spec == "" {
		b.Skip("set UNYO_BENCH_AGENTS=500,1000,... to measure the agents one node holds")
	}
	var steps []int
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 9000 {
			b.Fatalf("UNYO_BENCH_AGENTS: %q: want counts 1..9000", f)
		}
		steps = append(steps, n)
	}
	interval := 10 * time.Second
	if v := os.Getenv("UNYO_BENCH_AGENTS_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			b.Fatalf("UNYO_BENCH_AGENTS_INTERVAL: %q: want a duration of at least 1s", v)
		}
		interval = d
	}
	reports := os.Getenv("UNYO_BENCH_AGENTS_REPORTS") != "0"
	for i := 0; i < b.N; i++ {
		benchAgentsHeld(b, steps, interval, reports)
	}
}

func benchAgentsHeld(b *testing.B, steps []int, interval time.Duration, reports bool) {
	b.StopTimer()
	dir := b.TempDir()
	natsAddr, addr := testutil.FreePort(b), testutil.FreePort(b)
	cfg := oneNode("n1", dir, addr) + embeddedNATS(natsAddr) + fmt.Sprintf(`agents:
  enabled: true
  heartbeat: %s
  down_after: 3
`, interval)
	path := filepath.Join(dir, "unyo.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	p := testutil.Serve(b, path, addr)
	tok := strings.TrimSpace(unyoTB(b, 0, "agents", "token", "create", "--group", "bench", "--server="+p.URL))
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	var (
		mu      sync.Mutex
		held    []*agent.Agent
		running sync.WaitGroup
		failed  atomic.Int64
		retried atomic.Int64
	)
	defer func() {
		cancel()
		running.Wait()
		for _, a := range held {
			a.Close()
		}
	}()
	// add enrols and connects agents up to n, 8 at a time, and starts
	// their heartbeats (and reports) at a random phase.
	add := func(n int) {
		mu.Lock()
		from := len(held)
		mu.Unlock()
		work := make(chan int)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					name := fmt.Sprintf("s%05d", i)
					adir := filepath.Join(dir, "agents", name)
					if _, err := agent.Enroll(ctx, agent.EnrollOptions{Dir: adir, Server: p.URL, Token: tok, Group: "bench",
						Name: name, Kind: agents.KindResident, Version: "bench", HostID: "host-" + name, Slots: 1}); err != nil {
						b.Errorf("enrol %s: %v", name, err)
						failed.Add(1)
						continue
					}
					// A connection refused in a connect storm is tried
					// again, as systemd restarts a resident agent (5 s).
					var a *agent.Agent
					var err error
					for try := 0; try < 5; try++ {
						a, err = agent.Open(ctx, agent.Options{Dir: adir, Version: "bench", Heartbeat: interval, ReportEvery: interval})
						if err == nil || ctx.Err() != nil {
							break
						}
						retried.Add(1)
						time.Sleep(5 * time.Second)
					}
					if err != nil {
						b.Errorf("open %s: %v", name, err)
						failed.Add(1)
						continue
					}
					mu.Lock()
					held = append(held, a)
					mu.Unlock()
					running.Add(1)
					go func() {
						defer running.Done()
						phase := time.Duration(rand.Int64N(int64(interval)))
						select {
						case <-ctx.Done():
							return
						case <-time.After(phase):
						}
						if reports {
							up := a.Updater()
							up.Init(ctx, interval)
							go func() { _ = up.Run(ctx) }()
						}
						a.Heartbeat()
						t := time.NewTicker(interval)
						defer t.Stop()
						for {
							select {
							case <-ctx.Done():
								return
							case <-t.C:
								a.Heartbeat()
							}
						}
					}()
				}
			}()
		}
		for i := from; i < n; i++ {
			work <- i
		}
		close(work)
		wg.Wait()
	}
	const beatsOK = `unyo_agents_heartbeats_total{outcome="ok"}`
	for _, n := range steps {
		start := time.Now()
		add(n)
		if failed.Load() > 0 {
			b.Fatalf("%d agents could not enrol or connect", failed.Load())
		}
		enrolled := time.Since(start)
		// One interval (and a bit) for every agent's first beat and
		// report, then the window.
		time.Sleep(interval + interval/2)
		window := 3 * interval
		beats0, cpu0, t0 := metricValue(b, p.URL, beatsOK), procCPU(b, p.Pid()), time.Now()
		time.Sleep(window)
		beats1, cpu1, el := metricValue(b, p.URL, beatsOK), procCPU(b, p.Pid()), time.Since(t0)
		live := metricValue(b, p.URL, "unyo_agents_live")
		rss, _ := p.RSS()
		due := float64(n) * el.Seconds() / interval.Seconds()
		onTime := 100 * (beats1 - beats0) / due
		cores := (cpu1 - cpu0).Seconds() / el.Seconds()
		b.Logf("agents=%d heartbeats=%.0f/%.0f due (%.1f%%) live=%.0f node_cpu=%.2f cores node_rss=%.0f MB (enrolled and connected in %s, %d connections retried; interval %s, reports %v)",
			n, beats1-beats0, due, onTime, live, cores, float64(rss)/(1<<20), enrolled.Round(time.Second), retried.Load(), interval, reports)
		b.ReportMetric(float64(n), "agents")
		b.ReportMetric(onTime, "%on-time")
		b.ReportMetric(cores, "node-cores")
		b.ReportMetric(float64(rss)/(1<<20), "node-MB")
	}
}

// procCPU is the user and system CPU time of process pid (Linux).
func procCPU(t testing.TB, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// Fields 14 and 15 of stat (utime, stime), counted from the state
	// (field 3) here, in clock ticks of 1/100 s.
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}
