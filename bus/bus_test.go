package bus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/unyo-ops/unyo/alerting/incident"
)

func randHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func testEvent(id string) incident.Event {
	return incident.Event{ID: id, Source: "api", Target: "web01", Check: "ping",
		Severity: incident.Major, Status: incident.Problem, Time: time.Now().UTC()}
}

// externalURL is the NATS server with JetStream that the test machine runs.
func externalURL() string {
	if u := os.Getenv("UNYO_TEST_NATS_URL"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

func TestBus(t *testing.T) {
	for _, mode := range []string{"embedded", "embedded-listener", "external"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			opts := Options{StoreDir: t.TempDir(), Namespace: "t" + randHex(t), Name: "test"}
			switch mode {
			case "embedded-listener":
				opts.Listen = "127.0.0.1:0"
			case "external":
				opts.URL = externalURL()
				nc, err := nats.Connect(opts.URL, nats.Timeout(2*time.Second))
				if err != nil {
					if os.Getenv("UNYO_TEST_ALLOW_SKIP") == "1" {
						t.Skipf("external NATS at %s: %v", opts.URL, err)
					}
					t.Fatalf("external NATS at %s: %v (set UNYO_TEST_NATS_URL, or UNYO_TEST_ALLOW_SKIP=1)", opts.URL, err)
				}
				nc.Close()
			}
			b, err := Open(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if mode == "external" {
					_ = b.JetStream().DeleteStream(ctx, b.EventsStream())
					_ = b.JetStream().DeleteStream(ctx, b.IncidentsStream())
				}
				b.Close()
				b.Close() // idempotent
			})
			switch mode {
			case "embedded":
				if b.ClientURL() != "" {
					t.Errorf("in-process server has client URL %q", b.ClientURL())
				}
			case "embedded-listener":
				if !strings.HasPrefix(b.ClientURL(), "nats://127.0.0.1:") || strings.HasSuffix(b.ClientURL(), ":0") {
					t.Errorf("client URL %q", b.ClientURL())
				}
			}

			// The same id published twice is stored once.
			for range 2 {
				if err := b.Publish(ctx, testEvent("e1")); err != nil {
					t.Fatal(err)
				}
			}
			evs := []incident.Event{testEvent("e2"), testEvent("e3"), testEvent("e1")}
			if err := b.PublishBatch(ctx, evs); err != nil {
				t.Fatal(err)
			}
			if err := b.PublishBatch(ctx, []incident.Event{{Source: "x"}}); err == nil {
				t.Error("event without id published")
			}
			s, err := b.JetStream().Stream(ctx, b.EventsStream())
			if err != nil {
				t.Fatal(err)
			}
			info, err := s.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.State.Msgs != 3 {
				t.Errorf("stream holds %d messages, want 3 (e1 deduplicated)", info.State.Msgs)
			}
			msg, err := s.GetLastMsgForSubject(ctx, b.EventSubject("api"))
			if err != nil {
				t.Fatal(err)
			}
			if msg.Header.Get(jetstream.MsgIDHeader) != "e3" {
				t.Errorf("last message id %q, want e3", msg.Header.Get(jetstream.MsgIDHeader))
			}

			// Transitions land on their kind's subject once per (id, seq).
			tr := Transition{Entry: incident.Entry{IncidentID: 7, Seq: 1, Kind: incident.KindOpened}}
			for range 2 {
				if err := b.PublishTransition(ctx, tr); err != nil {
					t.Fatal(err)
				}
			}
			is, err := b.JetStream().Stream(ctx, b.IncidentsStream())
			if err != nil {
				t.Fatal(err)
			}
			iinfo, err := is.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if iinfo.State.Msgs != 1 {
				t.Errorf("incident stream holds %d messages, want 1", iinfo.State.Msgs)
			}
			if err := b.Healthy(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSubjectToken(t *testing.T) {
	for in, want := range map[string]string{"": "_", "snmp-trap": "snmp-trap", "a.b*c>d e": "a_b_c_d_e"} {
		if got := token(in); got != want {
			t.Errorf("token(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	if _, err := Open(context.Background(), Options{}); err == nil || !strings.Contains(err.Error(), "store directory") {
		t.Errorf("no store dir: %v", err)
	}
	if _, err := Open(context.Background(), Options{StoreDir: t.TempDir(), Namespace: "a.b"}); err == nil {
		t.Error("namespace with a dot accepted")
	}
}
