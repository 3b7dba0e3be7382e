package postgres

import "testing"

func TestRebind(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT a FROM t WHERE id = $1", "SELECT a FROM t WHERE id = $1"},
		{"SELECT a FROM t WHERE id = ? AND b IN (?, ?)", "SELECT a FROM t WHERE id = $1 AND b IN ($2, $3)"},
		{"UPDATE t SET a = ? WHERE k = ANY(?::text[]) RETURNING ?", "UPDATE t SET a = $1 WHERE k = ANY($2::text[]) RETURNING $3"},
	} {
		for range 2 { // the second answer comes from the cache
			if got := rebind(tt.in); got != tt.want {
				t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
			}
		}
	}
}
