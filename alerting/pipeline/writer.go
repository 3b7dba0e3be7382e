package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/bus"
)

// Options configure the Writer and the Relay.
type Options struct {
	// BatchSize is the most events applied in one transaction (default 256).
	BatchSize int
	// AckWait is how long JetStream waits for an acknowledgement before it
	// redelivers (default 30s).
	AckWait time.Duration
	// RetryBackoff is the first wait after a failed ledger call; it doubles
	// up to MaxBackoff (defaults 1s and 30s).
	RetryBackoff time.Duration
	MaxBackoff   time.Duration
	// Durable is the consumer name (default "ledger-writer").
	Durable string
	// ConsumerTimeout bounds how long New keeps trying to create the
	// consumer (default: the bus's, see bus.Bus.EnsureConsumer: 2m, or
	// until New's context ends on a node that waits for its peers).
	ConsumerTimeout time.Duration
	Logger          *slog.Logger
	Registerer      prometheus.Registerer
}

func (o *Options) defaults() {
	if o.BatchSize <= 0 {
		o.BatchSize = 256
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = time.Second
	}
	if o.MaxBackoff < o.RetryBackoff {
		o.MaxBackoff = max(30*time.Second, o.RetryBackoff)
	}
	if o.Durable == "" {
		o.Durable = "ledger-writer"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Pipeline runs the Writer and the Relay.
type Pipeline struct {
	opts  Options
	bus   *bus.Bus
	store ledger.Store
	m     *metrics
	log   *slog.Logger
	cons  jetstream.Consumer

	wake chan struct{} // nudges the relay

	mu       sync.Mutex
	notReady error // why the ledger is not usable now, nil when it is

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// New creates the durable consumer; Start runs the loops.
func New(ctx context.Context, b *bus.Bus, store ledger.Store, opts Options) (*Pipeline, error) {
	opts.defaults()
	p := &Pipeline{opts: opts, bus: b, store: store, m: newMetrics(opts.Registerer),
		log: opts.Logger.With("component", "pipeline"), wake: make(chan struct{}, 1)}
	cons, err := b.EnsureConsumer(ctx, b.EventsStream(), jetstream.ConsumerConfig{
		Durable:       opts.Durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opts.AckWait,
		MaxAckPending: max(4*opts.BatchSize, 1024),
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}, opts.ConsumerTimeout)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	p.cons = cons
	p.m.ledgerUp.Set(1)
	return p, nil
}

// Start runs the writer and relay until Stop.
func (p *Pipeline) Start() {
	if p.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done.Add(2)
	go func() { defer p.done.Done(); p.writeLoop(ctx) }()
	go func() { defer p.done.Done(); p.relayLoop(ctx) }()
}

// Stop ends the loops and waits for them. Unacknowledged messages are
// redelivered to the next writer.
func (p *Pipeline) Stop() {
	if p.cancel == nil {
		return
	}
	p.cancel()
	p.done.Wait()
}

// Ready returns nil when the ledger is usable, or why not.
func (p *Pipeline) Ready() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.notReady
}

func (p *Pipeline) setReady(err error) {
	p.mu.Lock()
	p.notReady = err
	p.mu.Unlock()
	if err == nil {
		p.m.ledgerUp.Set(1)
	} else {
		p.m.ledgerUp.Set(0)
	}
}

// Pending returns how many events wait in the stream for the writer.
func (p *Pipeline) Pending(ctx context.Context) (uint64, error) {
	info, err := p.cons.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("pipeline: consumer info: %w", err)
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}

// Nudge tells the relay there may be new entries (after an operator action).
func (p *Pipeline) Nudge() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *Pipeline) writeLoop(ctx context.Context) {
	for ctx.Err() == nil {
		// Take what is there without waiting; when nothing is, block for the
		// next single message so a lone event is applied at once rather than
		// after a batch fills or a fetch expires.
		msgs, err := p.fetch(func() (jetstream.MessageBatch, error) { return p.cons.FetchNoWait(p.opts.BatchSize) })
		if err == nil && len(msgs) == 0 {
			msgs, err = p.fetch(func() (jetstream.MessageBatch, error) {
				return p.cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
			})
		}
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("fetch", "err", err)
				sleep(ctx, p.opts.RetryBackoff)
			}
			continue
		}
		if len(msgs) > 0 {
			p.apply(ctx, msgs)
		}
	}
}

// fetch runs one pull request and collects its messages.
func (p *Pipeline) fetch(pull func() (jetstream.MessageBatch, error)) ([]jetstream.Msg, error) {
	batch, err := pull()
	if err != nil {
		return nil, err
	}
	var msgs []jetstream.Msg
	for msg := range batch.Messages() {
		msgs = append(msgs, msg)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) {
		p.log.Debug("fetch ended", "err", err)
	}
	return msgs, nil
}

// apply writes one batch to the ledger, retrying until it commits or the
// pipeline stops, then acknowledges every message.
func (p *Pipeline) apply(ctx context.Context, msgs []jetstream.Msg) {
	evs := make([]incident.Event, 0, len(msgs))
	keep := msgs[:0:0]
	for _, msg := range msgs {
		var ev incident.Event
		if err := decode(msg.Data(), &ev); err != nil {
			p.m.decodeErrors.Inc()
			p.log.Warn("dropping message that is not a valid event", "subject", msg.Subject(), "err", err)
			_ = msg.Term()
			continue
		}
		evs = append(evs, ev)
		keep = append(keep, msg)
	}
	if len(evs) == 0 {
		return
	}
	backoff := p.opts.RetryBackoff
	lastProgress := time.Now()
	for {
		start := time.Now()
		changes, err := p.store.ApplyEvents(ctx, evs)
		if err == nil {
			p.m.batch.Observe(time.Since(start).Seconds())
			if err := p.Ready(); err != nil && !errors.Is(err, ledger.ErrNotOpen) {
				p.log.Info("ledger available again")
			}
			p.setReady(nil)
			for _, c := range changes {
				p.m.applied.WithLabelValues(string(c.Kind)).Inc()
			}
			for _, msg := range keep {
				if err := msg.Ack(); err != nil {
					// Redelivered later and recognised as a duplicate.
					p.log.Debug("ack", "err", err)
				}
			}
			p.Nudge()
			return
		}
		if ctx.Err() != nil {
			return // not acknowledged: redelivered to the next writer
		}
		p.m.applyErrors.Inc()
		p.setReady(fmt.Errorf("ledger unavailable: %w", err))
		if errors.Is(err, ledger.ErrNotOpen) {
			// The node is still opening the store: not a failure.
			p.log.Debug("ledger not open yet; keeping the batch", "events", len(evs), "retry_in", backoff)
		} else {
			p.log.Error("ledger apply failed; keeping the batch and retrying", "events", len(evs), "retry_in", backoff, "err", err)
		}
		if time.Since(lastProgress) > p.opts.AckWait/3 || backoff >= p.opts.AckWait/3 {
			for _, msg := range keep {
				_ = msg.InProgress()
			}
			lastProgress = time.Now()
		}
		sleep(ctx, min(backoff, p.opts.AckWait/3))
		backoff = min(2*backoff, p.opts.MaxBackoff)
	}
}

// decode reads an event from a bus message; it must be a valid one.
func decode(data []byte, ev *incident.Event) error {
	if err := incident.DecodeJSON(data, ev); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return ev.Validate()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
