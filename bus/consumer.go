package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// EnsureConsumer creates or updates a durable consumer on stream. In a NATS
// cluster that is still electing its JetStream leaders (every node
// restarting at once) the request times out, so it keeps asking, with
// backoff, for up to timeout (0: 2 minutes) or until ctx ends.
func (b *Bus) EnsureConsumer(ctx context.Context, stream string, cfg jetstream.ConsumerConfig, timeout time.Duration) (jetstream.Consumer, error) {
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	deadline := time.Now().Add(timeout)
	for backoff := 250 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := b.js.CreateOrUpdateConsumer(cctx, stream, cfg)
		cancel()
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil || time.Now().Add(backoff).After(deadline) {
			return nil, fmt.Errorf("bus: consumer %s on %s: %w", cfg.Durable, stream, err)
		}
		b.log.Warn("consumer not created yet; retrying", "consumer", cfg.Durable, "stream", stream, "retry_in", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}
