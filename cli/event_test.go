package cli_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
)

// eventNode accepts events and shows, from the third list on, the
// incidents an applier would have made of them.
func eventNode(t *testing.T) string {
	var mu sync.Mutex
	var got []incident.Event
	lists := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/events":
			var evs []incident.Event
			_ = json.NewDecoder(r.Body).Decode(&evs)
			got = append(got, evs...)
			w.WriteHeader(http.StatusAccepted)
			_ = json.NewEncoder(w).Encode(map[string]any{"ids": []string{evs[0].ID}})
		case "/api/v1/incidents":
			lists++
			incs := []incident.Incident{{ID: 3, DedupKey: "db01/ping", Target: "db01", State: incident.Resolved,
				LastSeen: time.Now().Add(-time.Hour)}}
			if lists > 2 {
				for _, ev := range got {
					if ev.Status == incident.Problem {
						incs = append([]incident.Incident{{ID: 9, DedupKey: ev.DedupKey, Target: ev.Target, State: incident.Open, LastSeen: ev.Time}}, incs...)
					}
				}
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"incidents": incs})
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestEventSendJSON: event send -o json prints the incident the event
// opened, waiting for the node to apply it; an ok event that ends nothing
// has none (issue 17 items 11 and 12).
func TestEventSendJSON(t *testing.T) {
	srv := "--server=" + eventNode(t)
	out, errOut, code := runCLI(t, "event", "send", srv, "--target", "db01", "--check", "ping", "--severity", "critical", "-o", "json")
	var sent struct {
		IDs      []string `json:"ids"`
		Incident int64    `json:"incident"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &sent) != nil || len(sent.IDs) != 1 || sent.Incident != 9 {
		t.Fatalf("exit %d, %q %s; want the event's id and incident 9", code, out, errOut)
	}
	out, errOut, code = runCLI(t, "event", "send", srv, "--target", "db01", "--check", "ping", "--severity", "critical", "--ok",
		"-o", "json", "--wait", "300ms")
	if code != 0 || strings.Contains(out, "incident") || !strings.Contains(out, `"ids"`) {
		t.Fatalf("ok event that ends nothing: exit %d, %q %s", code, out, errOut)
	}
	// Without -o json, the event ids as before.
	out, _, code = runCLI(t, "event", "send", srv, "--target", "db01", "--check", "ping", "--severity", "critical")
	if code != 0 || strings.Count(out, "\n") != 1 || strings.Contains(out, "{") {
		t.Fatalf("table output: exit %d, %q", code, out)
	}
}
