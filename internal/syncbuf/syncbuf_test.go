package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

func TestConcurrentWritesAndCap(t *testing.T) {
	b := &Buffer{Max: 100}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if n, err := b.Write([]byte("0123456789")); n != 10 || err != nil {
					t.Errorf("Write = %d, %v", n, err)
				}
				_ = b.String()
			}
		})
	}
	wg.Wait()
	// Writes stop once more than Max bytes are held: at most one write past it.
	if got := len(b.String()); got <= 100 || got > 110 {
		t.Fatalf("held %d bytes with Max 100, want 101 to 110", got)
	}
	if strings.Trim(b.String(), "0123456789") != "" {
		t.Fatal("writes interleaved inside a write")
	}
	u := &Buffer{}
	u.Write([]byte(strings.Repeat("x", 1000)))
	if len(u.String()) != 1000 {
		t.Fatalf("unbounded buffer held %d bytes", len(u.String()))
	}
}
