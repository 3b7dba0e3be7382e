package scheduler

import (
	"context"
	"sync"
	"time"
)

// Sample is one measured value.
type Sample struct {
	Target string
	Name   string
	Labels map[string]string
	Value  float64
	Time   time.Time
}

// SampleSink stores samples. Add is called from many check goroutines at
// once and should batch internally; an error is counted and logged, the
// check goes on.
type SampleSink interface {
	Add(ctx context.Context, samples []Sample) error
}

// Ring is an in-memory SampleSink keeping the last N samples, for tests and
// for a node without a store.
type Ring struct {
	mu   sync.Mutex
	buf  []Sample
	next int
	n    int
}

// NewRing returns a ring of n samples.
func NewRing(n int) *Ring { return &Ring{buf: make([]Sample, max(n, 1))} }

// Add stores samples, overwriting the oldest.
func (r *Ring) Add(_ context.Context, ss []Sample) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range ss {
		r.buf[r.next] = s
		r.next = (r.next + 1) % len(r.buf)
		r.n = min(r.n+1, len(r.buf))
	}
	return nil
}

// All returns the stored samples, oldest first.
func (r *Ring) All() []Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Sample, 0, r.n)
	start := (r.next - r.n + len(r.buf)) % len(r.buf)
	for i := 0; i < r.n; i++ {
		out = append(out, r.buf[(start+i)%len(r.buf)])
	}
	return out
}

// Last returns the newest sample of target and name whose labels include
// the given pairs.
func (r *Ring) Last(target, name string, labels ...string) (Sample, bool) {
	all := r.All()
	for i := len(all) - 1; i >= 0; i-- {
		s := all[i]
		if s.Target != target || s.Name != name {
			continue
		}
		ok := true
		for j := 0; j+1 < len(labels); j += 2 {
			if s.Labels[labels[j]] != labels[j+1] {
				ok = false
			}
		}
		if ok {
			return s, true
		}
	}
	return Sample{}, false
}
