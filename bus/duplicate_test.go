package bus

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
)

// TestConcurrentDuplicatePublishIsSuccess publishes every transition and
// event from each member of a three-node cluster with replicated streams
// at once, as relays racing over the same outbox do. JetStream answers
// some of them "duplicate message id is in process" while the first copy
// is being stored: that is a de-duplicated success, so no publish fails,
// and each message is stored once.
func TestConcurrentDuplicatePublishIsSuccess(t *testing.T) {
	c := newTestCluster(t, 3, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const ids, copies = 40, 4
	var wg sync.WaitGroup
	errs := make(chan error, ids*copies*len(c.buses)*2)
	for i := range ids {
		tr := Transition{Entry: incident.Entry{IncidentID: int64(i + 1), Seq: 1, Kind: incident.KindOpened}}
		ev := incident.Event{ID: fmt.Sprintf("dup-%d", i), Source: "test",
			Target: "db01", Check: "ping", Status: incident.Problem, Severity: incident.Critical, Time: time.Now()}
		for _, b := range c.buses {
			for range copies {
				wg.Go(func() {
					if err := b.PublishTransition(ctx, tr); err != nil {
						errs <- err
					}
					if err := b.Publish(ctx, ev); err != nil {
						errs <- err
					}
				})
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, name := range []string{c.buses[0].IncidentsStream(), c.buses[0].EventsStream()} {
		s, err := c.buses[0].JetStream().Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs != ids {
			t.Errorf("%s holds %d messages, want %d (one per id)", name, info.State.Msgs, ids)
		}
	}
}
