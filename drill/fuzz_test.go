package drill_test

import (
	"testing"

	"github.com/unyo-ops/unyo/drill"
)

func FuzzParseSeq(f *testing.F) {
	for _, s := range []string{"", "0", "42\n", "-1", "9223372036854775808", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := drill.ParseSeq(s)
		if err == nil && n < 0 {
			t.Fatalf("%q: negative %d", s, n)
		}
	})
}
