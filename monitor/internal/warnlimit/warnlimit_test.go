package warnlimit

import (
	"testing"
	"time"
)

func TestAllow(t *testing.T) {
	l := New(time.Minute)
	t0 := time.Unix(1000, 0)
	steps := []struct {
		kind string
		at   time.Duration
		ok   bool
		held int
	}{
		{"auth", 0, true, 0},
		{"auth", time.Second, false, 0},
		{"level", time.Second, true, 0},
		{"auth", 59 * time.Second, false, 0},
		{"auth", 60 * time.Second, true, 2},
		{"auth", 61 * time.Second, false, 0},
		{"auth", 200 * time.Second, true, 1},
	}
	for i, s := range steps {
		ok, n := l.Allow(s.kind, t0.Add(s.at))
		if ok != s.ok || n != s.held {
			t.Errorf("step %d (%s at %v): Allow = %v, %d; want %v, %d", i, s.kind, s.at, ok, n, s.ok, s.held)
		}
	}
}
