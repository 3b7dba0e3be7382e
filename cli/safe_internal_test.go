package cli

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestSafe(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain text, 日本語 ok", "plain text, 日本語 ok"},
		{"a\r\nFAKE LINE\u202e", `a\r\nFAKE LINE\u202e`},
		{"nul\x00 bel\a esc\x1b[2J del\x7f tab\t", `nul\x00 bel\x07 esc\x1b[2J del\x7f tab\t`},
		{"c1 \u0085 \u009b", `c1 \u0085 \u009b`},
		{"\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c", `\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c`},
		{"ls\u2028ps\u2029", `ls\u2028ps\u2029`},
		{"bad \xff utf8", `bad \xff utf8`},
		{`back\slash`, `back\slash`},
		{"", ""},
	} {
		if got := safe(c.in); got != c.want {
			t.Errorf("safe(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSafeLines(t *testing.T) {
	if got, want := safeLines("line 1: bad\nline 2: x\r\u202ey\x00"), "line 1: bad\nline 2: x\\r\\u202ey\\x00"; got != want {
		t.Errorf("safeLines = %q, want %q", got, want)
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine("a\r\n  b\u202e\x00c", 80); got != `a b\u202e\x00c` {
		t.Errorf("oneLine: %q", got)
	}
	if got := oneLine("abcdef", 4); got != "abc…" {
		t.Errorf("oneLine cut: %q", got)
	}
	if got := oneLine("東京都のサーバ", 7); got != "東京都…" {
		t.Errorf("oneLine cuts by display width: %q", got)
	}
	if got := oneLine("abc", 0); got != "abc" {
		t.Errorf("oneLine without limit: %q", got)
	}
}

func TestTimeFormats(t *testing.T) {
	tokyo := time.FixedZone("JST", 9*3600)
	old := local
	local = tokyo
	defer func() { local = old }()

	at := time.Date(2026, 11, 3, 1, 2, 3, 0, time.UTC)
	if got, want := fmtTime(at), "2026-11-03 10:02:03 +09:00"; got != want {
		t.Errorf("fmtTime = %q, want %q", got, want)
	}
	if got := fmtTime(time.Time{}); got != "-" {
		t.Errorf("fmtTime(zero) = %q", got)
	}
	if got := fmtDay(time.Time{}, "never"); got != "never" {
		t.Errorf("fmtDay(zero) = %q", got)
	}
	now := time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC) // 17:00 in Tokyo
	today := time.Date(2026, 11, 3, 13, 0, 0, 0, time.UTC)
	if got, want := fmtUntil(&today, now), "22:00 +09:00 today"; got != want {
		t.Errorf("fmtUntil(today) = %q, want %q", got, want)
	}
	// 16:00 UTC on the 3rd is already the 4th in Tokyo: not today.
	tomorrow := time.Date(2026, 11, 3, 16, 0, 0, 0, time.UTC)
	if got, want := fmtUntil(&tomorrow, now), "2026-11-04 01:00:00 +09:00"; got != want {
		t.Errorf("fmtUntil(tomorrow) = %q, want %q", got, want)
	}
	nextYear := now.AddDate(1, 0, 0)
	if got, want := fmtUntil(&nextYear, now), "2027-11-03 17:00:00 +09:00"; got != want {
		t.Errorf("fmtUntil(next year) = %q, want %q", got, want)
	}
	if got := fmtUntil(nil, now); got != "-" {
		t.Errorf("fmtUntil(nil) = %q", got)
	}
}

// FuzzSafe: whatever comes in, what goes out is valid UTF-8 without a
// control or format character, and text without one comes out unchanged.
func FuzzSafe(f *testing.F) {
	for _, s := range []string{"", "ok", "a\r\nb\u202e", "\x00\xff\x1b[31m", "日本\u2066語"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := safe(s)
		if !utf8.ValidString(out) {
			t.Fatalf("safe(%q) = %q: not UTF-8", s, out)
		}
		clean := utf8.ValidString(s)
		for _, r := range s {
			if unsafeRune(r) {
				clean = false
			}
		}
		for _, r := range out {
			if unsafeRune(r) {
				t.Fatalf("safe(%q) = %q keeps %U", s, out, r)
			}
		}
		if clean && out != s {
			t.Fatalf("safe(%q) = %q changed clean text", s, out)
		}
		if strings.ContainsAny(out, "\r\n") {
			t.Fatalf("safe(%q) = %q has a line break", s, out)
		}
	})
}
