package scheduler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/internal/promtest"
	"github.com/unyo-ops/unyo/monitor/ping"
	"github.com/unyo-ops/unyo/monitor/ping/pingtest"
	"github.com/unyo-ops/unyo/monitor/target"
)

// stuckSink is a monitor.BatchSink that blocks every call until released,
// as a spool waiting on a slow disk or a dual-vantage recheck waiting on a
// peer does; it records the batches it took.
type stuckSink struct {
	release chan struct{}
	mu      sync.Mutex
	batches []int
	events  map[string]int // by dedup key
}

func newStuckSink() *stuckSink {
	return &stuckSink{release: make(chan struct{}), events: map[string]int{}}
}

func (s *stuckSink) Publish(ctx context.Context, ev incident.Event) error {
	return s.PublishBatch(ctx, []incident.Event{ev})
}

func (s *stuckSink) PublishBatch(ctx context.Context, evs []incident.Event) error {
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, len(evs))
	for _, ev := range evs {
		s.events[ev.DedupKey]++
	}
	return nil
}

func (s *stuckSink) counts() (batches, events, keys int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.batches {
		events += n
	}
	return len(s.batches), events, len(s.events)
}

// TestStuckSinkKeepsSchedule: an event sink that does not answer (the
// first round of a few hundred targets raises an event each) delays the
// events, never the probes: the ping loop goes on sending every round on
// schedule, and once the sink answers, every event is published, in
// batches. Before, the loop published each event itself, one at a time, so
// a slow spool or bus stopped every ping check of the node (issue 16: at
// 100,000 targets half the scheduled probes were sent).
func TestStuckSinkKeepsSchedule(t *testing.T) {
	pingtest.EnablePingSockets(t)
	reg := prometheus.NewPedanticRegistry()
	sink := newStuckSink()
	s := start(t, Options{Sink: sink, Samples: NewRing(10000), Registerer: reg})
	pc := ping.Config{Interval: time.Second, Packets: 1, PacketInterval: 10 * time.Millisecond, Timeout: 500 * time.Millisecond, DownAfter: 2}
	const n = 300
	var ts []target.Target
	for i := range n {
		a := fmt.Sprintf("127.0.%d.%d", 4+i/250, 1+i%250)
		ts = append(ts, target.Target{Name: "lo-" + a, Address: a, Ping: &pc})
	}
	if err := s.SetTargets(ts); err != nil {
		t.Fatal(err)
	}
	// Three rounds of probes while the sink is stuck on the first events.
	waitUntil(t, 60*time.Second, "three rounds of probes with the sink stuck", func() bool {
		return promtest.Counter(t, reg, "unyo_ping_packets_sent_total") >= 3*n
	})
	if b, _, _ := sink.counts(); b != 0 {
		t.Fatalf("%d batches published while the sink was stuck", b)
	}
	close(sink.release)
	waitUntil(t, 30*time.Second, "the held events published", func() bool {
		_, _, keys := sink.counts()
		return keys == n
	})
	batches, events, _ := sink.counts()
	if batches >= events {
		t.Errorf("%d events in %d batches, want them batched", events, batches)
	}
	if got := promtest.Counter(t, reg, "unyo_monitor_event_publish_errors_total"); got != 0 {
		t.Errorf("%v publish errors, want 0", got)
	}
	// Every target was checked in the rounds the sink held up.
	for _, tg := range ts {
		if st := s.Tracker().Get(tg.Name, "ping"); st == nil {
			t.Errorf("%s: no ping state", tg.Name)
		} else if status, _ := st.Status(); status != target.Up {
			t.Errorf("%s: %s, want up", tg.Name, status)
		}
	}
}

// The results queue drops the samples beyond its bound (counted by the
// caller) and holds the ping loop while its events are at their bound:
// events are never dropped.
func TestResultQueueBounds(t *testing.T) {
	q := newResultQueue(2, 3)
	if d := q.add(make([]Sample, 2), []queuedEvent{{target: "a"}}); d != 0 {
		t.Fatalf("dropped %d of 2 samples with room for 3", d)
	}
	if d := q.add(make([]Sample, 2), []queuedEvent{{target: "b"}}); d != 1 {
		t.Fatalf("dropped %d samples, want 1 beyond the bound of 3", d)
	}
	added := make(chan struct{})
	go func() {
		defer close(added)
		q.add(nil, []queuedEvent{{target: "c"}})
	}()
	select {
	case <-added:
		t.Fatal("an event was queued beyond the bound of 2 without waiting")
	case <-time.After(100 * time.Millisecond):
	}
	samples, events := q.take(nil, nil)
	if len(samples) != 3 || len(events) != 2 {
		t.Fatalf("took %d samples and %d events, want 3 and 2", len(samples), len(events))
	}
	<-added // room again
	if _, events = q.take(nil, nil); len(events) != 1 || events[0].target != "c" {
		t.Fatalf("events after the wait: %+v, want c", events)
	}
	// A closed queue (the results goroutine ended) never holds the loop.
	q.add(nil, []queuedEvent{{}, {}})
	q.close()
	q.add(nil, []queuedEvent{{}})
}

// The heap of ping checks pops in slot order and skips removed checks;
// compacting keeps the order.
func TestPingHeap(t *testing.T) {
	pl := &pingLoop{}
	rng := rand.New(rand.NewPCG(1, 2))
	var live []*runner
	for i := range 2000 {
		r := &runner{ping: &pingState{next: time.Unix(0, rng.Int64N(1e12))}}
		pl.push(r)
		if i%3 == 0 {
			r.ping.stopped = true
			pl.stale++
		} else {
			live = append(live, r)
		}
	}
	pl.compact()
	if len(pl.heap) != len(live) || pl.stale != 0 {
		t.Fatalf("after compact: %d entries, %d stale; want %d, 0", len(pl.heap), pl.stale, len(live))
	}
	var last int64
	for i := range len(live) {
		e := pl.heap[0]
		if e.r.ping.stopped {
			t.Fatal("a removed check is still queued")
		}
		if e.at < last {
			t.Fatalf("pop %d: slot %d before the previous %d", i, e.at, last)
		}
		last = e.at
		pl.pop()
	}
	if len(pl.heap) != 0 {
		t.Fatalf("%d entries left", len(pl.heap))
	}
}
