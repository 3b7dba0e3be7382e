package web

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzIncidentFilter: any query gives a filter or an error, never a
// panic, and a filter's own query reads back to the same filter.
func FuzzIncidentFilter(f *testing.F) {
	for _, q := range []string{"", "state=open,acknowledged&severity=critical", "f=1&target=東京&from=2026-12-01T09:00&to=2026-12-02", "before=12", "state=bogus", "from=yesterday"} {
		f.Add(q)
	}
	s := &Server{loc: time.UTC}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		fl, err := s.parseFilter(q)
		if err != nil {
			return
		}
		back, err := url.ParseQuery(fl.Query())
		if err != nil {
			t.Fatalf("Query() %q does not parse: %v", fl.Query(), err)
		}
		again, err := s.parseFilter(back)
		if err != nil || again.Query() != fl.Query() {
			t.Fatalf("%q → %q → %q (%v)", raw, fl.Query(), again.Query(), err)
		}
	})
}

// FuzzSafeNext: the page after login is always a path on this site.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "/incidents/3", "//evil.example", "https://evil.example", "/\\evil", "/a?b=//c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.HasPrefix(got, "/\\") {
			t.Fatalf("safeNext(%q) = %q leaves the site", next, got)
		}
	})
}
