package monitor

import (
	"context"
	"errors"

	"github.com/unyo-ops/unyo/alerting/incident"
)

// Sink takes the events a probe or receiver produces. The node's
// implementation publishes them on the event bus (JetStream, with the event
// ID as message id) and returns only once the bus has stored them.
type Sink interface {
	Publish(ctx context.Context, ev incident.Event) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, ev incident.Event) error

// Publish calls f.
func (f SinkFunc) Publish(ctx context.Context, ev incident.Event) error { return f(ctx, ev) }

// ErrFull is wrapped by a Sink's error when it refused events because its
// store is full (the node's spool at its bound): receivers without a way
// to push back on their senders drop and count them under that policy.
var ErrFull = errors.New("monitor: sink full")

// BatchSink is a Sink that also takes many events at once, all or none
// (the node's spool: one append per batch). Receivers batch when their
// sink has it.
type BatchSink interface {
	Sink
	PublishBatch(ctx context.Context, evs []incident.Event) error
}

// PublishAll hands evs to s: in one PublishBatch when s is a BatchSink,
// else one Publish each, stopping at the first error.
func PublishAll(ctx context.Context, s Sink, evs []incident.Event) error {
	if len(evs) == 0 {
		return nil
	}
	if bs, ok := s.(BatchSink); ok {
		return bs.PublishBatch(ctx, evs)
	}
	for _, ev := range evs {
		if err := s.Publish(ctx, ev); err != nil {
			return err
		}
	}
	return nil
}
