// Command ping measures the CPU cost per probe of unyo's ping engine (the
// shared-socket Pinger driven by the real scheduler) and of fping on the
// same targets, side by side in one run, for each target count given, and
// prints the ratio (goal: at most 1.0). CPU time is user+system from
// getrusage: the process's own for unyo (measured after one interval of
// warm-up), its children's for fping.
//
// Only loopback addresses (127.1.0.1 upward, all distinct) are probed.
//
//	go run ./bench/ping                                  # 10,000 and 100,000 targets
//	go run ./bench/ping -n 10000 -interval 10s -duration 30s -packets 1
//	go run ./bench/ping -n 10000 -packets 3 -fping=false -cpuprofile cpu.out
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/alerting/incident"
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
}

func run() int {
	sizes := flag.String("n", "10000,100000", "target counts, comma separated (each at most 200000)")
	interval := flag.Duration("interval", 10*time.Second, "check interval")
	duration := flag.Duration("duration", 20*time.Second, "measured time per target count")
	packets := flag.Int("packets", 1, "echo requests per check")
	mode := flag.String("mode", "auto", "socket mode: auto, unprivileged, privileged")
	fping := flag.Bool("fping", true, "also run fping on the same targets")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the measured unyo period (of the last target count) to this file")
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
	if *duration > 5*time.Minute || *duration < *interval {
		fmt.Fprintln(os.Stderr, "bench/ping: -duration: from -interval to 5m")
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
	pr := params{interval: *interval, duration: *duration, packets: *packets, mode: *mode, cpuprofile: *cpuprofile}
	type row struct {
		n           int
		unyo, fping float64 // µs per probe
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
			fmt.Printf("ratio n=%d unyo/fping cpu per probe = %.2f (goal <= 1.0)\n\n", n, u/r.fping)
		}
		rows = append(rows, r)
	}
	fmt.Printf("%-8s %14s %14s %7s\n", "targets", "unyo µs/probe", "fping µs/probe", "ratio")
	for _, r := range rows {
		if r.fping > 0 {
			fmt.Printf("%-8d %14.1f %14.1f %7.2f\n", r.n, r.unyo, r.fping, r.unyo/r.fping)
		} else {
			fmt.Printf("%-8d %14.1f %14s %7s\n", r.n, r.unyo, "-", "-")
		}
	}
	return 0
}

// measureUnyo runs the scheduler's ping loop over addrs for one interval
// of warm-up and pr.duration measured; it returns CPU µs per probe sent.
func measureUnyo(addrs []netip.Addr, pr params) (float64, error) {
	n := len(addrs)
	reg := prometheus.NewRegistry()
	pinger, err := ping.New(ping.Options{Mode: pr.mode}, reg, nil)
	if err != nil {
		return 0, err
	}
	defer pinger.Close()
	var events int
	sink := monitor.SinkFunc(func(context.Context, incident.Event) error { events++; return nil })
	s, err := scheduler.New(scheduler.Options{Sink: sink, Samples: scheduler.NewRing(n * 6), Pinger: pinger, Registerer: reg})
	if err != nil {
		return 0, err
	}
	s.Start(context.Background())
	defer s.Stop()
	pc := ping.Config{Interval: pr.interval, Packets: pr.packets, PacketInterval: 200 * time.Millisecond, Timeout: time.Second, DownAfter: 3}
	ts := make([]target.Target, n)
	for i, a := range addrs {
		c := pc
		ts[i] = target.Target{Name: fmt.Sprintf("lo%06d", i), Address: a.String(), Ping: &c}
	}
	if err := s.SetTargets(ts); err != nil {
		return 0, err
	}
	// Let the first interval pass so every schedule is running, then measure.
	time.Sleep(pr.interval)
	runtime.GC()
	sent0, recv0 := counter(reg, "unyo_ping_packets_sent_total"), counter(reg, "unyo_ping_packets_received_total")
	if pr.cpuprofile != "" {
		f, err := os.Create(pr.cpuprofile)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return 0, err
		}
	}
	ru0 := rusage(syscall.RUSAGE_SELF)
	t0 := time.Now()
	var peakHeap uint64
	for time.Since(t0) < pr.duration {
		time.Sleep(time.Second)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peakHeap = max(peakHeap, ms.HeapAlloc)
	}
	el := time.Since(t0)
	ru1 := rusage(syscall.RUSAGE_SELF)
	if pr.cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	sent, recv := counter(reg, "unyo_ping_packets_sent_total")-sent0, counter(reg, "unyo_ping_packets_received_total")-recv0
	cpu := cpuTime(ru1) - cpuTime(ru0)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	down := 0
	for _, sn := range s.Tracker().Snapshots("") {
		if sn.Status != target.Up {
			down++
		}
	}
	fmt.Printf("unyo  targets=%d interval=%s packets/check=%d privileged=%v goroutines=%d\n", n, pr.interval, pr.packets, pinger.Privileged(), runtime.NumGoroutine())
	fmt.Printf("unyo  wall=%.1fs cpu=%.2fs (user %.2fs sys %.2fs) share=%.1f%% of one core\n", el.Seconds(), cpu.Seconds(),
		tv(ru1.Utime)-tv(ru0.Utime), tv(ru1.Stime)-tv(ru0.Stime), 100*cpu.Seconds()/el.Seconds())
	fmt.Printf("unyo  probes sent=%.0f received=%.0f (%.0f/s) cpu/probe=%.1fµs not-up=%d events=%d\n", sent, recv, sent/el.Seconds(), cpu.Seconds()/sent*1e6, down, events)
	fmt.Printf("unyo  heap now=%.1fMiB peak=%.1fMiB sys=%.1fMiB maxrss=%.1fMiB\n", mib(ms.HeapAlloc), mib(peakHeap), mib(ms.Sys), float64(ru1.Maxrss)/1024)
	if sent == 0 {
		return 0, fmt.Errorf("unyo sent no probe in %s", el)
	}
	return cpu.Seconds() / sent * 1e6, nil
}

// measureFping probes addrs with fping, one run per interval as unyo's
// checks are spread over it (-i: ms between packets to different
// targets), for as many rounds as pr.duration holds; it returns CPU µs
// per probe.
func measureFping(bin string, addrs []netip.Addr, pr params) (float64, error) {
	dir, err := os.MkdirTemp("", "unyo-bench-ping")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	list := filepath.Join(dir, "targets")
	var b strings.Builder
	for _, a := range addrs {
		b.WriteString(a.String() + "\n")
	}
	if err := os.WriteFile(list, []byte(b.String()), 0o600); err != nil {
		return 0, err
	}
	n := len(addrs)
	gap := strconv.FormatFloat(max(float64(pr.interval.Microseconds())/float64(n)/1000, 0.01), 'f', 3, 64)
	rounds := max(int(pr.duration/pr.interval), 1)
	args := []string{"-q", "-C", fmt.Sprint(pr.packets), "-i", gap, "-p", "200", "-t", "1000", "-f", list}
	c0 := rusage(syscall.RUSAGE_CHILDREN)
	f0 := time.Now()
	for range rounds {
		rs := time.Now()
		cmd := exec.Command(bin, args...)
		_ = cmd.Run() // exit status 1 when some targets are unreachable; not an error here
		if d := time.Since(rs); d < pr.interval {
			time.Sleep(pr.interval - d)
		}
	}
	fel := time.Since(f0)
	c1 := rusage(syscall.RUSAGE_CHILDREN)
	fcpu := cpuTime(c1) - cpuTime(c0)
	fprobes := float64(rounds * n * pr.packets)
	fmt.Printf("fping %s %s (x%d rounds)\n", bin, strings.Join(args, " "), rounds)
	fmt.Printf("fping wall=%.1fs cpu=%.2fs (user %.2fs sys %.2fs) share=%.1f%% probes=%.0f cpu/probe=%.1fµs\n",
		fel.Seconds(), fcpu.Seconds(), tv(c1.Utime)-tv(c0.Utime), tv(c1.Stime)-tv(c0.Stime), 100*fcpu.Seconds()/fel.Seconds(), fprobes, fcpu.Seconds()/fprobes*1e6)
	return fcpu.Seconds() / fprobes * 1e6, nil
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
