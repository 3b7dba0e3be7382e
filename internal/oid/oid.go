package oid

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxArcs is the most arcs an OID may have (RFC 2578 §3.5).
const MaxArcs = 128

// Errors of Check, wrapped with the OID and the arc.
var (
	ErrSyntax   = errors.New("not a numeric OID (digits separated by single dots)")
	ErrArc      = errors.New("arc larger than 4294967295 (32 bits)")
	ErrTooLong  = errors.New("more than 128 arcs")
	ErrTooShort = errors.New("fewer than 2 arcs")
	ErrFirstArc = errors.New("the first arc must be 0, 1 or 2, and under 0 or 1 the second at most 39")
	ErrZeroPad  = errors.New("arc with a leading zero")
)

// Check reports whether s (without a leading dot) is a complete numeric
// OID: the error names what is wrong.
func Check(s string) error {
	arcs, err := Arcs(s)
	if err != nil {
		return err
	}
	if len(arcs) < 2 {
		return fmt.Errorf("%q: %w", s, ErrTooShort)
	}
	if arcs[0] > 2 || arcs[0] < 2 && arcs[1] > 39 {
		return fmt.Errorf("%q: %w", s, ErrFirstArc)
	}
	return nil
}

// Arcs parses s, a dotted list of arcs (a whole OID or an instance
// suffix, without a leading dot), each within 32 bits, at most MaxArcs.
func Arcs(s string) ([]uint32, error) {
	if s == "" {
		return nil, fmt.Errorf("%q: %w", s, ErrSyntax)
	}
	if strings.Count(s, ".") >= MaxArcs {
		return nil, fmt.Errorf("%.40q...: %w", s, ErrTooLong)
	}
	parts := strings.Split(s, ".")
	out := make([]uint32, len(parts))
	for i, p := range parts {
		if p == "" || strings.TrimLeft(p, "0123456789") != "" {
			return nil, fmt.Errorf("%q: %w", s, ErrSyntax)
		}
		if len(p) > 1 && p[0] == '0' {
			return nil, fmt.Errorf("%q: arc %d %q: %w", s, i+1, p, ErrZeroPad)
		}
		v, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%q: arc %d: %w", s, i+1, ErrArc)
		}
		out[i] = uint32(v)
	}
	return out, nil
}
