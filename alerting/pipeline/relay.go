package pipeline

import (
	"context"
	"errors"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/bus"
)

// relayLoop publishes the ledger's outbox: woken after each commit, and
// every second in case a wake-up was missed or a publish failed.
func (p *Pipeline) relayLoop(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastErr := ""
	for {
		for ctx.Err() == nil {
			n, err := p.relayOnce(ctx)
			if err != nil {
				// Once per distinct error: an outage retries every second.
				// "duplicate message id is in process": a replicated stream is
				// storing the same entry now; the retry finds it stored (a plain
				// duplicate, success). Not worth a warning.
				if err.Error() != lastErr && !errors.Is(err, ledger.ErrUnavailable) && !bus.DuplicateInProcess(err) {
					p.log.Warn("outbox relay", "err", err)
					lastErr = err.Error()
				}
				break
			}
			lastErr = ""
			if n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-tick.C:
		}
	}
}

// relayOnce publishes one page of pending entries and returns how many.
func (p *Pipeline) relayOnce(ctx context.Context) (int, error) {
	entries, err := p.store.Pending(ctx, 256)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	incs := map[int64]incident.Incident{}
	keys := make([]ledger.EntryKey, 0, len(entries))
	for _, e := range entries {
		inc, ok := incs[e.IncidentID]
		if !ok {
			inc, err = p.store.Incident(ctx, e.IncidentID)
			if err != nil {
				return 0, err
			}
			incs[e.IncidentID] = inc
		}
		if err := p.bus.PublishTransition(ctx, bus.Transition{Entry: e, Incident: inc}); err != nil {
			if len(keys) > 0 {
				_ = p.store.MarkPublished(ctx, keys)
			}
			return 0, err
		}
		keys = append(keys, ledger.EntryKey{IncidentID: e.IncidentID, Seq: e.Seq})
	}
	if err := p.store.MarkPublished(ctx, keys); err != nil {
		return 0, err
	}
	p.m.published.Add(float64(len(keys)))
	return len(keys), nil
}
