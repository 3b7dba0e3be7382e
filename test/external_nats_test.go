package test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/node"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestExternalNATS runs a node against the external NATS server with
// JetStream (127.0.0.1:4222, or UNYO_TEST_NATS_URL): events still become
// incidents, and the node opens no NATS port of its own.
func TestExternalNATS(t *testing.T) {
	t.Parallel()
	url := os.Getenv("UNYO_TEST_NATS_URL")
	if url == "" {
		url = "nats://127.0.0.1:4222"
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("external NATS at %s: %v (make test starts it; set UNYO_TEST_NATS_URL to use another)", url, err)
	}
	nc.Close()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	ns := "e2e" + hex.EncodeToString(b)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ledger.db")
	n, err := node.New(ctx, node.Options{
		Auth:       node.AuthOptions{BootstrapToken: testutil.AdminToken},
		HTTPListen: "127.0.0.1:0",
		Bus:        bus.Options{URL: url, Namespace: ns},
		OpenStore:  func(ctx context.Context) (ledger.Store, error) { return sqlite.Open(ctx, path) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = n.Bus().JetStream().DeleteStream(ctx, n.Bus().EventsStream())
		_ = n.Bus().JetStream().DeleteStream(ctx, n.Bus().IncidentsStream())
		_ = n.Stop(ctx)
	})
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if n.Bus().ClientURL() != url {
		t.Errorf("client URL %q, want %q", n.Bus().ClientURL(), url)
	}
	c, err := client.New(n.URL(), client.WithToken(testutil.AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendEvents(ctx, incident.Event{Target: "sw01", Check: "snmp", Severity: incident.Minor, Message: "slow"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "incident from the external bus", func() bool {
		incs, err := c.Incidents(ctx, client.ListOptions{})
		return err == nil && len(incs) == 1 && incs[0].Target == "sw01"
	})
	// The transition went out on the external server too.
	s, err := n.Bus().JetStream().Stream(ctx, n.Bus().IncidentsStream())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "opened transition on the external stream", func() bool {
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs == 1
	})
}
