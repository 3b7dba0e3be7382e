// Command syslog measures the syslog receiver over UDP on 127.0.0.1 with the
// 50 filter rules of monitor/filter/testdata/rules50.yaml: a sender in this
// process writes realistic RFC 3164 lines (monitor/filter/testdata/corpus.txt)
// to the receiver, paced at -rate messages/s (0: as fast as it can) for at
// most -duration and -count messages, then waits for the receiver to go idle
// and prints what was sent, read, dropped and filtered, and the CPU used.
//
//	go run ./bench/syslog -rate 0 -duration 2s        # throughput
//	go run ./bench/syslog -rate 50000 -duration 2s    # loss at 50k msg/s
//
// Loopback only; bounded in count and time.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/monitor"
	"github.com/unyo-ops/unyo/monitor/filter"
	"github.com/unyo-ops/unyo/monitor/syslog"
)

func main() { os.Exit(run()) }

func run() int {
	rate := flag.Int("rate", 0, "messages per second to send (0: as fast as possible)")
	duration := flag.Duration("duration", 2*time.Second, "how long to send")
	count := flag.Int("count", 2_000_000, "most messages to send")
	workers := flag.Int("workers", syslog.DefaultWorkers, "receiver workers")
	rules := flag.String("rules", "monitor/filter/testdata/rules50.yaml", "filter rules")
	corpus := flag.String("corpus", "monitor/filter/testdata/corpus.txt", "lines app|level|text")
	flag.Parse()

	data, err := os.ReadFile(*rules)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fcfg, err := filter.LoadConfig(data)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	reg := prometheus.NewRegistry()
	eng, err := filter.New(fcfg, filter.NewMetrics(reg))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	lines, err := loadLines(*corpus)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var events atomic.Int64
	sink := monitor.SinkFunc(func(context.Context, incident.Event) error { events.Add(1); return nil })
	r, err := syslog.New(syslog.Config{UDPListen: "127.0.0.1:0", Workers: *workers, Timezone: "UTC"}, eng, sink, nil, reg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := r.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer r.Stop()
	udp, _ := r.Addr()
	conn, err := net.Dial("udp", udp.String())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()

	cpu0 := cpuTime()
	start := time.Now()
	sent := send(conn, lines, *rate, *duration, *count)
	sendTime := time.Since(start)
	// Wait until the receiver has filtered everything it read.
	var processed float64
	for idle := 0; idle < 20; {
		time.Sleep(25 * time.Millisecond)
		p := metric(reg, "unyo_filter_matches_total") + metric(reg, "unyo_filter_unmatched_total")
		if p == processed && r.QueueLen() == 0 {
			idle++
		} else {
			idle = 0
		}
		processed = p
	}
	elapsed := time.Since(start) - 500*time.Millisecond
	cpu := cpuTime() - cpu0
	received := metric(reg, "unyo_syslog_messages_received_total")
	dropped := metric(reg, "unyo_syslog_dropped_total")
	fmt.Printf("rules=%d workers=%d GOMAXPROCS=%d target_rate=%d\n", eng.Len(), *workers, runtime.GOMAXPROCS(0), *rate)
	fmt.Printf("sent=%d in %.2fs (%.0f msg/s)\n", sent, sendTime.Seconds(), float64(sent)/sendTime.Seconds())
	fmt.Printf("read=%.0f queue_dropped=%.0f kernel_lost=%.0f processed=%.0f events=%d\n",
		received, dropped, float64(sent)-received, processed, events.Load())
	fmt.Printf("loss=%.3f%% throughput=%.0f msg/s (processed / time to idle) cpu=%.2fs (%.2f cores, sender included)\n",
		100*(float64(sent)-processed)/float64(sent), processed/elapsed.Seconds(), cpu.Seconds(), cpu.Seconds()/elapsed.Seconds())
	return 0
}

func loadLines(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]byte
	s := bufio.NewScanner(f)
	for i := 0; s.Scan(); i++ {
		l := s.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		parts := strings.SplitN(l, "|", 3)
		lvl, err := filter.ParseLevel(parts[1])
		if err != nil {
			return nil, err
		}
		out = append(out, fmt.Appendf(nil, "<%d>Mar  4 05:06:07 srv%02d %s[%d]: %s", 3*8+lvl, i%40, parts[0], 1000+i, parts[2]))
	}
	return out, s.Err()
}

// send writes lines round-robin, paced per millisecond at rate (0: no
// pacing), until duration or count.
func send(c net.Conn, lines [][]byte, rate int, duration time.Duration, count int) int {
	start := time.Now()
	sent := 0
	for sent < count && time.Since(start) < duration {
		batch := 256
		if rate > 0 {
			due := int(float64(rate) * time.Since(start).Seconds())
			batch = due - sent
			if batch <= 0 {
				time.Sleep(200 * time.Microsecond)
				continue
			}
		}
		for i := 0; i < batch && sent < count; i++ {
			if _, err := c.Write(lines[sent%len(lines)]); err == nil {
				sent++
			}
		}
	}
	return sent
}

func metric(g prometheus.Gatherer, name string) float64 {
	mfs, _ := g.Gather()
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
