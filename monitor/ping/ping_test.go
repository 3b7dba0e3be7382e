package ping

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/unyo-ops/unyo/monitor/ping/pingtest"
)

var fast = Config{Interval: time.Second, Packets: 3, PacketInterval: 20 * time.Millisecond, Timeout: 300 * time.Millisecond, DownAfter: 1, MaxLoss: 100}

func TestModes(t *testing.T) {
	for _, mode := range []string{ModePrivileged, ModeUnprivileged} {
		t.Run(mode, func(t *testing.T) {
			if mode == ModeUnprivileged {
				pingtest.EnablePingSockets(t)
			}
			reg := prometheus.NewPedanticRegistry()
			p, err := New(Options{Mode: mode}, reg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if p.Privileged() != (mode == ModePrivileged) {
				t.Fatalf("privileged = %v", p.Privileged())
			}
			// Many loopback targets at once: every reply must find its probe.
			var wg sync.WaitGroup
			results := make([]Result, 200)
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					a := netip.AddrFrom4([4]byte{127, 0, byte(i / 250), byte(i%250 + 1)})
					r, err := p.Ping(context.Background(), a, fast)
					if err != nil {
						t.Error(err)
					}
					results[i] = r
				}()
			}
			wg.Wait()
			for i, r := range results {
				if r.Sent != 3 || r.Received != 3 || r.Loss() != 0 {
					t.Fatalf("target %d: %+v", i, r)
				}
				if r.Min <= 0 || r.Min > r.Avg || r.Avg > r.Max || r.Max > time.Second {
					t.Fatalf("target %d: rtt %v/%v/%v", i, r.Min, r.Avg, r.Max)
				}
			}
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			if probs, err := promlint.NewWithMetricFamilies(mfs).Lint(); err != nil || len(probs) > 0 {
				t.Errorf("promlint: %v %v", probs, err)
			}
		})
	}
}

// Two Pingers in one process (raw sockets see every reply) must not read
// each other's replies.
func TestTwoPingersPrivileged(t *testing.T) {
	a, err := New(Options{Mode: ModePrivileged}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(Options{Mode: ModePrivileged}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.v4.id == b.v4.id {
		t.Fatalf("same id %d", a.v4.id)
	}
	var wg sync.WaitGroup
	for _, p := range []*Pinger{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := p.Ping(context.Background(), netip.MustParseAddr("127.0.0.1"), fast)
			if err != nil || r.Received != 3 {
				t.Errorf("%+v %v", r, err)
			}
		}()
	}
	wg.Wait()
}

func TestNamespaceHostDownAndUp(t *testing.T) {
	h := pingtest.NewHost(t)
	p, err := New(Options{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	r, err := p.Ping(ctx, h.Addr, fast)
	if err != nil || r.Received != 3 {
		t.Fatalf("up host: %+v %v", r, err)
	}
	h.Down()
	r, _ = p.Ping(ctx, h.Addr, fast)
	if r.Received != 0 || r.Loss() != 100 {
		t.Fatalf("down host answered: %+v", r)
	}
	h.Up()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, _ = p.Ping(ctx, h.Addr, fast)
		if r.Received > 0 || time.Now().After(deadline) {
			break
		}
	}
	if r.Received == 0 {
		t.Fatalf("host did not come back: %+v", r)
	}
}

func TestContextCancel(t *testing.T) {
	h := pingtest.NewHost(t)
	h.Down()
	p, err := New(Options{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = p.Ping(ctx, h.Addr, Config{Packets: 3, PacketInterval: time.Second, Timeout: 5 * time.Second})
	if err == nil || time.Since(start) > time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
	if n := len(p.v4.pending); n != 0 {
		t.Fatalf("%d probes left pending", n)
	}
}

func TestSummarize(t *testing.T) {
	ms := time.Millisecond
	r := summarize(4, []time.Duration{10 * ms, 0, 14 * ms, 12 * ms}, []bool{true, false, true, true})
	if r.Received != 3 || r.Min != 10*ms || r.Max != 14*ms || r.Avg != 12*ms || r.Jitter != 3*ms || r.Loss() != 25 {
		t.Fatalf("%+v loss %v", r, r.Loss())
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		c    Config
		want string
	}{
		{Config{Interval: 500 * time.Millisecond}, "interval: 500ms: must be at least 1s"},
		{Config{Packets: 200}, "packets: 200: want 1 to 100"},
		{Config{DownAfter: -1}, "down_after: -1: want 1 to 1000 checks"},
		{Config{Interval: 2 * time.Second, Packets: 5, PacketInterval: time.Second, Timeout: time.Second}, "timeout: a check takes (packets-1) × packet_interval + timeout = 5s, longer than interval 2s"},
		{Config{}, ""},
		{Config{Interval: time.Second, Packets: 5}, ""},
	}
	for _, tc := range tests {
		c := tc.c
		c.Defaults()
		err := c.Validate()
		if (err == nil && tc.want != "") || (err != nil && err.Error() != tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.c, err, tc.want)
		}
	}
}

// StartBatch: every check of a large batch (more than one sendmmsg) is
// done exactly once with its replies; a check that cannot begin is done
// at once with its error.
func TestStartBatch(t *testing.T) {
	for _, mode := range []string{ModePrivileged, ModeUnprivileged} {
		t.Run(mode, func(t *testing.T) {
			if mode == ModeUnprivileged {
				pingtest.EnablePingSockets(t)
			}
			reg := prometheus.NewPedanticRegistry()
			p, err := New(Options{Mode: mode}, reg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			const n = 300
			var mu sync.Mutex
			results := make([]Result, n+1)
			calls := make([]int, n+1)
			errs := make([]error, n+1)
			var wg sync.WaitGroup
			reqs := make([]Request, n+1)
			for i := range reqs {
				wg.Add(1)
				reqs[i] = Request{Addr: netip.AddrFrom4([4]byte{127, 0, byte(i / 250), byte(i%250 + 1)}), Config: fast,
					Done: func(r Result, err error) {
						mu.Lock()
						results[i], errs[i] = r, err
						calls[i]++
						mu.Unlock()
						wg.Done()
					}}
			}
			reqs[n].Addr = netip.MustParseAddr("::1") // IPv6 is not enabled
			for i := 0; i < len(reqs); i += 100 {
				p.StartBatch(reqs[i:min(i+100, len(reqs))])
			}
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			for i := range n {
				if calls[i] != 1 || errs[i] != nil || results[i].Sent != 3 || results[i].Received != 3 {
					t.Fatalf("target %d: %d calls, %+v %v", i, calls[i], results[i], errs[i])
				}
			}
			if calls[n] != 1 || !errors.Is(errs[n], ErrFamily) {
				t.Fatalf("IPv6 without a socket: %d calls, %v", calls[n], errs[n])
			}
			if got := testutil.ToFloat64(p.metrics.sent); got != 3*n {
				t.Fatalf("sent %v, want %d", got, 3*n)
			}
			if got := testutil.ToFloat64(p.metrics.inFlight); got != 0 {
				t.Fatalf("in flight %v", got)
			}
		})
	}
}
