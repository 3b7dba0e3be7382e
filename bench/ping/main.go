// Command ping measures the cost of pinging many targets with unyo's
// shared-socket pinger through the real scheduler, and of probing the same
// targets with fping, and prints CPU share and memory.
//
// Only loopback addresses (127.x.y.z) are probed.
//
//	go run ./bench/ping -n 10000 -interval 10s -duration 30s -packets 1
//	go run ./bench/ping -n 10000 -interval 10s -duration 30s -packets 3 -fping=false
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

func run() int {
	n := flag.Int("n", 10000, "targets (127.1.0.1 upward; at most 60000)")
	interval := flag.Duration("interval", 10*time.Second, "check interval")
	duration := flag.Duration("duration", 30*time.Second, "measured time")
	packets := flag.Int("packets", 1, "echo requests per check")
	mode := flag.String("mode", "auto", "socket mode: auto, unprivileged, privileged")
	fping := flag.Bool("fping", true, "also run fping on the same targets")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the measured unyo period to this file")
	flag.Parse()
	if *n < 1 || *n > 60000 || *duration > 5*time.Minute {
		fmt.Fprintln(os.Stderr, "bench/ping: -n 1..60000, -duration at most 5m")
		return 2
	}
	addrs := make([]netip.Addr, *n)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{127, 1 + byte(i/65000), byte(i / 250 % 256), byte(i%250 + 1)})
	}

	reg := prometheus.NewRegistry()
	pinger, err := ping.New(ping.Options{Mode: *mode}, reg, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer pinger.Close()
	var events int
	sink := monitor.SinkFunc(func(context.Context, incident.Event) error { events++; return nil })
	s, err := scheduler.New(scheduler.Options{Sink: sink, Samples: scheduler.NewRing(*n * 6), Pinger: pinger, Registerer: reg})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s.Start(context.Background())
	pc := ping.Config{Interval: *interval, Packets: *packets, PacketInterval: 200 * time.Millisecond, Timeout: time.Second, DownAfter: 3}
	ts := make([]target.Target, *n)
	for i, a := range addrs {
		c := pc
		ts[i] = target.Target{Name: fmt.Sprintf("lo%05d", i), Address: a.String(), Ping: &c}
	}
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	if err := s.SetTargets(ts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Let the first interval pass so every schedule is running, then measure.
	time.Sleep(*interval)
	sent0, recv0 := counter(reg, "unyo_ping_packets_sent_total"), counter(reg, "unyo_ping_packets_received_total")
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	ru0 := rusage(syscall.RUSAGE_SELF)
	t0 := time.Now()
	var peakHeap uint64
	for time.Since(t0) < *duration {
		time.Sleep(time.Second)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peakHeap = max(peakHeap, ms.HeapAlloc)
	}
	el := time.Since(t0)
	ru1 := rusage(syscall.RUSAGE_SELF)
	if *cpuprofile != "" {
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
	goroutines := runtime.NumGoroutine()
	s.Stop()
	fmt.Printf("unyo  targets=%d interval=%s packets/check=%d privileged=%v goroutines=%d\n", *n, *interval, *packets, pinger.Privileged(), goroutines)
	fmt.Printf("unyo  wall=%.1fs cpu=%.2fs (user %.2fs sys %.2fs) share=%.1f%% of one core\n", el.Seconds(), cpu.Seconds(),
		tv(ru1.Utime)-tv(ru0.Utime), tv(ru1.Stime)-tv(ru0.Stime), 100*cpu.Seconds()/el.Seconds())
	fmt.Printf("unyo  probes sent=%.0f received=%.0f (%.0f/s) cpu/probe=%.1fµs not-up=%d events=%d\n", sent, recv, sent/el.Seconds(), cpu.Seconds()/sent*1e6, down, events)
	fmt.Printf("unyo  heap now=%.1fMiB peak=%.1fMiB sys=%.1fMiB maxrss=%.1fMiB\n", mib(ms.HeapAlloc), mib(peakHeap), mib(ms.Sys), float64(ru1.Maxrss)/1024)

	if !*fping {
		return 0
	}
	bin, err := exec.LookPath("fping")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fping not installed (apt-get install fping); skipping the comparison")
		return 1
	}
	dir, _ := os.MkdirTemp("", "unyo-bench-ping")
	defer os.RemoveAll(dir)
	list := filepath.Join(dir, "targets")
	var b strings.Builder
	for _, a := range addrs {
		b.WriteString(a.String() + "\n")
	}
	os.WriteFile(list, []byte(b.String()), 0o600)
	// One round per interval, each round spreading the targets over the
	// interval like unyo does (-i: ms between packets to different targets).
	gap := max(1, int(interval.Milliseconds())/(*n))
	rounds := int(duration.Seconds() / interval.Seconds())
	args := []string{"-q", "-C", fmt.Sprint(*packets), "-i", fmt.Sprint(gap), "-p", "200", "-t", "1000", "-f", list}
	c0 := rusage(syscall.RUSAGE_CHILDREN)
	f0 := time.Now()
	for r := 0; r < max(rounds, 1); r++ {
		rs := time.Now()
		cmd := exec.Command(bin, args...)
		cmd.Run() // exit status 1 when some targets are unreachable; not an error here
		if d := time.Since(rs); d < *interval {
			time.Sleep(*interval - d)
		}
	}
	fel := time.Since(f0)
	c1 := rusage(syscall.RUSAGE_CHILDREN)
	fcpu := cpuTime(c1) - cpuTime(c0)
	fprobes := float64(max(rounds, 1) * *n * *packets)
	fmt.Printf("fping %s %s (x%d rounds)\n", bin, strings.Join(args, " "), max(rounds, 1))
	fmt.Printf("fping wall=%.1fs cpu=%.2fs (user %.2fs sys %.2fs) share=%.1f%% probes=%.0f cpu/probe=%.1fµs\n",
		fel.Seconds(), fcpu.Seconds(), tv(c1.Utime)-tv(c0.Utime), tv(c1.Stime)-tv(c0.Stime), 100*fcpu.Seconds()/fel.Seconds(), fprobes, fcpu.Seconds()/fprobes*1e6)
	fmt.Printf("ratio unyo/fping cpu per probe = %.2f\n", (cpu.Seconds()/sent)/(fcpu.Seconds()/fprobes))
	return 0
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
