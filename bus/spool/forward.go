package spool

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// ErrUndeliverable marks an entry the bus can never take (for example
// larger than its max payload): the forwarder drops it, logs and counts
// it, rather than stopping everything behind it.
var ErrUndeliverable = errors.New("spool: undeliverable")

// PublishFunc publishes a batch in order and returns how many of its first
// entries the bus stored: len(batch) with a nil error, fewer with the
// error that stopped the rest. An error wrapping ErrUndeliverable is about
// batch[stored].
type PublishFunc func(ctx context.Context, batch []Entry) (stored int, err error)

// ForwardOptions tune Forward.
type ForwardOptions struct {
	// Batch is the most entries per publish batch (default 256), BatchBytes
	// about the most bytes (default 1 MiB).
	Batch      int
	BatchBytes int
	// Timeout bounds one batch's publish and acknowledgements (default 10s);
	// a batch not stored by then is published again.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed batch
	// (defaults 50ms and 2s).
	MinBackoff, MaxBackoff time.Duration
}

func (o *ForwardOptions) defaults() {
	if o.Batch <= 0 {
		o.Batch = 256
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 1 << 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 50 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(2*time.Second, o.MinBackoff)
	}
}

// Forward publishes the spool's entries in order until ctx ends, retrying
// a batch until the bus has stored it, and acknowledges what it stored.
// One Forward at a time.
func (s *Spool) Forward(ctx context.Context, publish PublishFunc, o ForwardOptions) {
	o.defaults()
	var batch []Entry
	backoff := o.MinBackoff
	lastLog := time.Time{}
	for ctx.Err() == nil {
		if len(batch) == 0 {
			var err error
			batch, err = s.Read(ctx, o.Batch, o.BatchBytes)
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, ErrClosed) {
					return
				}
				s.log.Error("spool: read", "err", err)
				s.setForward(err)
				sleep(ctx, o.MaxBackoff)
				continue
			}
		}
		pctx, cancel := context.WithTimeout(ctx, o.Timeout)
		n, err := publish(pctx, batch)
		cancel()
		n = min(max(n, 0), len(batch))
		if n > 0 {
			if aerr := s.Ack(batch[n-1].Seq); aerr != nil {
				s.log.Warn("spool: delete forwarded segment", "err", aerr)
			}
			batch = batch[n:]
		}
		if err == nil && len(batch) == 0 {
			if s.setForward(nil) {
				s.log.Info("spool: the bus takes messages again")
			}
			backoff = o.MinBackoff
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = fmt.Errorf("publisher stored %d of %d without an error", n, n+len(batch))
		}
		if errors.Is(err, ErrUndeliverable) && len(batch) > 0 {
			e := batch[0]
			s.log.Error("spool: dropping a message the bus can never take", "subject", e.Subject, "msg_id", e.MsgID,
				"bytes", len(e.Data), "err", err)
			s.m.dropped.Inc()
			_ = s.Ack(e.Seq)
			batch = batch[1:]
			continue
		}
		s.m.forwardErrors.Inc()
		first := s.setForward(err)
		if first || time.Since(lastLog) > 10*time.Second {
			st := s.Status()
			s.log.Warn("spool: the bus did not store a batch; keeping it and retrying", "batch", len(batch),
				"waiting", st.Entries, "retry_in", backoff, "err", err)
			lastLog = time.Now()
		}
		sleep(ctx, backoff/2+rand.N(backoff))
		backoff = min(2*backoff, o.MaxBackoff)
	}
}

// setForward records the outcome of the last batch; it reports whether
// the state changed (ok to failing, or failing to ok).
func (s *Spool) setForward(err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		changed := s.fwdErr != nil
		s.fwdErr, s.fwdSince = nil, time.Time{}
		return changed
	}
	changed := s.fwdErr == nil
	if changed {
		s.fwdSince = time.Now()
	}
	s.fwdErr = err
	return changed
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
