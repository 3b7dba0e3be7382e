package syslog

import (
	"context"
	"fmt"
	"net"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/unyo-ops/unyo/monitor/filter"
	"github.com/unyo-ops/unyo/monitor/internal/receivertest"
)

// TestWorkerBatchesPublishes: what queued while the worker published is
// handed to the sink in one batch (one spool append), not per message;
// a full sink drops the batch and counts it under the spool-full policy,
// not as a publish error.
func TestWorkerBatchesPublishes(t *testing.T) {
	t.Parallel()
	fcfg, _ := filter.LoadConfig([]byte(testFilters))
	eng, _ := filter.New(fcfg, nil)
	sink := receivertest.NewBatchSink()
	r, err := New(Config{UDPListen: "127.0.0.1:0", QueueSize: 1000, Workers: 1}, eng, sink, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	u, _ := r.Addr()
	c, err := net.Dial("udp", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	send := func(from, to int) {
		for i := from; i < to; i++ {
			fmt.Fprintf(c, "<11>1 - h%d a - - - I/O error on sda", i)
		}
	}
	send(0, 1)
	<-sink.Entered
	const n = 100
	for i := 1; i <= n; i += 10 {
		send(i, i+10)
		eventually(t, "queued", func() bool { return r.QueueLen() == i+9 })
	}
	close(sink.Gate)
	eventually(t, "two batches", func() bool { return len(sink.Batches()) == 2 })
	if got := sink.Batches(); !slices.Equal(got, []int{1, n}) {
		t.Errorf("batches %v, want [1 %d]", got, n)
	}
	if got := testutil.ToFloat64(r.m.batches); got != 2 {
		t.Errorf("batches metric %v", got)
	}
	if got := testutil.ToFloat64(r.m.publishedIncident); got != n+1 {
		t.Errorf("published %v", got)
	}

	sink.SetFull(true)
	send(0, 3)
	eventually(t, "spool-full drops counted", func() bool { return testutil.ToFloat64(r.m.spoolFull) == 3 })
	if got := testutil.ToFloat64(r.m.publishErrors); got != 0 {
		t.Errorf("publish errors %v, want 0 (a full spool is its own policy)", got)
	}
}
