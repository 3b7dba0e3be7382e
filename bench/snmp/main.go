// Command snmp measures whether one SNMP polling cycle of many devices
// completes within its interval: it starts real snmpd agents on loopback
// ports, maps the simulated devices onto them (and a share onto ports where
// nothing listens: dead devices), polls every device once through the
// Poller (bounded worker pool, per-device deadline) and prints the cycle
// time, per-device poll times and CPU.
//
//	go run ./bench/snmp -agents 20 -devices 2000 -dead 0.05 -workers 256 -timeout 5s
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/unyo-ops/unyo/monitor/snmp"
)

func main() { os.Exit(run()) }

func run() int {
	agents := flag.Int("agents", 20, "snmpd processes to start (at most 100)")
	devices := flag.Int("devices", 2000, "device polls in the cycle (at most 20000)")
	dead := flag.Float64("dead", 0.05, "share of devices that do not answer")
	workers := flag.Int("workers", 256, "poller workers")
	timeout := flag.Duration("timeout", 5*time.Second, "per-device deadline")
	version := flag.String("version", "v2c", "v2c or v3")
	flag.Parse()
	if *agents < 1 || *agents > 100 || *devices < 1 || *devices > 20000 {
		fmt.Fprintln(os.Stderr, "bench/snmp: -agents 1..100, -devices 1..20000")
		return 2
	}
	dir, _ := os.MkdirTemp("", "unyo-bench-snmp")
	defer os.RemoveAll(dir)
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Kill()
			p.Wait()
		}
	}()
	ports := make([]int, *agents)
	for i := range ports {
		ports[i] = freePort()
		d := filepath.Join(dir, fmt.Sprint(i))
		os.MkdirAll(d, 0o700)
		conf := fmt.Sprintf("agentaddress udp:127.0.0.1:%d\nrocommunity public 127.0.0.1\ncreateUser unyo SHA \"authpass123\" AES \"privpass123\"\nrouser unyo priv\n", ports[i])
		os.WriteFile(filepath.Join(d, "snmpd.conf"), []byte(conf), 0o600)
		cmd := exec.Command("snmpd", "-f", "-Lf", filepath.Join(d, "log"), "-C", "-c", filepath.Join(d, "snmpd.conf"), "-p", filepath.Join(d, "pid"))
		cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+filepath.Join(d, "persist"), "MIBS=")
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "start snmpd (apt-get install snmpd snmp):", err)
			return 1
		}
		procs = append(procs, cmd)
	}
	for _, p := range ports {
		if !waitAgent(p) {
			fmt.Fprintln(os.Stderr, "snmpd did not answer on port", p)
			return 1
		}
	}
	// Dead devices are silent: a socket that reads and never answers (a
	// closed port would answer with ICMP port unreachable at once, which
	// is the easy case).
	var deadPorts []int
	for range 3 {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer c.Close()
		go func() {
			buf := make([]byte, 65536)
			for {
				if _, _, err := c.ReadFrom(buf); err != nil {
					return
				}
			}
		}()
		deadPorts = append(deadPorts, c.LocalAddr().(*net.UDPAddr).Port)
	}

	poller, err := snmp.NewPoller(snmp.Options{Workers: *workers}, nil, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	nDead := int(float64(*devices) * *dead)
	devs := make([]snmp.Device, *devices)
	for i := range devs {
		one := 1
		c := &snmp.Config{Version: *version, Timeout: *timeout, Interval: time.Minute, Retries: &one,
			User: "unyo", AuthPassword: "authpass123", PrivPassword: "privpass123"}
		if i < nDead {
			c.Port = deadPorts[i%len(deadPorts)]
		} else {
			c.Port = ports[i%len(ports)]
		}
		c.Defaults()
		if err := c.Validate(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		devs[i] = snmp.Device{Target: fmt.Sprintf("dev%05d", i), Address: "127.0.0.1", Config: c}
	}
	// Warm-up cycle: counters need a previous value for rates.
	cycle(poller, devs)
	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	wall, res := cycle(poller, devs)
	var ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := tv(ru1.Utime) + tv(ru1.Stime) - tv(ru0.Utime) - tv(ru0.Stime)

	var live, deadD []time.Duration
	var values, requests, errs int
	var maxWait time.Duration
	for i, r := range res {
		if i < nDead {
			deadD = append(deadD, r.Duration)
			continue
		}
		if r.Err != nil {
			errs++
		}
		live = append(live, r.Duration)
		values += len(r.Samples)
		requests += r.Requests
		maxWait = max(maxWait, r.Waited)
	}
	slices.Sort(live)
	slices.Sort(deadD)
	pct := func(d []time.Duration, p float64) time.Duration {
		if len(d) == 0 {
			return 0
		}
		return d[min(len(d)-1, int(float64(len(d))*p))]
	}
	fmt.Printf("snmp  agents=%d devices=%d dead=%d workers=%d timeout=%s version=%s\n", *agents, *devices, nDead, *workers, *timeout, *version)
	fmt.Printf("snmp  cycle wall=%s (interval 60s: %s) cpu=%.2fs\n", wall.Round(time.Millisecond), verdict(wall), cpu)
	fmt.Printf("snmp  live polls: %d errors=%d, values/poll=%.0f requests/poll=%.1f\n", len(live), errs, float64(values)/float64(max(len(live), 1)), float64(requests)/float64(max(len(live), 1)))
	fmt.Printf("snmp  live poll time p50=%s p90=%s p99=%s max=%s; longest worker wait=%s\n", pct(live, .5), pct(live, .9), pct(live, .99), pct(live, 1), maxWait)
	fmt.Printf("snmp  dead poll time p50=%s max=%s\n", pct(deadD, .5), pct(deadD, 1))
	return 0
}

func verdict(d time.Duration) string {
	if d < time.Minute {
		return "on time"
	}
	return "LATE"
}

func cycle(p *snmp.Poller, devs []snmp.Device) (time.Duration, []snmp.Result) {
	res := make([]snmp.Result, len(devs))
	var wg sync.WaitGroup
	start := time.Now()
	for i, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = p.Poll(context.Background(), d)
		}()
	}
	wg.Wait()
	return time.Since(start), res
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func freePort() int {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func waitAgent(port int) bool {
	for i := 0; i < 50; i++ {
		g := &gosnmp.GoSNMP{Target: "127.0.0.1", Port: uint16(port), Community: "public", Version: gosnmp.Version2c, Timeout: 200 * time.Millisecond, Context: context.Background()}
		if g.Connect() == nil {
			_, err := g.Get([]string{".1.3.6.1.2.1.1.3.0"})
			g.Conn.Close()
			if err == nil {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}
