// Command events measures POST /api/v1/events through the real binary: it
// starts `unyo serve` (the embedded default: in-process NATS, SQLite
// ledger, data in a temporary directory), has -clients concurrent clients
// post -batch events per request for -duration, and prints the answer
// latency (p50, p90, p99, max), requests and events per second, and how
// long the ledger took to hold them all.
//
//	go run ./bench/events -clients 8 -duration 10s            # this tree's binary
//	go run ./bench/events -bin /tmp/unyo-main -clients 8       # another build
//
// Loopback only; bounded in time.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/auth"
)

func main() { os.Exit(run()) }

func run() int {
	bin := flag.String("bin", "", "unyo binary (default: go build ./cmd/unyo of this module)")
	clients := flag.Int("clients", 8, "concurrent clients")
	per := flag.Int("batch", 1, "events per request")
	duration := flag.Duration("duration", 10*time.Second, "how long to post")
	flag.Parse()
	dir, err := os.MkdirTemp("", "unyo-bench-events-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bin == "" {
		*bin = filepath.Join(dir, "unyo")
		cmd := exec.Command("go", "build", "-o", *bin, "./cmd/unyo")
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "go build:", err)
			return 1
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := filepath.Join(dir, "unyo.yaml")
	data := fmt.Sprintf("node:\n  name: bench\n  data_dir: %q\nhttp:\n  listen: %q\ncluster:\n  bind: 127.0.0.1:0\nlog:\n  level: warn\n",
		filepath.Join(dir, "data"), addr)
	if err := os.WriteFile(cfg, []byte(data), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	token := auth.NewSecret(auth.TokenPrefix)
	srv := exec.Command(*bin, "serve", "--config", cfg)
	srv.Env = append(os.Environ(), "UNYO_BOOTSTRAP_TOKEN="+token)
	logf, _ := os.Create(filepath.Join(dir, "serve.log"))
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() {
		_ = srv.Process.Signal(syscall.SIGTERM)
		_ = srv.Wait()
	}()
	base := "http://" + addr
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *clients}}
	if !waitReady(hc, base, 60*time.Second) {
		b, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
		fmt.Fprintf(os.Stderr, "unyo serve not ready:\n%s", b)
		return 1
	}

	var mu sync.Mutex
	var lat []time.Duration
	var failed int
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(*duration)
	for c := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			bad := 0
			for i := 0; time.Now().Before(end); i++ {
				evs := make([]incident.Event, *per)
				for j := range evs {
					evs[j] = incident.Event{ID: fmt.Sprintf("b-%d-%d-%d", c, i, j), Target: fmt.Sprintf("srv%d", (i*(*per)+j)%500),
						Check: "disk", Severity: incident.Warning, Message: "disk filling"}
				}
				body, _ := json.Marshal(evs)
				req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/events", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := hc.Do(req)
				d := time.Since(t0)
				if err != nil {
					bad++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					bad++
					continue
				}
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			failed += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	events := len(lat) * *per
	fmt.Printf("binary %s\nclients %d, %d event(s) per request, %s\n", *bin, *clients, *per, elapsed.Round(time.Millisecond))
	fmt.Printf("requests 202: %d (%.0f/s), events %d (%.0f/s), failed %d\n", len(lat), float64(len(lat))/elapsed.Seconds(),
		events, float64(events)/elapsed.Seconds(), failed)
	fmt.Printf("latency p50 %s  p90 %s  p99 %s  max %s\n", q(0.50).Round(time.Microsecond), q(0.90).Round(time.Microsecond),
		q(0.99).Round(time.Microsecond), q(1).Round(time.Microsecond))
	if sum, cnt := fsyncs(hc, base, token); cnt > 0 {
		fmt.Printf("spool fsyncs %d (%.1f events each), mean %s\n", int64(cnt), float64(events)/cnt,
			time.Duration(sum/cnt*float64(time.Second)).Round(time.Microsecond))
	}
	// How long until the ledger holds every accepted event (500 incidents
	// whose counts add up).
	t0 := time.Now()
	for time.Since(t0) < 5*time.Minute {
		if n, err := ledgerCount(hc, base, token); err == nil && n >= int64(events) {
			fmt.Printf("ledger holds all %d events %s after the last 202\n", events, time.Since(t0).Round(time.Millisecond))
			return 0
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Println("ledger did not catch up within 5m")
	return 1
}

func waitReady(hc *http.Client, base string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		resp, err := hc.Get(base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// fsyncs reads the spool's fsync histogram sum and count from /metrics
// (0, 0 for a build without the spool).
func fsyncs(hc *http.Client, base, token string) (sum, count float64) {
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "unyo_spool_fsync_duration_seconds_sum "); ok {
			sum, _ = strconv.ParseFloat(v, 64)
		}
		if v, ok := strings.CutPrefix(line, "unyo_spool_fsync_duration_seconds_count "); ok {
			count, _ = strconv.ParseFloat(v, 64)
		}
	}
	return sum, count
}

// ledgerCount adds up the occurrence counts of the incidents.
func ledgerCount(hc *http.Client, base, token string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/incidents?limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Incidents []incident.Incident `json:"incidents"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, err
	}
	var n int64
	for _, i := range out.Incidents {
		n += i.Count
	}
	return n, nil
}
