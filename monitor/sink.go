package monitor

import (
	"context"

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
