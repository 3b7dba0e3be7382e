package oid

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	long := strings.Repeat("1.", MaxArcs)
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"1.3.6.1.2.1.1.3.0", nil},
		{"1.3.6.1.4.1.99999.1.0", nil},
		{"2.999.1", nil},
		{"0.0", nil},
		{"1.3.6.1.4294967295", nil},
		{"99999999999999999999.1", ErrArc},
		{"1.3.6.1.4294967296", ErrArc},
		{"3.1", ErrFirstArc},
		{"1.40", ErrFirstArc},
		{"1", ErrTooShort},
		{"", ErrSyntax},
		{"1..3", ErrSyntax},
		{"1.3.", ErrSyntax},
		{".1.3", ErrSyntax},
		{"1.3.a", ErrSyntax},
		{"1.3.-1", ErrSyntax},
		{"1.3.+1", ErrSyntax},
		{"1.03", ErrZeroPad},
		{long[:len(long)-1], nil},
		{long + "1", ErrTooLong},
	} {
		err := Check(tc.in)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("Check(%.50q) = %v, want %v", tc.in, err, tc.want)
		}
	}
}

// FuzzCheck: Check never panics, and what it accepts is dots and arcs
// that print back the same within 32 bits.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"1.3.6.1.2.1.1.3.0", "99999999999999999999.1", "1..3", "1.03", "2.999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if Check(s) != nil {
			return
		}
		arcs, err := Arcs(s)
		if err != nil {
			t.Fatalf("Check accepted %q, Arcs refused it: %v", s, err)
		}
		parts := make([]string, len(arcs))
		for i, a := range arcs {
			parts[i] = strconv.FormatUint(uint64(a), 10)
		}
		if got := strings.Join(parts, "."); got != s || len(arcs) > MaxArcs || len(arcs) < 2 {
			t.Fatalf("Check accepted %q (arcs %q)", s, got)
		}
	})
}
