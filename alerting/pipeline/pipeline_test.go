package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/alerting/pipeline"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/internal/promtest"
)

func setup(t *testing.T) (*bus.Bus, *sqlite.Store, *pipeline.Pipeline, *prometheus.Registry) {
	t.Helper()
	ctx := context.Background()
	b, err := bus.Open(ctx, bus.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	reg := prometheus.NewRegistry()
	p, err := pipeline.New(ctx, b, s, pipeline.Options{BatchSize: 50, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	p.Start()
	t.Cleanup(p.Stop)
	return b, s, p, reg
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func ev(id, target string, st incident.Status) incident.Event {
	e := incident.Event{ID: id, Source: "test", Target: target, Check: "ping", Severity: incident.Major, Status: st}
	e.Normalize(time.Now())
	return e
}

// TestEventsBecomeIncidents: events on the bus become incidents, every
// transition is published on its subject once, and a message that is not an
// event is terminated without stopping the writer.
func TestEventsBecomeIncidents(t *testing.T) {
	b, s, _, reg := setup(t)
	ctx := context.Background()

	// Watch the transitions stream.
	cons, err := b.JetStream().OrderedConsumer(ctx, b.IncidentsStream(), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}

	var evs []incident.Event
	for i := range 120 {
		evs = append(evs, ev(fmt.Sprintf("p%d", i), fmt.Sprintf("h%d", i%3), incident.Problem))
	}
	if err := b.PublishBatch(ctx, evs); err != nil {
		t.Fatal(err)
	}
	// Garbage on the events subject.
	if _, err := b.JetStream().Publish(ctx, b.EventSubject("junk"), []byte("not json")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.JetStream().Publish(ctx, b.EventSubject("junk"), []byte(`{"id":"x"}`)); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, ev("ok0", "h0", incident.OK)); err != nil {
		t.Fatal(err)
	}
	// A redelivered/republished event id changes nothing.
	if err := b.PublishBatch(ctx, evs[:10]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "121 events applied", func() bool {
		n, err := s.EventCount(ctx)
		return err == nil && n == 121
	})
	incs, err := s.Incidents(ctx, ledgerAll())
	if err != nil {
		t.Fatal(err)
	}
	if len(incs) != 3 {
		t.Fatalf("%d incidents, want 3", len(incs))
	}
	for _, i := range incs {
		if i.Count != 40 {
			t.Errorf("incident %s count %d, want 40", i.Target, i.Count)
		}
		if (i.Target == "h0") != i.Recovered {
			t.Errorf("incident %s recovered=%v", i.Target, i.Recovered)
		}
	}
	if got := promtest.Counter(t, reg, "unyo_pipeline_decode_errors_total"); got != 2 {
		t.Errorf("decode errors %v, want 2", got)
	}

	// 3 opened + 1 recovered transitions, each once.
	seen := map[string]int{}
	waitFor(t, "4 transitions published", func() bool {
		batch, err := cons.Fetch(10, jetstream.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			var tr bus.Transition
			if err := json.Unmarshal(m.Data(), &tr); err != nil {
				t.Fatal(err)
			}
			if m.Subject() != b.IncidentSubject(tr.Entry.Kind) {
				t.Errorf("transition %s on subject %s", tr.Entry.Kind, m.Subject())
			}
			seen[fmt.Sprintf("%d.%d", tr.Entry.IncidentID, tr.Entry.Seq)]++
		}
		return len(seen) >= 4
	})
	if len(seen) != 4 {
		t.Errorf("transitions %v, want 4", seen)
	}
	pending, err := s.Pending(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 0 {
		t.Errorf("%d outbox entries left unpublished", len(pending))
	}
}
