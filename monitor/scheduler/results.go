package scheduler

import (
	"context"
	"sync"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/monitor"
)

// The ping loop hands the samples and events of each round to the results
// goroutine instead of storing and publishing them itself: a sample store
// or an event sink that is slow (the spool's fsync, the dual-vantage
// recheck of a ping-down, a ledger catching up) then delays results, never
// the probes. Events are never dropped: when maxQueuedEvents wait, the
// loop waits for room. Samples beyond maxQueuedSamples are dropped and
// counted, as the node's own sample buffer does.
const (
	maxQueuedEvents  = 1 << 16
	maxQueuedSamples = 1 << 19
	// publishChunk is the most events handed to a BatchSink at once.
	publishChunk = 1024
	// resultsPause is the least time between two turns of the results
	// goroutine: the rounds of several ticks share one wake-up, one
	// SampleSink.Add and one spool append (an event waits at most this
	// much longer).
	resultsPause = 50 * time.Millisecond
)

// queuedEvent is an event waiting for the results goroutine.
type queuedEvent struct {
	target string
	ev     incident.Event
}

// resultQueue is the hand-off between the ping loop and the results
// goroutine.
type resultQueue struct {
	mu      sync.Mutex
	cond    sync.Cond // room for events
	samples []Sample
	events  []queuedEvent
	closed  bool // the results goroutine ended
	kick    chan struct{}
	// maxEvents and maxSamples bound the queue (maxQueuedEvents and
	// maxQueuedSamples).
	maxEvents, maxSamples int
}

func newResultQueue(maxEvents, maxSamples int) *resultQueue {
	q := &resultQueue{kick: make(chan struct{}, 1), maxEvents: maxEvents, maxSamples: maxSamples}
	q.cond.L = &q.mu
	return q
}

// add queues one round's samples and events; it returns how many samples
// were dropped for want of room. It waits while the events queue is full.
func (q *resultQueue) add(samples []Sample, events []queuedEvent) (dropped int) {
	if len(samples) == 0 && len(events) == 0 {
		return 0
	}
	q.mu.Lock()
	for len(q.events) >= q.maxEvents && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		q.mu.Unlock()
		return len(samples)
	}
	room := q.maxSamples - len(q.samples)
	if len(samples) > room {
		dropped = len(samples) - room
		samples = samples[:room]
	}
	q.samples = append(q.samples, samples...)
	q.events = append(q.events, events...)
	q.mu.Unlock()
	select {
	case q.kick <- struct{}{}:
	default:
	}
	return dropped
}

// take returns everything queued, leaving the given (emptied) slices in
// its place.
func (q *resultQueue) take(samples []Sample, events []queuedEvent) ([]Sample, []queuedEvent) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, e := q.samples, q.events
	q.samples, q.events = samples[:0], events[:0]
	q.cond.Broadcast() // room for events
	return s, e
}

func (q *resultQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// runResults is the results goroutine of the ping loop: it stores the
// samples (one SampleSink.Add per turn) and publishes the events (in
// batches when the sink is a monitor.BatchSink: one spool append) of
// every round queued since its last turn.
func (s *Scheduler) runResults(ctx context.Context, q *resultQueue) {
	defer s.wg.Done()
	defer q.close()
	var samples []Sample
	var events []queuedEvent
	var batch []incident.Event
	var names []string
	pause := time.NewTimer(0)
	defer pause.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.kick:
		}
		select {
		case <-ctx.Done():
			return
		case <-pause.C:
		}
		samples, events = q.take(samples, events)
		if s.opts.Samples != nil && len(samples) > 0 {
			if err := s.opts.Samples.Add(ctx, samples); err != nil {
				s.metrics.sampleErrors.Inc()
				s.log.Warn("storing samples", "check", "ping", "err", err)
			}
		}
		bs, ok := s.opts.Sink.(monitor.BatchSink)
		if !ok {
			for _, e := range events {
				s.publish(ctx, e.target, e.ev)
			}
		} else {
			for i := 0; i < len(events); i += publishChunk {
				batch, names = batch[:0], names[:0]
				for _, e := range events[i:min(i+publishChunk, len(events))] {
					if ev, ok := s.prepare(e.target, e.ev); ok {
						batch = append(batch, ev)
						names = append(names, e.target)
					}
				}
				s.publishBatch(ctx, bs, names, batch)
			}
			clear(batch)
		}
		clear(samples)
		clear(events)
		pause.Reset(resultsPause)
	}
}

// publishBatch hands evs (prepared) to bs at once.
func (s *Scheduler) publishBatch(ctx context.Context, bs monitor.BatchSink, names []string, evs []incident.Event) {
	if len(evs) == 0 {
		return
	}
	if err := bs.PublishBatch(ctx, evs); err != nil {
		s.metrics.publishErrs.Add(float64(len(evs)))
		s.log.Warn("publishing events", "events", len(evs), "first_target", names[0], "err", err)
		return
	}
	for i, ev := range evs {
		s.published(names[i], ev)
	}
}
