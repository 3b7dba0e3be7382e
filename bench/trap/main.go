// Command trap measures the trap receiver against net-snmp's snmptrapd on
// the same load. A sender in this process replays a captured trap
// (monitor/trap/testdata/packets: v2c linkDown, or v3 authPriv coldStart) to
// 127.0.0.1, paced at -rate traps/s (0: as fast as it can), for at most
// -duration and -count traps; first to the unyo receiver, then to a
// snmptrapd started here (-f, logging each trap to a temp file, a temp
// config with `disableAuthorization yes` and the v3 user). For each it
// prints traps sent, traps handled, and handled per second of the time
// until it went idle.
//
//	go run ./bench/trap -packet v2c -rate 0 -count 100000
//	go run ./bench/trap -packet v3 -rate 20000 -duration 2s
//
// Loopback only; bounded in count and time. Needs snmptrapd (Debian package
// snmptrapd) for the comparison; -snmptrapd=false skips it.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/monitor"
	"github.com/unyo-ops/unyo/monitor/trap"
)

func main() { os.Exit(run()) }

func run() int {
	packet := flag.String("packet", "v2c", "v2c or v3")
	rate := flag.Int("rate", 0, "traps per second (0: as fast as possible)")
	duration := flag.Duration("duration", 2*time.Second, "how long to send")
	count := flag.Int("count", 200_000, "most traps to send")
	workers := flag.Int("workers", trap.DefaultWorkers, "receiver workers")
	withTrapd := flag.Bool("snmptrapd", true, "also measure snmptrapd")
	flag.Parse()

	file := map[string]string{"v2c": "v2c-linkdown.bin", "v3": "v3-authpriv-coldstart.bin"}[*packet]
	if file == "" {
		fmt.Fprintln(os.Stderr, "-packet: want v2c or v3")
		return 2
	}
	pkt, err := os.ReadFile(filepath.Join("monitor/trap/testdata/packets", file))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("packet=%s (%d bytes) rate=%d duration=%v count=%d GOMAXPROCS=%d\n", *packet, len(pkt), *rate, *duration, *count, runtime.GOMAXPROCS(0))

	// unyo
	var events atomic.Int64
	sink := monitor.SinkFunc(func(context.Context, incident.Event) error { events.Add(1); return nil })
	r, err := trap.New(trap.Config{Listen: "127.0.0.1:0", Workers: *workers, Users: []trap.User{
		{Name: "unyo", AuthProtocol: "SHA", AuthPassphrase: "authpass123", PrivProtocol: "AES", PrivPassphrase: "privpass123"},
	}}, sink, nil, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := r.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sent, handled, elapsed := measure(r.Addr().String(), pkt, *rate, *duration, *count, func() int64 { return events.Load() })
	r.Stop()
	unyoRate := report("unyo", sent, handled, elapsed)

	if !*withTrapd {
		return 0
	}
	trapdRate, err := measureTrapd(pkt, *rate, *duration, *count)
	if err != nil {
		fmt.Fprintln(os.Stderr, "snmptrapd:", err)
		return 1
	}
	fmt.Printf("ratio unyo/snmptrapd = %.1f\n", unyoRate/trapdRate)
	return 0
}

func report(name string, sent int, handled int64, elapsed time.Duration) float64 {
	rate := float64(handled) / elapsed.Seconds()
	fmt.Printf("%-9s sent=%d handled=%d (%.2f%%) in %.2fs: %.0f traps/s\n", name, sent, handled, 100*float64(handled)/float64(sent), elapsed.Seconds(), rate)
	return rate
}

// measure sends and waits until handled() stops growing for 500 ms; the
// elapsed time runs from the first send to the last progress seen.
func measure(addr string, pkt []byte, rate int, duration time.Duration, count int, handled func() int64) (int, int64, time.Duration) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	start := time.Now()
	sent := 0
	for sent < count && time.Since(start) < duration {
		batch := 128
		if rate > 0 {
			batch = int(float64(rate)*time.Since(start).Seconds()) - sent
			if batch <= 0 {
				time.Sleep(200 * time.Microsecond)
				continue
			}
		}
		for i := 0; i < batch && sent < count; i++ {
			if _, err := c.Write(pkt); err == nil {
				sent++
			}
		}
	}
	last, lastChange := handled(), time.Now()
	for time.Since(lastChange) < 500*time.Millisecond && last < int64(sent) {
		time.Sleep(20 * time.Millisecond)
		if n := handled(); n != last {
			last, lastChange = n, time.Now()
		}
	}
	return sent, last, lastChange.Sub(start)
}

func measureTrapd(pkt []byte, rate int, duration time.Duration, count int) (float64, error) {
	bin, err := exec.LookPath("snmptrapd")
	if err != nil {
		return 0, fmt.Errorf("not found: install the Debian package snmptrapd")
	}
	dir, err := os.MkdirTemp("", "trapd-bench")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	conf := filepath.Join(dir, "snmptrapd.conf")
	// The v3 user matches the captured v3 packet (engine 0x8000000001020304).
	os.WriteFile(conf, []byte("disableAuthorization yes\ncreateUser -e 0x8000000001020304 unyo SHA authpass123 AES privpass123\n"), 0o600)
	logf := filepath.Join(dir, "traps.log")
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	addr := l.LocalAddr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// -f foreground, -C only our config, -n no DNS, -On numeric OIDs,
	// -F one short line per trap.
	cmd := exec.CommandContext(ctx, bin, "-f", "-C", "-c", conf, "-n", "-On", "-Lf", logf, "-F", "T %a %N\n", "udp:"+addr)
	cmd.Env = append(os.Environ(), "MIBS=", "SNMP_PERSISTENT_DIR="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	// Count log lines incrementally, reading only what was appended.
	var off, n int64
	buf := make([]byte, 1<<20)
	lines := func() int64 {
		f, err := os.Open(logf)
		if err != nil {
			return n
		}
		defer f.Close()
		for {
			k, err := f.ReadAt(buf, off)
			n += int64(bytes.Count(buf[:k], []byte("\n")))
			off += int64(k)
			if err != nil || k == 0 {
				return n
			}
		}
	}
	// Wait until it handles a trap, then start counting from there.
	c, _ := net.Dial("udp", addr)
	deadline := time.Now().Add(10 * time.Second)
	for lines() == 0 {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no trap logged within 10s: %s", stderr.String())
		}
		c.Write(pkt)
		time.Sleep(100 * time.Millisecond)
	}
	c.Close()
	time.Sleep(300 * time.Millisecond)
	base := lines()
	sent, handled, elapsed := measure(addr, pkt, rate, duration, count, func() int64 { return lines() - base })
	return report("snmptrapd", sent, handled, elapsed), nil
}
