package console_test

import (
	"net/http"
	"testing"

	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/auth/authtest"
)

func testGuard() *auth.Guard { return authtest.Guard() }

func TestIncidentActionsNeedARole(t *testing.T) {
	f := newFixture(t)
	code, out := f.do(t, "POST", "/api/v1/events", `{"target":"db01","check":"ping","severity":"critical","message":"down"}`)
	if code != http.StatusAccepted {
		t.Fatalf("event: %d %v", code, out)
	}
	for _, c := range []struct {
		who  string
		code int
	}{
		{"", http.StatusUnauthorized},
		{"viewer:v", http.StatusForbidden},
		{"member:node9", http.StatusForbidden},
	} {
		code, out := f.doAs(t, c.who, "POST", "/api/v1/incidents/1/ack", `{"comment":"x"}`)
		if code != c.code {
			t.Errorf("ack as %q: %d %v, want %d", c.who, code, out, c.code)
		}
	}
	if code, _ := f.doAs(t, "", "GET", "/healthz", ""); code != http.StatusOK {
		t.Errorf("healthz anonymous: %d, want 200", code)
	}
	if code, _ := f.doAs(t, "", "GET", "/api/v1/incidents", ""); code != http.StatusUnauthorized {
		t.Errorf("incidents anonymous: %d, want 401", code)
	}
}

func TestMissingIncidentInOperatorWords(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct{ method, path, body string }{
		{"GET", "/api/v1/incidents/9999", ""},
		{"POST", "/api/v1/incidents/9999/ack", `{}`},
	} {
		code, out := f.do(t, c.method, c.path, c.body)
		if code != http.StatusNotFound || out["error"] != "no incident 9999" || out["field"] != "id" {
			t.Errorf("%s %s: %d %v, want 404 \"no incident 9999\"", c.method, c.path, code, out)
		}
	}
}
