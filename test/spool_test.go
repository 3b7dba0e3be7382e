package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/test/testutil"
)

// startNATS runs a NATS server with JetStream in this test process, on a
// loopback port, with its store in a temporary directory.
func startNATS(t *testing.T) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// spoolNode writes the config of a node on an external NATS reached
// through a proxy the test can take down, with the spool settings given.
func spoolNode(t *testing.T, spoolYAML string) (cfg, addr string, px *testutil.Proxy, ns *server.Server) {
	t.Helper()
	ns = startNATS(t)
	px = testutil.NewProxy(t, ns.Addr().String())
	dir := t.TempDir()
	cfg, addr = writeConfig(t, dir, fmt.Sprintf("nats:\n  url: nats://%s\n  spool:\n%s", px.Addr(), spoolYAML))
	return cfg, addr, px, ns
}

// postEvents posts evs and returns the status, the Retry-After header and
// how long the answer took.
func postEvents(t *testing.T, url string, evs []incident.Event) (int, string, time.Duration) {
	t.Helper()
	body, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url+"/api/v1/events", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	// The bound under test is append_timeout (2s); 30s only keeps a hang
	// from blocking the test forever.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	resp, err := testutil.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("POST /api/v1/events not answered: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Retry-After"), time.Since(start)
}

// batch makes n events of one incident (target spool, check disk), ids
// prefix-0.. so a test can tell each event apart.
func batch(prefix string, from, n int) []incident.Event {
	evs := make([]incident.Event, n)
	for i := range evs {
		evs[i] = incident.Event{ID: fmt.Sprintf("%s-%d", prefix, from+i), Target: "spool", Check: "disk",
			Severity: incident.Warning, Message: "disk filling " + strings.Repeat("x", 100)}
	}
	return evs
}

// occurrences is the count of the incident of target spool: each event
// applied once adds one (the ledger ignores an id it has applied).
func occurrences(c *client.Client) int64 {
	incs, err := c.Incidents(context.Background(), client.ListOptions{Target: "spool"})
	if err != nil || len(incs) != 1 {
		return -1
	}
	return incs[0].Count
}

// streamMsgs is how many messages the events stream holds on the NATS
// server: a message published twice within the duplicate window is
// stored once.
func streamMsgs(t *testing.T, ns *server.Server) uint64 {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(context.Background(), "UNYO_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func readyzMentions(c *client.Client, what string) bool {
	err := c.Ready(context.Background())
	return err != nil && strings.Contains(err.Error(), what)
}

// TestSpoolFullAnswers503AndRecovers: with the bus unreachable the events
// API keeps answering 202 from the spool; once the spool is full it answers
// 503 with Retry-After at once, /readyz says why; when the bus returns
// everything accepted reaches the ledger once and 202s resume.
func TestSpoolFullAnswers503AndRecovers(t *testing.T) {
	t.Parallel()
	cfg, addr, px, ns := spoolNode(t, "    max_bytes: 1048576\n    append_timeout: 2s\n    ready_max_age: 1s\n")
	p := testutil.Serve(t, cfg, addr)
	c := testutil.Client(t, p.URL)

	px.Down()
	accepted, refused := 0, 0
	var slowest time.Duration
	for i := 0; refused == 0; i++ {
		if i > 1000 {
			t.Fatalf("no 503 after %d batches (%d events accepted) into a 1 MiB spool", i, accepted)
		}
		code, retry, took := postEvents(t, p.URL, batch("full", accepted, 100))
		slowest = max(slowest, took)
		switch code {
		case http.StatusAccepted:
			accepted += 100
		case http.StatusServiceUnavailable:
			refused++
			if retry == "" {
				t.Errorf("503 without Retry-After")
			}
		default:
			t.Fatalf("POST answered %d", code)
		}
	}
	t.Logf("bus down: %d events accepted into the spool, then 503; slowest answer %s", accepted, slowest)
	waitFor(t, "/readyz to say the spool is full", func() bool { return readyzMentions(c, "% full") })
	if err := c.Ready(context.Background()); err != nil {
		t.Logf("/readyz: %v", err)
	}

	px.Up()
	up := time.Now()
	waitFor(t, "every accepted event in the ledger", func() bool { return occurrences(c) == int64(accepted) })
	t.Logf("bus back: the ledger caught up in %s", time.Since(up).Round(time.Millisecond))
	waitFor(t, "/readyz ok", func() bool { return c.Ready(context.Background()) == nil })
	if code, _, _ := postEvents(t, p.URL, batch("full", accepted, 100)); code != http.StatusAccepted {
		t.Fatalf("after the bus returned, POST answered %d", code)
	}
	accepted += 100
	waitFor(t, "the last batch in the ledger", func() bool { return occurrences(c) == int64(accepted) })
	if n := streamMsgs(t, ns); n != uint64(accepted) {
		t.Errorf("the events stream holds %d messages, want %d (each accepted event once)", n, accepted)
	}
}

// TestSpoolKill9Replays: events accepted while the bus is unreachable are
// only in the node's spool when the node is killed with SIGKILL, the spool
// full (the API answering 503); after a restart with the bus back every
// one reaches the bus and the ledger once.
func TestSpoolKill9Replays(t *testing.T) {
	t.Parallel()
	cfg, addr, px, ns := spoolNode(t, "    max_bytes: 1048576\n    append_timeout: 2s\n    ready_max_age: 1s\n")
	p := testutil.Serve(t, cfg, addr)
	c := testutil.Client(t, p.URL)
	if code, _, _ := postEvents(t, p.URL, batch("kill", 0, 50)); code != http.StatusAccepted {
		t.Fatalf("POST answered %d", code)
	}
	waitFor(t, "the first events in the ledger", func() bool { return occurrences(c) == 50 })

	px.Down()
	const per = 50
	batches := 0
	var slowest time.Duration
	for full := false; !full; {
		if batches > 1000 {
			t.Fatalf("no 503 after %d batches into a 1 MiB spool", batches)
		}
		code, retry, took := postEvents(t, p.URL, batch("kill", 50+batches*per, per))
		slowest = max(slowest, took)
		switch {
		case code == http.StatusAccepted:
			batches++
		case code == http.StatusServiceUnavailable && retry != "":
			full = true
		default:
			t.Fatalf("batch %d with the bus down: %d (Retry-After %q), want 202 from the spool or 503 once it is full", batches, code, retry)
		}
	}
	if batches < 10 {
		t.Fatalf("the spool was full after %d batches", batches)
	}
	t.Logf("bus down: %d events accepted, then 503 (spool full); slowest answer %s", batches*per, slowest)
	waitFor(t, "/readyz to say the spool is full or publishes are stalled", func() bool {
		return readyzMentions(c, "% full") || readyzMentions(c, "publishes stalled")
	})
	if occurrences(c) != 50 {
		t.Fatalf("ledger has %d occurrences while the bus is down, want 50", occurrences(c))
	}
	spoolDir := filepath.Join(filepath.Dir(cfg), "spool")
	if segs, _ := filepath.Glob(filepath.Join(spoolDir, "*.seg")); len(segs) == 0 {
		t.Fatalf("no spool segment in %s", spoolDir)
	}

	p.Kill()
	px.Up()
	p2 := testutil.Serve(t, cfg, addr)
	want := int64(50 + batches*per)
	waitFor(t, "every accepted event in the ledger after the restart", func() bool { return occurrences(c) == want })
	if n := streamMsgs(t, ns); n != uint64(want) {
		t.Errorf("the events stream holds %d messages, want %d", n, want)
	}
	if !strings.Contains(p2.Log(), "replaying") {
		t.Errorf("the restarted node did not log its spool replay")
	}
	if _, err := os.Stat(spoolDir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "/readyz ok", func() bool { return c.Ready(context.Background()) == nil })
}
