package trap

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/monitor"
)

// batchSink records the batches it is given; the first waits for gate,
// and while full it refuses them as a full spool does.
type batchSink struct {
	entered, gate chan struct{}
	once          sync.Once
	mu            sync.Mutex
	sizes         []int
	full          bool
}

func (s *batchSink) Publish(ctx context.Context, ev incident.Event) error {
	return s.PublishBatch(ctx, []incident.Event{ev})
}

func (s *batchSink) PublishBatch(ctx context.Context, evs []incident.Event) error {
	s.once.Do(func() {
		close(s.entered)
		select {
		case <-s.gate:
		case <-ctx.Done():
		}
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full {
		return fmt.Errorf("bus: spool: full: %w", monitor.ErrFull)
	}
	s.sizes = append(s.sizes, len(evs))
	return nil
}

func (s *batchSink) batches() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sizes)
}

// TestWorkerBatchesPublishes: traps that queued while the worker
// published go to the sink in one batch (one spool append); a full sink
// drops and counts them under the spool-full policy; malformed packets
// write one warn line a minute, with the count held back.
func TestWorkerBatchesPublishes(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sink := &batchSink{entered: make(chan struct{}), gate: make(chan struct{})}
	r, err := New(Config{Listen: "127.0.0.1:0", QueueSize: 1000, Workers: 1}, sink, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	pkt, err := os.ReadFile("testdata/packets/v2c-linkdown.bin")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(pkt)
	<-sink.entered
	const n = 100
	for i := 0; i < n; i += 10 {
		for range 10 {
			c.Write(pkt)
		}
		eventually(t, "queued", func() bool { return r.QueueLen() == i+10 })
	}
	close(sink.gate)
	eventually(t, "two batches", func() bool { return len(sink.batches()) == 2 })
	if got := sink.batches(); !slices.Equal(got, []int{1, n}) {
		t.Errorf("batches %v, want [1 %d]", got, n)
	}
	if got := testutil.ToFloat64(r.m.batches); got != 2 {
		t.Errorf("batches metric %v", got)
	}

	sink.mu.Lock()
	sink.full = true
	sink.mu.Unlock()
	for range 3 {
		c.Write(pkt)
	}
	eventually(t, "spool-full drops counted", func() bool { return testutil.ToFloat64(r.m.spoolFull) == 3 })
	if got := testutil.ToFloat64(r.m.publishErrors); got != 0 {
		t.Errorf("publish errors %v, want 0 (a full spool is its own policy)", got)
	}

	for range 5 {
		c.Write(pkt[:len(pkt)/2])
	}
	eventually(t, "5 decode errors", func() bool { return testutil.ToFloat64(r.m.decodeErrors[versionIndex("v2c")]) == 5 })
	out := logs.String()
	if got := strings.Count(out, `msg="malformed trap dropped"`); got != 1 {
		t.Errorf("%d warn lines for 5 malformed traps, want 1:\n%s", got, out)
	}
	if got := strings.Count(out, `msg="spool full: trap events dropped"`); got != 1 {
		t.Errorf("%d spool-full warn lines, want 1:\n%s", got, out)
	}
}
