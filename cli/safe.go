package cli

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// safe returns s with every character that could rewrite the operator's
// terminal written visibly instead: C0/C1 controls and DEL as \r, \n, \t,
// \x00 …, bidirectional controls (U+202A–U+202E, U+2066–U+2069, U+200E/F,
// U+061C) and other invisible format characters as \u202e, and invalid UTF-8
// as \xff. A backslash stays as it is. Every value that comes from outside the
// CLI (messages, comments, names, labels, actors, details) goes through safe
// before it reaches a human output; JSON output escapes on its own.
func safe(s string) string {
	clean := true
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || unsafeRune(r) {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += n
	}
	return b.String()
}

// safeLines is safe for a text of several lines, an error message above
// all: its line breaks stay, everything else is escaped as safe does.
func safeLines(s string) string {
	ls := strings.Split(s, "\n")
	for i, l := range ls {
		ls[i] = safe(l)
	}
	return strings.Join(ls, "\n")
}

// unsafeRune reports whether r must not reach a terminal as it is: controls
// (C0, DEL, C1) and format characters (Unicode category Cf: the bidi
// embeddings, overrides and isolates, the marks LRM/RLM/ALM, zero-width
// characters), plus the line and paragraph separators.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}

// oneLine returns s made safe with its runs of white space folded into one
// space, cut to n terminal columns (a Japanese character takes two).
func oneLine(s string, n int) string {
	s = safe(strings.Join(strings.Fields(s), " "))
	if n > 0 && displayWidth(s) > n {
		return runewidthCond.Truncate(s, n, "…")
	}
	return s
}

// timeLayout is the one layout of a time in human output: the local time of
// the machine the CLI runs on, with its offset from UTC, so that a time read
// from any command means one instant.
const timeLayout = "2006-01-02 15:04:05 -07:00"

// local is the zone of human output: the machine's (a test sets another).
var local = time.Local

// fmtTime formats t for human output in local time with the zone shown; a
// zero time prints as "-".
func fmtTime(t time.Time) string {
	return fmtDay(t, "-")
}

// fmtDay is fmtTime with the text printed for a zero time.
func fmtDay(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.In(local).Format(timeLayout)
}

// fmtUntil formats the end of something in force: the time of day alone
// (with the zone) when it is today in local time, the full time otherwise.
func fmtUntil(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	l, n := t.In(local), now.In(local)
	if l.Year() == n.Year() && l.YearDay() == n.YearDay() {
		return l.Format("15:04 -07:00") + " today"
	}
	return l.Format(timeLayout)
}
