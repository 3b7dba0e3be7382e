package test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/postgres"
	"github.com/unyo-ops/unyo/alerting/ledger/postgres/pgtest"
	"github.com/unyo-ops/unyo/alerting/pipeline"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/node"
	"github.com/unyo-ops/unyo/test/testutil"
)

// startPostgresNode starts an in-process node whose PostgreSQL ledger is
// reached through a proxy the test can take down.
func startPostgresNode(t *testing.T, proxyDown bool) (*node.Node, *testutil.Proxy, *client.Client) {
	t.Helper()
	u, err := url.Parse(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	px := testutil.NewProxy(t, u.Host)
	if proxyDown {
		px.Down()
	}
	u.Host = px.Addr()
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	dsn := u.String()
	n, err := node.New(context.Background(), node.Options{
		Auth:       node.AuthOptions{BootstrapToken: testutil.AdminToken},
		Name:       "outage",
		HTTPListen: "127.0.0.1:0",
		Bus:        bus.Options{StoreDir: t.TempDir()},
		OpenStore:  func(ctx context.Context) (ledger.Store, error) { return postgres.Open(ctx, dsn) },
		StoreName:  "postgres",
		// Small batches and a small backlog bound: the ledger catches up
		// in several transactions, and readiness must wait for most.
		Pipeline: pipeline.Options{BatchSize: 10, RetryBackoff: 50 * time.Millisecond, MaxBackoff: 300 * time.Millisecond},
		Spool:    node.SpoolOptions{ReadyMaxBacklog: 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	c, err := client.New(n.URL(), client.WithToken(testutil.AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	return n, px, c
}

func sendN(t *testing.T, c *client.Client, prefix string, n int) {
	t.Helper()
	evs := make([]incident.Event, n)
	for i := range evs {
		evs[i] = incident.Event{ID: fmt.Sprintf("%s-%d", prefix, i), Target: fmt.Sprintf("srv%d", i%5),
			Check: "disk", Severity: incident.Warning, Message: prefix}
	}
	if _, err := c.SendEvents(context.Background(), evs...); err != nil {
		t.Fatalf("send while the ledger is down must still be accepted by the bus: %v", err)
	}
}

func eventCount(n *node.Node) int64 {
	c, err := n.Store().EventCount(context.Background())
	if err != nil {
		return -1
	}
	return c
}

// TestLedgerOutage takes PostgreSQL away from a running node: events are
// still accepted and kept in JetStream, /readyz says the ledger is down, and
// the ledger catches up when PostgreSQL returns.
func TestLedgerOutage(t *testing.T) {
	t.Parallel()
	n, px, c := startPostgresNode(t, false)
	ctx := context.Background()
	if err := n.WaitStore(ctx); err != nil {
		t.Fatal(err)
	}
	sendN(t, c, "before", 100)
	waitFor(t, "100 events applied", func() bool { return eventCount(n) == 100 })

	px.Down()
	sendN(t, c, "during", 150)
	waitFor(t, "/readyz to report the ledger", func() bool {
		err := c.Ready(ctx)
		return err != nil && strings.Contains(err.Error(), `"ledger"`) && !strings.Contains(err.Error(), `"ledger": "ok"`)
	})
	if err := c.Ready(ctx); err != nil {
		t.Logf("/readyz during the outage: %v", err)
	}
	// Nothing is lost while the ledger is down: the events wait in the stream
	// (the consumer's pending count catches up with the stream shortly after
	// publishing, hence the wait).
	waitFor(t, "150 events waiting in JetStream", func() bool {
		pending, err := pendingEvents(n)
		return err == nil && pending == 150
	})
	if c := eventCount(n); c != -1 && c != 100 {
		t.Errorf("ledger holds %d events during the outage, want 100", c)
	}

	waitFor(t, "/readyz to name the backlog", func() bool {
		err := c.Ready(ctx)
		return err != nil && strings.Contains(err.Error(), `"backlog"`) && strings.Contains(err.Error(), "150 events behind")
	})

	px.Up()
	// Ready only once the ledger is at most 100 events behind, not at its
	// first commit after the outage.
	waitFor(t, "/readyz ok", func() bool { return c.Ready(ctx) == nil })
	if got := eventCount(n); got < 150 {
		t.Errorf("/readyz ok with the ledger at %d of 250 events (bound: 100 behind)", got)
	}
	waitFor(t, "the ledger to catch up", func() bool { return eventCount(n) == 250 })
}

// TestLedgerDownAtStart starts a node while PostgreSQL is unreachable: it
// serves, takes events and says why it is not ready; when PostgreSQL comes,
// the store opens and the events are applied.
func TestLedgerDownAtStart(t *testing.T) {
	t.Parallel()
	n, px, c := startPostgresNode(t, true)
	ctx := context.Background()
	sendN(t, c, "early", 40)
	waitFor(t, "/readyz to report the ledger", func() bool {
		err := c.Ready(ctx)
		return err != nil && strings.Contains(err.Error(), "not open yet")
	})
	px.Up()
	if err := n.WaitStore(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "40 events applied", func() bool { return eventCount(n) == 40 })
	waitFor(t, "/readyz ok", func() bool { return c.Ready(ctx) == nil })
}

func pendingEvents(n *node.Node) (uint64, error) {
	ctx := context.Background()
	cons, err := n.Bus().JetStream().Consumer(ctx, n.Bus().EventsStream(), "ledger-writer")
	if err != nil {
		return 0, err
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}
