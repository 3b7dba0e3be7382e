package trap

import (
	"context"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/unyo-ops/unyo/monitor/internal/receivertest"

	"github.com/unyo-ops/unyo/internal/syncbuf"
)

// TestWorkerBatchesPublishes: traps that queued while the worker
// published go to the sink in one batch (one spool append); a full sink
// drops and counts them under the spool-full policy; malformed packets
// write one warn line a minute, with the count held back.
func TestWorkerBatchesPublishes(t *testing.T) {
	t.Parallel()
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sink := receivertest.NewBatchSink()
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
	<-sink.Entered
	const n = 100
	for i := 0; i < n; i += 10 {
		for range 10 {
			c.Write(pkt)
		}
		eventually(t, "queued", func() bool { return r.QueueLen() == i+10 })
	}
	close(sink.Gate)
	eventually(t, "two batches", func() bool { return len(sink.Batches()) == 2 })
	if got := sink.Batches(); !slices.Equal(got, []int{1, n}) {
		t.Errorf("batches %v, want [1 %d]", got, n)
	}
	if got := testutil.ToFloat64(r.m.batches); got != 2 {
		t.Errorf("batches metric %v", got)
	}

	sink.SetFull(true)
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
