package authtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/auth"
)

// Bench measures the store calls on the request path: TokenByHash among
// 1000 tokens (an API request whose token is not cached), TouchToken, and
// AppendAudit (every state change and login). open must return a new,
// empty store.
func Bench(b *testing.B, open func(b *testing.B) auth.Store) {
	b.Run("TokenByHash", func(b *testing.B) {
		s := open(b)
		ctx := b.Context()
		var hashes []string
		for i := range 1000 {
			tk := token(fmt.Sprintf("tok_%016x", i), "alice")
			if err := s.CreateToken(ctx, tk); err != nil {
				b.Fatal(err)
			}
			hashes = append(hashes, tk.Hash)
		}
		b.ResetTimer()
		i := 0
		for b.Loop() {
			if _, err := s.TokenByHash(ctx, hashes[i%len(hashes)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("TouchToken", func(b *testing.B) {
		s := open(b)
		ctx := b.Context()
		tk := token("tok_0000000000000001", "alice")
		if err := s.CreateToken(ctx, tk); err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			if err := s.TouchToken(ctx, tk.ID, T0.Add(time.Duration(i)*time.Second), "127.0.0.1:1"); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("AppendAudit", func(b *testing.B) {
		s := open(b)
		ctx := b.Context()
		i := 0
		for b.Loop() {
			if _, err := s.AppendAudit(ctx, entry(i, "alice", time.Time{})); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
