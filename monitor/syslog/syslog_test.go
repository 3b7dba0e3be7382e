package syslog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/monitor"
	"github.com/unyo-ops/unyo/monitor/filter"
)

// requireTool fails the test when a real peer is missing: the project's
// `make test` installs it, so a silent skip would hide a broken setup.
func requireTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found in PATH: install the Debian package %s (apt-get install -y %s)", name, pkg, pkg)
	}
	return p
}

// chanSink collects published events.
type chanSink chan incident.Event

func (c chanSink) Publish(ctx context.Context, ev incident.Event) error {
	select {
	case c <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

const testFilters = `
default_action: ignore
filters:
  - {name: ignore-noise, contains: ["IGNORE-ME"], action: ignore}
  - name: disk-error
    regex: 'I/O error on (?P<dev>sd[a-z]+)'
    severity: major
    dedup_key: '{{.Host}}/disk/{{.Group.dev}}'
    message: 'I/O error on {{.Group.dev}} ({{.App}})'
    runbook: RB-DISK
  - {name: record-me, contains: ["RECORD-ME"], action: record}
`

type harness struct {
	r      *Receiver
	events chanSink
	reg    *prometheus.Registry
	udp    string
	tcp    string
}

func start(t *testing.T, mutate func(*Config)) *harness {
	t.Helper()
	fcfg, err := filter.LoadConfig([]byte(testFilters))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := filter.New(fcfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{UDPListen: "127.0.0.1:0", TCPListen: "127.0.0.1:0", Workers: 1, Timezone: "UTC"}
	if mutate != nil {
		mutate(&cfg)
	}
	h := &harness{events: make(chanSink, 1000), reg: prometheus.NewPedanticRegistry()}
	h.r, err = New(cfg, eng, h.events, nil, h.reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.r.Stop)
	u, tc := h.r.Addr()
	if u != nil {
		h.udp = u.String()
	}
	if tc != nil {
		h.tcp = tc.String()
	}
	return h
}

func (h *harness) next(t *testing.T) incident.Event {
	t.Helper()
	select {
	case ev := <-h.events:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return incident.Event{}
}

func (h *harness) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-h.events:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(d):
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// TestLoggerEndToEnd drives the receiver with util-linux logger over every
// transport and format. Each run sends, on one connection and in order, a
// line an ignore rule drops and then a line the disk-error rule matches;
// only the second may become an event.
func TestLoggerEndToEnd(t *testing.T) {
	logger := requireTool(t, "logger", "bsdutils")
	tests := []struct {
		name  string
		flags []string
		tcp   bool
	}{
		{"udp rfc3164", []string{"-d", "--rfc3164"}, false},
		{"udp rfc5424", []string{"-d", "--rfc5424"}, false},
		{"tcp rfc3164 newline", []string{"-T", "--rfc3164"}, true},
		{"tcp rfc5424 newline", []string{"-T", "--rfc5424"}, true},
		{"tcp rfc5424 octet-count", []string{"-T", "--rfc5424", "--octet-count"}, true},
		{"tcp rfc3164 octet-count", []string{"-T", "--rfc3164", "--octet-count"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, nil)
			addr := h.udp
			if tt.tcp {
				addr = h.tcp
			}
			args := append([]string{"-n", "127.0.0.1", "-P", port(addr), "-t", "unyotest", "-p", "daemon.err"}, tt.flags...)
			cmd := exec.Command(logger, args...)
			cmd.Stdin = strings.NewReader("IGNORE-ME I/O error on sda\nkernel: I/O error on sdb\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("logger %v: %v: %s", args, err, out)
			}
			ev := h.next(t)
			host, _ := os.Hostname()
			if ev.Source != "syslog" || ev.Check != "disk-error" || ev.Severity != incident.Major || ev.Status != incident.Problem {
				t.Fatalf("event %+v", ev)
			}
			if ev.Message != "I/O error on sdb (unyotest)" || ev.Runbook != "RB-DISK" {
				t.Errorf("message %q runbook %q", ev.Message, ev.Runbook)
			}
			if !strings.EqualFold(ev.Target, host) && !strings.HasPrefix(strings.ToLower(host), strings.ToLower(ev.Target)) {
				t.Errorf("target %q, want host %q", ev.Target, host)
			}
			if ev.DedupKey != ev.Target+"/disk/sdb" || ev.Labels["facility"] != "daemon" || ev.Labels["level"] != "err" || ev.Labels["app"] != "unyotest" {
				t.Errorf("dedup %q labels %v", ev.DedupKey, ev.Labels)
			}
			ev.Normalize(time.Now())
			if err := ev.Validate(); err != nil {
				t.Errorf("invalid event: %v", err)
			}
			proto := "udp"
			if tt.tcp {
				proto = "tcp"
			}
			if got := testutil.ToFloat64(h.r.m.received[map[string]int{"udp": 0, "tcp": 1}[proto]]); got != 2 {
				t.Errorf("received %v frames, want 2", got)
			}
			if got := testutil.ToFloat64(h.r.m.parseErrors[0]) + testutil.ToFloat64(h.r.m.parseErrors[1]); got != 0 {
				t.Errorf("parse errors %v", got)
			}
			h.none(t, 100*time.Millisecond)
		})
	}
}

func TestMalformedUDPCountedListenerStillWorks(t *testing.T) {
	h := start(t, nil)
	c, err := net.Dial("udp", h.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, g := range [][]byte{[]byte("\xc3\x28 neither <PRI> nor UTF-8"), {0, 1, 2, 0xff, 0xfe}, []byte("<999>nope"), []byte("<12")} {
		if _, err := c.Write(g); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "4 parse errors", func() bool { return testutil.ToFloat64(h.r.m.parseErrors[protoUDP]) == 4 })
	if _, err := c.Write([]byte("<11>Mar  4 05:06:07 web01 app[1]: I/O error on sdc")); err != nil {
		t.Fatal(err)
	}
	ev := h.next(t)
	if ev.Target != "web01" || ev.DedupKey != "web01/disk/sdc" {
		t.Fatalf("event %+v", ev)
	}
}

func TestTCPFramingRaw(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   []string // dedup keys
		errs   float64
	}{
		{"newline, several per write, one split", []string{"<11>1 - h1 a - - - I/O error on sda\n<11>1 - h2 a - - - I/O err", "or on sdb\n\n<11>1 - h3 a - - - I/O error on sdc"},
			[]string{"h1/disk/sda", "h2/disk/sdb", "h3/disk/sdc"}, 0},
		{"octet counting split mid-length and mid-frame", []string{"35 <11>1 - h1 a - - - I/O error on sda3", "5 <11>1 - h2 a - - - I/O e", "rror on sdb"},
			[]string{"h1/disk/sda", "h2/disk/sdb"}, 0},
		{"octet counting bad length closes the connection", []string{"35 <11>1 - h1 a - - - I/O error on sdaXX <11>1 - h2 a - - - I/O error on sdb"},
			[]string{"h1/disk/sda"}, 1},
		{"octet counting over max", []string{"99999999 x"}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, nil)
			c, err := net.Dial("tcp", h.tcp)
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range tt.chunks {
				if _, err := io.WriteString(c, ch); err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
			}
			c.Close()
			for _, w := range tt.want {
				if ev := h.next(t); ev.DedupKey != w {
					t.Errorf("dedup %q, want %q", ev.DedupKey, w)
				}
			}
			eventually(t, "connection closed", func() bool { return testutil.ToFloat64(h.r.m.tcpConns) == 0 })
			if got := testutil.ToFloat64(h.r.m.parseErrors[protoTCP]); got != tt.errs {
				t.Errorf("parse errors %v, want %v", got, tt.errs)
			}
			h.none(t, 50*time.Millisecond)
		})
	}
}

func TestLongLineTruncated(t *testing.T) {
	h := start(t, func(c *Config) { c.MaxMessageSize = 512 })
	c, err := net.Dial("tcp", h.tcp)
	if err != nil {
		t.Fatal(err)
	}
	line := "<11>1 - h1 a - - - I/O error on sda " + strings.Repeat("x", 5000) + "\n<11>1 - h2 a - - - I/O error on sdb\n"
	io.WriteString(c, line)
	c.Close()
	if ev := h.next(t); ev.DedupKey != "h1/disk/sda" {
		t.Fatalf("%+v", ev)
	}
	if ev := h.next(t); ev.DedupKey != "h2/disk/sdb" {
		t.Fatalf("%+v", ev)
	}
	if got := testutil.ToFloat64(h.r.m.truncated[protoTCP]); got != 1 {
		t.Errorf("truncated %v", got)
	}
}

// blockingSink blocks every Publish until released.
type blockingSink struct {
	release chan struct{}
	entered atomic.Int32 // Publish calls begun
	mu      sync.Mutex
	n       int
}

func (b *blockingSink) Publish(ctx context.Context, ev incident.Event) error {
	b.entered.Add(1)
	select {
	case <-b.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.mu.Lock()
	b.n++
	b.mu.Unlock()
	return nil
}

// TestBurstDropsInsteadOfBlocking: with the only worker stuck in the sink and
// a tiny queue, a UDP burst is dropped and counted; the reader keeps reading
// (every datagram is accounted as received) and the pipeline flows again
// once the sink recovers.
func TestBurstDropsInsteadOfBlocking(t *testing.T) {
	fcfg, _ := filter.LoadConfig([]byte(testFilters))
	eng, _ := filter.New(fcfg, nil)
	sink := &blockingSink{release: make(chan struct{})}
	reg := prometheus.NewRegistry()
	r, err := New(Config{UDPListen: "127.0.0.1:0", QueueSize: 4, Workers: 1}, eng, sink, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	u, _ := r.Addr()
	c, _ := net.Dial("udp", u.String())
	defer c.Close()
	// The worker is stuck in the sink before the burst starts, so what
	// is kept is only what the 4-frame queue holds.
	fmt.Fprintf(c, "<11>1 - first a - - - I/O error on sda")
	eventually(t, "the worker stuck in the sink", func() bool { return sink.entered.Load() == 1 })
	const n = 200
	for i := range n {
		fmt.Fprintf(c, "<11>1 - h%d a - - - I/O error on sda", i)
		if i%20 == 0 {
			time.Sleep(time.Millisecond) // stay under the socket buffer
		}
	}
	eventually(t, "all datagrams read", func() bool { return testutil.ToFloat64(r.m.received[protoUDP]) == n+1 })
	dropped := testutil.ToFloat64(r.m.dropped[protoUDP])
	if dropped < n-4 {
		t.Fatalf("dropped %v of %d with a 4-slot queue and a stuck sink", dropped, n)
	}
	close(sink.release)
	eventually(t, "queue drained", func() bool { return r.QueueLen() == 0 })
	fmt.Fprintf(c, "<11>1 - after a - - - I/O error on sda")
	eventually(t, "event after recovery", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return float64(sink.n) == 1+n-dropped+1
	})
}

func TestRecordAndSenderNames(t *testing.T) {
	h := start(t, func(c *Config) {
		c.TargetFrom = "sender"
		c.SenderNames = map[string]string{"127.0.0.1": "loopback-box"}
	})
	c, _ := net.Dial("udp", h.udp)
	defer c.Close()
	io.WriteString(c, "<14>Mar  4 05:06:07 claimed-host app: RECORD-ME please")
	ev := h.next(t)
	if ev.Target != "loopback-box" || ev.Severity != incident.Info || ev.Labels["record"] != "true" || ev.Check != "record-me" {
		t.Fatalf("%+v", ev)
	}
}

func TestStartStopIdempotent(t *testing.T) {
	h := start(t, nil)
	if err := h.r.Start(context.Background()); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	h.r.Stop()
	h.r.Stop()
	if _, err := net.Dial("tcp", h.tcp); err == nil {
		t.Fatal("TCP still accepting after Stop")
	}
}

func TestContextCancelStops(t *testing.T) {
	fcfg, _ := filter.LoadConfig([]byte(testFilters))
	eng, _ := filter.New(fcfg, nil)
	r, err := New(Config{TCPListen: "127.0.0.1:0"}, eng, monitor.SinkFunc(func(context.Context, incident.Event) error { return nil }), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	_, tcp := r.Addr()
	cancel()
	eventually(t, "listener closed", func() bool {
		c, err := net.Dial("tcp", tcp.String())
		if err == nil {
			c.Close()
		}
		return err != nil
	})
}

func TestMetricsLint(t *testing.T) {
	h := start(t, nil)
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "unyo_syslog_") {
			t.Errorf("metric %s lacks the unyo_syslog_ prefix", mf.GetName())
		}
	}
}

// TestLoadBadConfigs: each testdata/invalid-*.yaml starts with
// "# error: <exact error>".
func TestLoadBadConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid-*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata/invalid-*.yaml")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, _ := os.ReadFile(f)
			first, _, _ := strings.Cut(string(data), "\n")
			want := strings.ReplaceAll(strings.TrimPrefix(first, "# error: "), `\n`, "\n")
			if _, err := LoadConfig(data); err == nil || err.Error() != want {
				t.Fatalf("error:\n got %v\nwant %s", err, want)
			}
		})
	}
	if _, err := LoadConfig([]byte("udp_listen: 127.0.0.1:5514\n")); err != nil {
		t.Fatalf("valid config: %v", err)
	}
}

func TestFramer(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  []string
		trunc int
		err   error
	}{
		{"newline", "<1>a\n<2>b\r\n\n<3>c", []string{"<1>a", "<2>b", "<3>c"}, 0, io.EOF},
		{"octet", "4 <1>a5 <2>bc", []string{"<1>a", "<2>bc"}, 0, io.EOF},
		{"octet zero length", "4 <1>a0 x", []string{"<1>a"}, 0, ErrFrame},
		{"octet truncated", "10 <1>a", nil, 0, ErrFrame},
		{"long line", "<1>" + strings.Repeat("x", 600) + "\n<2>b\n", []string{"<1>" + strings.Repeat("x", 509), "<2>b"}, 1, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &framer{br: bufioReader(tt.in, 512+16), max: 512}
			var got []string
			trunc := 0
			var err error
			for {
				var fr []byte
				var tr bool
				fr, tr, err = f.next()
				if fr != nil {
					got = append(got, string(fr))
				}
				if tr {
					trunc++
				}
				if err != nil {
					break
				}
			}
			if !errors.Is(err, tt.err) || fmt.Sprint(got) != fmt.Sprint(tt.want) || trunc != tt.trunc {
				t.Errorf("got %q trunc %d err %v; want %q %d %v", got, trunc, err, tt.want, tt.trunc, tt.err)
			}
		})
	}
}

func bufioReader(s string, size int) *bufio.Reader {
	return bufio.NewReaderSize(bytes.NewReader([]byte(s)), size)
}

// TestQueueBoundedByBytes: with room for many frames but few bytes, a
// burst behind a stuck sink keeps only what queue_bytes holds.
func TestQueueBoundedByBytes(t *testing.T) {
	fcfg, _ := filter.LoadConfig([]byte(testFilters))
	eng, _ := filter.New(fcfg, nil)
	sink := &blockingSink{release: make(chan struct{})}
	const line = "<11>1 - hX a - - - I/O error on sda"
	per := len(line) + itemSize
	r, err := New(Config{UDPListen: "127.0.0.1:0", QueueSize: 1 << 20, QueueBytes: 4*per + per/2, MaxMessageSize: 480, Workers: 1},
		eng, sink, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	u, _ := r.Addr()
	c, _ := net.Dial("udp", u.String())
	defer c.Close()
	fmt.Fprint(c, line)
	eventually(t, "the worker stuck in the sink", func() bool { return sink.entered.Load() == 1 })
	const n = 100
	for i := range n {
		fmt.Fprint(c, line)
		if i%20 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	eventually(t, "all datagrams read", func() bool { return testutil.ToFloat64(r.m.received[protoUDP]) == n+1 })
	if q, b := r.QueueLen(), r.queuedBytes.Load(); q != 4 || b != int64(4*per) {
		t.Fatalf("queued %d frames, %d bytes; want 4 frames, %d bytes", q, b, 4*per)
	}
	if d := testutil.ToFloat64(r.m.dropped[protoUDP]); d != n-4 {
		t.Fatalf("dropped %v, want %d", d, n-4)
	}
	close(sink.release)
	eventually(t, "queue drained", func() bool { return r.QueueLen() == 0 && r.queuedBytes.Load() == 0 })
}
