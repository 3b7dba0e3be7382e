package receivertest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/monitor"
)

// BatchSink records the sizes of the batches it is given (a
// monitor.BatchSink). The first call closes Entered and waits for Gate to
// be closed (or its context to end); while full, it refuses batches with
// monitor.ErrFull as a full spool does. Create it with NewBatchSink.
type BatchSink struct {
	// Entered is closed when the first batch arrives; close Gate to let
	// it through.
	Entered, Gate chan struct{}

	once  sync.Once
	mu    sync.Mutex
	sizes []int
	full  bool
}

// NewBatchSink returns an empty sink with its channels made.
func NewBatchSink() *BatchSink {
	return &BatchSink{Entered: make(chan struct{}), Gate: make(chan struct{})}
}

// Publish publishes one event as a batch of one.
func (s *BatchSink) Publish(ctx context.Context, ev incident.Event) error {
	return s.PublishBatch(ctx, []incident.Event{ev})
}

// PublishBatch records len(evs), or refuses them while full.
func (s *BatchSink) PublishBatch(ctx context.Context, evs []incident.Event) error {
	s.once.Do(func() {
		close(s.Entered)
		select {
		case <-s.Gate:
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

// Batches returns the sizes of the batches recorded so far.
func (s *BatchSink) Batches() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sizes)
}

// SetFull makes the sink refuse (true) or accept (false) what follows.
func (s *BatchSink) SetFull(full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.full = full
}
