package bus

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// EnsureConsumer creates or updates a durable consumer on stream. In a NATS
// cluster that is still electing its JetStream leaders (every node
// restarting at once) the request times out, so it keeps asking, with
// backoff, for up to timeout (0: 2 minutes, or no limit when the bus's
// Options.StartTimeout is negative) or until ctx ends.
func (b *Bus) EnsureConsumer(ctx context.Context, stream string, cfg jetstream.ConsumerConfig, timeout time.Duration) (jetstream.Consumer, error) {
	if timeout <= 0 && b.opts.StartTimeout < 0 {
		timeout = -1
	}
	return EnsureConsumer(ctx, b.js, stream, cfg, timeout, b.log)
}

// EnsureConsumer is Bus.EnsureConsumer on any JetStream context; a
// negative timeout retries until ctx ends.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig, timeout time.Duration, log *slog.Logger) (jetstream.Consumer, error) {
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	for backoff := 250 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := js.CreateOrUpdateConsumer(cctx, stream, cfg)
		cancel()
		if err == nil {
			return c, nil
		}
		if ctx.Err() != nil || timeout > 0 && time.Since(start)+backoff > timeout || permanentStreamErr(err) {
			return nil, fmt.Errorf("bus: consumer %s on %s: %w", cfg.Durable, stream, err)
		}
		log.Warn("consumer not created yet; retrying", "consumer", cfg.Durable, "stream", stream, "retry_in", backoff,
			"waited", time.Since(start).Round(time.Second), "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}
