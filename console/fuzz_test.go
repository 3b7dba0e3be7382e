package console_test

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzPostEvents: any body gets 202 or a 4xx with a JSON error, never a
// panic or a 5xx, and a rejected body stores nothing.
func FuzzPostEvents(f *testing.F) {
	for _, s := range []string{
		`{"target":"a","check":"b","severity":"info"}`,
		`[{"target":"a","check":"b","severity":"critical","status":"ok","labels":{"k":"v"}}]`,
		`{"target":"a","check":"b","severity":"info","time":"2026-01-02T03:04:05Z"}`,
		`{"target":"\u0000","check":"b","severity":"info"}`,
		`[`, `null`, `{}`, `[null]`, `"x"`,
	} {
		f.Add(s)
	}
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, body string) {
		before := fx.streamMsgs(t)
		resp, err := http.Post(fx.srv.URL+"/api/v1/events", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusAccepted:
		case resp.StatusCode >= 400 && resp.StatusCode < 500:
			if after := fx.streamMsgs(t); after != before {
				t.Fatalf("rejected body (%d) stored %d events: %q", resp.StatusCode, after-before, body)
			}
		default:
			t.Fatalf("status %d for %q", resp.StatusCode, body)
		}
	})
}
