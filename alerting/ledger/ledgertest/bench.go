package ledgertest

import (
	"fmt"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

// Bench sizes.
const (
	BenchBatch = 256 // events per ApplyEvents call
	BenchKeys  = 500 // distinct dedup keys the events spread over
)

// Bench measures ApplyEvents with deduplication: each iteration applies one
// batch of BenchBatch events spread over BenchKeys dedup keys, so after the
// first two batches almost every event is an occurrence of an active
// incident; one event in 50 is an ok (recovery, then recurrence) and one in
// 100 raises the severity. It reports events/s. open must return a new,
// empty store.
func Bench(b *testing.B, open func(b *testing.B) ledger.Store) {
	s := open(b)
	ctx := b.Context()
	sevs := []incident.Severity{incident.Info, incident.Warning, incident.Minor, incident.Major, incident.Critical}
	batch := func(n int) []incident.Event {
		evs := make([]incident.Event, BenchBatch)
		for i := range evs {
			seq := n*BenchBatch + i
			k := seq % BenchKeys
			e := incident.Event{
				ID:       fmt.Sprintf("bench-%d", seq),
				Source:   "bench",
				Target:   fmt.Sprintf("node%03d", k),
				Check:    "ping",
				Severity: incident.Warning,
				Status:   incident.Problem,
				Message:  fmt.Sprintf("packet loss %d%%", seq%100),
				Time:     T0.Add(time.Duration(seq) * time.Millisecond),
				Labels:   map[string]string{"rack": fmt.Sprint(k % 20)},
			}
			switch {
			case seq%50 == 7:
				e.Status = incident.OK
			case seq%100 == 3:
				e.Severity = sevs[(seq/100)%len(sevs)]
			}
			evs[i] = e
		}
		return evs
	}
	n := 0
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		evs := batch(n)
		b.StartTimer()
		if _, err := s.ApplyEvents(ctx, evs); err != nil {
			b.Fatalf("ApplyEvents: %v", err)
		}
		n++
	}
	b.ReportMetric(float64(n*BenchBatch)/b.Elapsed().Seconds(), "events/s")
}
