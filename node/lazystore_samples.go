package node

import (
	"context"
	"fmt"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
)

// The sample methods: the console's samples endpoint and the monthly
// report read through the lazy store like every other caller.

func (l *lazyStore) samples() (ledger.SampleStore, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	ss, ok := s.(ledger.SampleStore)
	if !ok {
		return nil, fmt.Errorf("%w: %T keeps no samples", ledger.ErrBadQuery, s)
	}
	return ss, nil
}

func (l *lazyStore) AddSamples(ctx context.Context, xs []ledger.Sample) error {
	ss, err := l.samples()
	if err != nil {
		return err
	}
	return ss.AddSamples(ctx, xs)
}

func (l *lazyStore) Samples(ctx context.Context, q ledger.SampleQuery) ([]ledger.Sample, error) {
	ss, err := l.samples()
	if err != nil {
		return nil, err
	}
	return ss.Samples(ctx, q)
}

func (l *lazyStore) Rollups(ctx context.Context, q ledger.RollupQuery) ([]ledger.Rollup, error) {
	ss, err := l.samples()
	if err != nil {
		return nil, err
	}
	return ss.Rollups(ctx, q)
}

func (l *lazyStore) PurgeSamples(ctx context.Context, before time.Time) (int64, error) {
	ss, err := l.samples()
	if err != nil {
		return 0, err
	}
	return ss.PurgeSamples(ctx, before)
}

func (l *lazyStore) PurgeRollups(ctx context.Context, res time.Duration, before time.Time) (int64, error) {
	ss, err := l.samples()
	if err != nil {
		return 0, err
	}
	return ss.PurgeRollups(ctx, res, before)
}

func (l *lazyStore) sketches() (ledger.SketchStore, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	sk, ok := s.(ledger.SketchStore)
	if !ok {
		return nil, fmt.Errorf("%w: %T keeps no sketches", ledger.ErrBadQuery, s)
	}
	return sk, nil
}

func (l *lazyStore) Sketches(ctx context.Context, q ledger.SampleQuery) ([]ledger.SketchRow, error) {
	sk, err := l.sketches()
	if err != nil {
		return nil, err
	}
	return sk.Sketches(ctx, q)
}

func (l *lazyStore) PurgeSketches(ctx context.Context, before time.Time) (int64, error) {
	sk, err := l.sketches()
	if err != nil {
		return 0, err
	}
	return sk.PurgeSketches(ctx, before)
}
