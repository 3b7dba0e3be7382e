package warnlimit

import (
	"sync"
	"time"
)

// Limiter allows at most one warn line per kind and interval. It is safe
// for concurrent use. Kinds are a small fixed set chosen by the caller
// (never text from the input), so its maps stay small.
type Limiter struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
	held  map[string]int
}

// New returns a Limiter allowing one line per kind every interval.
func New(every time.Duration) *Limiter {
	return &Limiter{every: every, last: map[string]time.Time{}, held: map[string]int{}}
}

// Allow reports whether a warn line of kind may be written at now and, if
// so, how many were held back since the last one.
func (l *Limiter) Allow(kind string, now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.last[kind]; ok && now.Sub(last) < l.every {
		l.held[kind]++
		return false, 0
	}
	n := l.held[kind]
	l.last[kind], l.held[kind] = now, 0
	return true, n
}
