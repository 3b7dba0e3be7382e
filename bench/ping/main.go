// Command ping measures unyo's ping engine (the shared-socket Pinger driven
// by the real scheduler, its results going through a node's check-result
// pipeline) and fping on the same targets, side by side in one run, for
// each target count given: probes scheduled and sent per second, replies,
// and the CPU cost per probe with its ratio (goal: at most 1.0, with every
// scheduled probe sent). CPU time is user+system from getrusage: the
// process's own for unyo, its children's for fping.
//
// unyo's events go, as on a node without a cluster, into a durable spool
// (fsync'd appends) that a forwarder publishes to an embedded JetStream
// (-sink=spool, the default; -sink=count only counts them); its samples
// into a ring. The measured period starts one interval after every target
// was checked once (its first event raised) and lasts whole intervals, so
// that exactly n × packets × duration/interval probes are due in it; the
// lag of the rounds behind their slots and the slots missed say whether
// the schedule was kept.
//
// Only loopback addresses (127.1.0.1 upward, all distinct) are probed.
//
//	go run ./bench/ping                                  # 10,000 and 100,000 targets
//	go run ./bench/ping -n 10000 -interval 10s -duration 30s -packets 1
//	go run ./bench/ping -n 10000 -packets 3 -fping=false -cpuprofile cpu.out
//	go run ./bench/ping -n 100000 -fping=false -duration 4m -memprofile heap.out
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/bus/spool"
	"github.com/unyo-ops/unyo/monitor"
	"github.com/unyo-ops/unyo/monitor/ping"
	"github.com/unyo-ops/unyo/monitor/scheduler"
	"github.com/unyo-ops/unyo/monitor/target"
)

func main() { os.Exit(run()) }

type params struct {
	interval, duration time.Duration
	packets            int
	mode, cpuprofile   string
	memprofile         string
	sink               string
}

// figures are one side's measurement.
type figures struct {
	scheduled, sent, replies float64 // per second
	cpu                      float64 // µs per probe sent
}

func run() int {
	sizes := flag.String("n", "10000,100000", "target counts, comma separated (each at most 200000)")
	interval := flag.Duration("interval", 10*time.Second, "check interval")
	duration := flag.Duration("duration", 20*time.Second, "measured time per target count (whole intervals)")
	packets := flag.Int("packets", 1, "echo requests per check")
	mode := flag.String("mode", "auto", "socket mode: auto, unprivileged, privileged")
	fping := flag.Bool("fping", true, "also run fping on the same targets")
	sink := flag.String("sink", "spool", "where unyo's events go: spool (a node's spool and forwarder to an embedded JetStream) or count")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the measured unyo period (of the last target count) to this file")
	memprofile := flag.String("memprofile", "", "write a heap profile at the end of the measured unyo period (of the last target count) to this file")
	flag.Parse()
	var ns []int
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 200000 {
			fmt.Fprintf(os.Stderr, "bench/ping: -n %q: want counts of 1 to 200000\n", f)
			return 2
		}
		ns = append(ns, n)
	}
	if *interval < time.Second || *interval > time.Minute {
		fmt.Fprintln(os.Stderr, "bench/ping: -interval: from 1s to 1m")
		return 2
	}
	if *duration > 5*time.Minute || *duration < *interval {
		fmt.Fprintln(os.Stderr, "bench/ping: -duration: from -interval to 5m")
		return 2
	}
	if *packets < 1 || *packets > 10 {
		fmt.Fprintln(os.Stderr, "bench/ping: -packets: 1 to 10")
		return 2
	}
	if *sink != "spool" && *sink != "count" {
		fmt.Fprintln(os.Stderr, "bench/ping: -sink: spool or count")
		return 2
	}
	bin := ""
	if *fping {
		var err error
		if bin, err = exec.LookPath("fping"); err != nil {
			fmt.Fprintln(os.Stderr, "bench/ping: fping not installed (apt-get install fping, or scripts/test-deps.sh); or -fping=false")
			return 1
		}
	}
	pr := params{interval: *interval, duration: (*duration / *interval) * *interval, packets: *packets, mode: *mode, cpuprofile: *cpuprofile, memprofile: *memprofile, sink: *sink}
	type row struct {
		n           int
		unyo, fping figures
	}
	var rows []row
	for _, n := range ns {
		addrs := make([]netip.Addr, n)
		for i := range addrs {
			addrs[i] = netip.AddrFrom4([4]byte{127, byte(1 + i/64000), byte(i % 64000 / 250), byte(i%250 + 1)})
		}
		u, err := measureUnyo(addrs, pr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench/ping:", err)
			return 1
		}
		r := row{n: n, unyo: u}
		if bin != "" {
			if r.fping, err = measureFping(bin, addrs, pr); err != nil {
				fmt.Fprintln(os.Stderr, "bench/ping:", err)
				return 1
			}
			fmt.Printf("ratio n=%d unyo/fping cpu per probe = %.2f (goal <= 1.0)\n\n", n, u.cpu/r.fping.cpu)
		}
		rows = append(rows, r)
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("interval=%s packets/check=%d sink=%s loadavg=%s\n", pr.interval, pr.packets, pr.sink, strings.TrimSpace(string(load)))
	fmt.Printf("%-8s %9s | %9s %9s %9s | %9s %9s %9s | %6s\n", "targets", "sched/s", "unyo", "replies", "µs/probe", "fping", "replies", "µs/probe", "ratio")
	fmt.Printf("%-8s %9s | %9s %9s %9s | %9s %9s %9s | %6s\n", "", "", "sent/s", "/s", "cpu", "sent/s", "/s", "cpu", "cpu")
	for _, r := range rows {
		f, ratio := r.fping, "-"
		if f.cpu > 0 {
			ratio = fmt.Sprintf("%.2f", r.unyo.cpu/f.cpu)
		}
		fmt.Printf("%-8d %9.0f | %9.0f %9.0f %9.1f | %9.0f %9.0f %9.1f | %6s\n", r.n, r.unyo.scheduled,
			r.unyo.sent, r.unyo.replies, r.unyo.cpu, f.sent, f.replies, f.cpu, ratio)
	}
	return 0
}

// pipeline is where the scheduler's events go: a node's spool with its
// forwarder to an embedded JetStream, or a counter.
type pipeline struct {
	sink   monitor.Sink
	events atomic.Int64
	sp     *spool.Spool
	close  func()
}

func newPipeline(kind string, reg prometheus.Registerer) (*pipeline, error) {
	p := &pipeline{close: func() {}}
	if kind == "count" {
		p.sink = monitor.SinkFunc(func(context.Context, incident.Event) error { p.events.Add(1); return nil })
		return p, nil
	}
	dir, err := os.MkdirTemp("", "unyo-bench-ping-spool")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	b, err := bus.Open(ctx, bus.Options{StoreDir: filepath.Join(dir, "js")})
	if err != nil {
		cancel()
		os.RemoveAll(dir)
		return nil, err
	}
	sp, err := spool.Open(spool.Options{Dir: filepath.Join(dir, "spool"), Registerer: reg})
	if err != nil {
		cancel()
		b.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	done := make(chan struct{})
	go func() { defer close(done); sp.Forward(ctx, b.PublishEntries, spool.ForwardOptions{}) }()
	p.sp, p.sink = sp, bus.NewIngest(b, sp)
	p.close = func() {
		cancel()
		<-done
		sp.Close()
		b.Close()
		os.RemoveAll(dir)
	}
	return p, nil
}

// measureUnyo runs the scheduler's ping loop over addrs: warm-up until
// every target was checked once, then pr.duration measured.
func measureUnyo(addrs []netip.Addr, pr params) (figures, error) {
	n := len(addrs)
	reg := prometheus.NewRegistry()
	pl, err := newPipeline(pr.sink, reg)
	if err != nil {
		return figures{}, err
	}
	defer pl.close()
	pinger, err := ping.New(ping.Options{Mode: pr.mode}, reg, nil)
	if err != nil {
		return figures{}, err
	}
	defer pinger.Close()
	s, err := scheduler.New(scheduler.Options{Sink: pl.sink, Samples: scheduler.NewRing(n * 6), Pinger: pinger, Registerer: reg})
	if err != nil {
		return figures{}, err
	}
	s.Start(context.Background())
	defer s.Stop()
	pc := ping.Config{Interval: pr.interval, Packets: pr.packets, PacketInterval: 200 * time.Millisecond, Timeout: time.Second, DownAfter: 3}
	ts := make([]target.Target, n)
	for i, a := range addrs {
		c := pc
		ts[i] = target.Target{Name: fmt.Sprintf("lo%06d", i), Address: a.String(), Ping: &c}
	}
	t0 := time.Now()
	if err := s.SetTargets(ts); err != nil {
		return figures{}, err
	}
	// Warm-up: every target checked once (its first outcome raises its
	// first event, published in the next moments), then one more
	// interval; at most four intervals in all.
	setup := time.Since(t0)
	for time.Since(t0) < 3*pr.interval+setup && counter(reg, "unyo_monitor_checks_total") < float64(n) {
		time.Sleep(100 * time.Millisecond)
	}
	warm := snapshot(reg)
	time.Sleep(pr.interval)
	c0 := snapshot(reg)
	if pr.cpuprofile != "" {
		f, err := os.Create(pr.cpuprofile)
		if err != nil {
			return figures{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return figures{}, err
		}
	}
	ru0 := rusage(syscall.RUSAGE_SELF)
	m0 := time.Now()
	var peakHeap uint64
	for time.Since(m0) < pr.duration {
		time.Sleep(min(time.Second, pr.duration-time.Since(m0)))
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peakHeap = max(peakHeap, ms.HeapAlloc)
	}
	el := time.Since(m0)
	ru1 := rusage(syscall.RUSAGE_SELF)
	if pr.cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	c1 := snapshot(reg)
	d := c1.minus(c0)
	if pr.memprofile != "" {
		f, err := os.Create(pr.memprofile)
		if err != nil {
			return figures{}, err
		}
		err = pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
		if err != nil {
			return figures{}, err
		}
	}
	w := c0.minus(warm)
	cpu := cpuTime(ru1) - cpuTime(ru0)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	down := 0
	for _, sn := range s.Tracker().Snapshots("") {
		if sn.Status != target.Up {
			down++
		}
	}
	f := figures{
		scheduled: float64(n*pr.packets) / pr.interval.Seconds(),
		sent:      d.sent / el.Seconds(), replies: d.received / el.Seconds(),
	}
	fmt.Printf("unyo  targets=%d interval=%s packets/check=%d privileged=%v sink=%s goroutines=%d setup=%.1fs\n",
		n, pr.interval, pr.packets, pinger.Privileged(), pr.sink, runtime.NumGoroutine(), setup.Seconds())
	fmt.Printf("unyo  wall=%.1fs cpu=%.2fs (user %.2fs sys %.2fs) share=%.1f%% of one core\n", el.Seconds(), cpu.Seconds(),
		tv(ru1.Utime)-tv(ru0.Utime), tv(ru1.Stime)-tv(ru0.Stime), 100*cpu.Seconds()/el.Seconds())
	fmt.Printf("unyo  probes scheduled=%.0f/s sent=%.0f (%.0f/s, %.1f%% of schedule) replies=%.0f checks=%.0f missed-slots=%.0f lag-max<=%s cpu/probe=%.1fµs\n",
		f.scheduled, d.sent, f.sent, 100*f.sent/f.scheduled, d.received, d.checks, d.missed, lagBound(d.lag), cpu.Seconds()/d.sent*1e6)
	fmt.Printf("unyo  rounds started late by at most: %s\n", lagShares(d.lag))
	fmt.Printf("unyo  last warm-up interval: sent=%.0f missed-slots=%.0f lag-max<=%s\n", w.sent, w.missed, lagBound(w.lag))
	fmt.Printf("unyo  not-up=%d events: published=%.0f (by the end of warm-up %.0f) errors=%.0f spooled-now=%d\n", down, c1.events, c0.events, c1.publishErrs, pl.depth())
	fmt.Printf("unyo  heap now=%.1fMiB peak=%.1fMiB sys=%.1fMiB maxrss=%.1fMiB gc-cycles=%d\n", mib(ms.HeapAlloc), mib(peakHeap), mib(ms.Sys), float64(ru1.Maxrss)/1024, ms.NumGC)
	if d.sent == 0 {
		return f, fmt.Errorf("unyo sent no probe in %s", el)
	}
	f.cpu = cpu.Seconds() / d.sent * 1e6
	return f, nil
}

func (p *pipeline) depth() int {
	if p.sp == nil {
		return 0
	}
	return int(p.sp.Status().Entries)
}

// counts are the scheduler's and pinger's counters at one time.
type counts struct {
	sent, received, checks, missed, events, publishErrs float64
	lag                                                 map[float64]uint64 // cumulative bucket counts of the lag histogram
}

func snapshot(reg *prometheus.Registry) counts {
	c := counts{
		sent: counter(reg, "unyo_ping_packets_sent_total"), received: counter(reg, "unyo_ping_packets_received_total"),
		checks: counter(reg, "unyo_monitor_checks_total"), missed: counter(reg, "unyo_monitor_ping_missed_slots_total"),
		events: counter(reg, "unyo_monitor_events_total"), publishErrs: counter(reg, "unyo_monitor_event_publish_errors_total"),
		lag: map[float64]uint64{},
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "unyo_monitor_ping_schedule_lag_seconds" {
			h := mf.GetMetric()[0].GetHistogram()
			for _, b := range h.GetBucket() {
				c.lag[b.GetUpperBound()] = b.GetCumulativeCount()
			}
			c.lag[math.Inf(1)] = h.GetSampleCount()
		}
	}
	return c
}

func (c counts) minus(o counts) counts {
	d := counts{sent: c.sent - o.sent, received: c.received - o.received, checks: c.checks - o.checks,
		missed: c.missed - o.missed, events: c.events - o.events, publishErrs: c.publishErrs - o.publishErrs, lag: map[float64]uint64{}}
	for k, v := range c.lag {
		d.lag[k] = v - o.lag[k]
	}
	return d
}

// lagBound is the smallest bucket bound of the lag histogram (a delta)
// that holds every observation.
func lagBound(lag map[float64]uint64) string {
	all := lag[math.Inf(1)]
	best := math.Inf(1)
	for ub, n := range lag {
		if n == all && ub < best {
			best = ub
		}
	}
	if math.IsInf(best, 1) {
		return "inf"
	}
	return strconv.FormatFloat(best, 'g', -1, 64) + "s"
}

// lagShares gives the share of the rounds within a few bounds of the lag
// histogram (a delta).
func lagShares(lag map[float64]uint64) string {
	all := lag[math.Inf(1)]
	if all == 0 {
		return "no rounds"
	}
	var b strings.Builder
	for _, ub := range []float64{.01, .02, .05, .1, .5, 1} {
		fmt.Fprintf(&b, "%gs %.2f%%, ", ub, 100*float64(lag[ub])/float64(all))
	}
	fmt.Fprintf(&b, "of %d rounds", all)
	return b.String()
}

// measureFping probes addrs with fping, one run per interval as unyo's
// checks are spread over it (-i: ms between packets to different
// targets), for as many rounds as pr.duration holds; it returns its
// figures, CPU per probe counting every request.
func measureFping(bin string, addrs []netip.Addr, pr params) (figures, error) {
	dir, err := os.MkdirTemp("", "unyo-bench-ping")
	if err != nil {
		return figures{}, err
	}
	defer os.RemoveAll(dir)
	list := filepath.Join(dir, "targets")
	var b strings.Builder
	for _, a := range addrs {
		b.WriteString(a.String() + "\n")
	}
	if err := os.WriteFile(list, []byte(b.String()), 0o600); err != nil {
		return figures{}, err
	}
	n := len(addrs)
	gap := strconv.FormatFloat(max(float64(pr.interval.Microseconds())/float64(n)/1000, 0.01), 'f', 3, 64)
	rounds := max(int(pr.duration/pr.interval), 1)
	args := []string{"-q", "-C", fmt.Sprint(pr.packets), "-i", gap, "-p", "200", "-t", "1000", "-f", list}
	c0 := rusage(syscall.RUSAGE_CHILDREN)
	f0 := time.Now()
	replies := 0
	for range rounds {
		rs := time.Now()
		cmd := exec.Command(bin, args...)
		var out bytes.Buffer
		cmd.Stderr = &out // -q -C: one line per target, its RTTs or "-" per request
		_ = cmd.Run()     // exit status 1 when some targets are unreachable; not an error here
		replies += countReplies(&out)
		if d := time.Since(rs); d < pr.interval {
			time.Sleep(pr.interval - d)
		}
	}
	fel := time.Since(f0)
	c1 := rusage(syscall.RUSAGE_CHILDREN)
	fcpu := cpuTime(c1) - cpuTime(c0)
	fprobes := float64(rounds * n * pr.packets)
	fmt.Printf("fping %s %s (x%d rounds)\n", bin, strings.Join(args, " "), rounds)
	fmt.Printf("fping wall=%.1fs cpu=%.2fs (user %.2fs sys %.2fs) share=%.1f%% probes=%.0f (%.0f/s) replies=%d cpu/probe=%.1fµs\n",
		fel.Seconds(), fcpu.Seconds(), tv(c1.Utime)-tv(c0.Utime), tv(c1.Stime)-tv(c0.Stime), 100*fcpu.Seconds()/fel.Seconds(),
		fprobes, fprobes/fel.Seconds(), replies, fcpu.Seconds()/fprobes*1e6)
	return figures{
		scheduled: float64(n*pr.packets) / pr.interval.Seconds(),
		sent:      fprobes / fel.Seconds(), replies: float64(replies) / fel.Seconds(),
		cpu: fcpu.Seconds() / fprobes * 1e6,
	}, nil
}

// countReplies counts the RTTs in fping -C's summary lines
// ("127.1.0.1 : 0.05 -"), a lost request being "-".
func countReplies(out *bytes.Buffer) int {
	n := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		_, rtts, ok := strings.Cut(sc.Text(), " : ")
		if !ok {
			continue
		}
		for _, f := range strings.Fields(rtts) {
			if f != "-" {
				n++
			}
		}
	}
	return n
}

func rusage(who int) syscall.Rusage {
	var r syscall.Rusage
	syscall.Getrusage(who, &r)
	return r
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func cpuTime(r syscall.Rusage) time.Duration {
	return time.Duration((tv(r.Utime) + tv(r.Stime)) * float64(time.Second))
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func counter(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
			return sum
		}
	}
	return 0
}
