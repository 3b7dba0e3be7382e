package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/console"
)

type fixture struct {
	srv   *httptest.Server
	store *sqlite.Store
	bus   *bus.Bus
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	b, err := bus.Open(ctx, bus.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	srv := httptest.NewServer(console.Handler(testGuard(), console.Deps{Store: s, Publisher: b,
		Ready: []console.Check{{Name: "ledger", Fn: s.Ping}}, EventSkew: incident.DefaultSkew}))
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, store: s, bus: b}
}

func (f *fixture) do(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	return f.doAs(t, "ops-se:sato", method, path, body)
}

// doAs sends a request as who ("ROLE:NAME", see testGuard; "" for
// anonymous).
func (f *fixture) doAs(t *testing.T, who, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if who != "" {
		req.Header.Set("Authorization", "Bearer test:"+who)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %q", method, path, data)
	}
	return resp.StatusCode, out
}

func (f *fixture) streamMsgs(t testing.TB) uint64 {
	t.Helper()
	s, err := f.bus.JetStream().Stream(context.Background(), f.bus.EventsStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestPostEventsBadInput(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name, body, field, msg string
	}{
		{"empty body", ``, "", "empty body"},
		{"not json", `{"target": `, "", "invalid JSON"},
		{"unknown field", `{"target":"a","check":"b","severity":"info","colour":"red"}`, "colour", "unknown field"},
		{"wrong type", `{"target":"a","check":"b","severity":"info","labels":{"k":1}}`, "labels", "want string"},
		{"missing target", `{"check":"b","severity":"info"}`, "target", "required"},
		{"missing check", `{"target":"a","severity":"info"}`, "check", "required"},
		{"bad severity", `{"target":"a","check":"b","severity":"fatal"}`, "severity", `"fatal"`},
		{"bad status", `{"target":"a","check":"b","severity":"info","status":"meh"}`, "status", `"meh"`},
		{"bad time", `{"target":"a","check":"b","severity":"info","time":"yesterday"}`, "", "cannot parse"},
		{"second of array invalid", `[{"target":"a","check":"b","severity":"info"},{"target":"a","severity":"info"}]`, "[1].check", "required"},
		{"empty array", `[]`, "", "no events"},
		{"trailing data", `{"target":"a","check":"b","severity":"info"} {}`, "", "unexpected data"},
		{"long target", `{"target":"` + strings.Repeat("x", 300) + `","check":"b","severity":"info"}`, "target", "longer than"},
		// Issue 17 item 4: event times are bounded (alerting.event_time).
		{"time far in the future", `{"target":"a","check":"b","severity":"info","time":"9999-12-31T23:59:59Z"}`, "time", "ahead of this node's clock; at most 5m0s (alerting.event_time.max_future)"},
		{"time in the future", `{"target":"a","check":"b","severity":"info","time":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`, "time", "max_future"},
		{"time long ago", `{"target":"a","check":"b","severity":"info","time":"2001-01-01T00:00:00Z"}`, "time", "behind this node's clock; at most 24h0m0s (alerting.event_time.max_past)"},
		{"second of array too late", `[{"target":"a","check":"b","severity":"info"},{"target":"a","check":"b","severity":"info","time":"1970-01-02T00:00:00Z"}]`, "[1].time", "max_past"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out := f.do(t, "POST", "/api/v1/events", c.body)
			if code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %v", code, out)
			}
			if out["field"] == nil && c.field != "" || out["field"] != nil && out["field"] != c.field {
				t.Errorf("field %v, want %q", out["field"], c.field)
			}
			if msg, _ := out["error"].(string); !strings.Contains(msg, c.msg) {
				t.Errorf("error %q lacks %q", msg, c.msg)
			}
		})
	}
	if n := f.streamMsgs(t); n != 0 {
		t.Errorf("bad requests stored %d events on the bus", n)
	}
	code, out := f.do(t, "POST", "/api/v1/events", `[{"target":"a","check":"b","severity":"info"},{"id":"mine","target":"a","check":"c","severity":"major"}]`)
	if code != http.StatusAccepted {
		t.Fatalf("good batch: %d %v", code, out)
	}
	ids := out["ids"].([]any)
	if len(ids) != 2 || ids[1] != "mine" || ids[0] == "" {
		t.Errorf("ids %v", ids)
	}
	if n := f.streamMsgs(t); n != 2 {
		t.Errorf("%d events on the bus, want 2", n)
	}
}

func TestIncidentEndpoints(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ev := incident.Event{ID: "e1", Target: "web01", Check: "http", Severity: incident.Major}
	ev.Normalize(time.Now())
	if _, err := f.store.ApplyEvents(ctx, []incident.Event{ev}); err != nil {
		t.Fatal(err)
	}
	code, out := f.do(t, "GET", "/api/v1/incidents?state=open", "")
	if code != 200 || len(out["incidents"].([]any)) != 1 {
		t.Fatalf("list: %d %v", code, out)
	}
	code, out = f.do(t, "GET", "/api/v1/incidents?state=closed", "")
	if code != 200 || len(out["incidents"].([]any)) != 0 {
		t.Fatalf("list closed: %d %v", code, out)
	}
	for _, c := range []struct {
		method, path, body string
		code               int
		field              string
	}{
		{"GET", "/api/v1/incidents?state=sleeping", "", 400, "state"},
		{"GET", "/api/v1/incidents?limit=-1", "", 400, "limit"},
		{"GET", "/api/v1/incidents?before=x", "", 400, "before"},
		{"GET", "/api/v1/incidents/abc", "", 400, "id"},
		{"GET", "/api/v1/incidents/999", "", 404, "id"},
		{"POST", "/api/v1/incidents/1/ack", `{"by":"site-manager-sato"}`, 400, "by"},
		{"POST", "/api/v1/incidents/1/ack", `{"who":"b"}`, 400, "who"},
		{"POST", "/api/v1/incidents/1/comment", `{}`, 400, "comment"},
		{"POST", "/api/v1/incidents/999/ack", `{}`, 404, "id"},
		{"POST", "/api/v1/incidents/1/close", `{"comment":"x"}`, 409, "state"},
		{"GET", "/api/v1/nothing", "", 404, ""},
	} {
		code, out := f.do(t, c.method, c.path, c.body)
		if code != c.code || (c.field != "" && out["field"] != c.field) {
			t.Errorf("%s %s %s: %d %v, want %d field %q", c.method, c.path, c.body, code, out, c.code, c.field)
		}
	}
	tl, err := f.store.Timeline(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl) != 1 {
		t.Errorf("rejected actions changed the timeline: %d entries", len(tl))
	}
	code, out = f.do(t, "POST", "/api/v1/incidents/1/ack", `{"comment":"on it"}`)
	if code != 200 || out["incident"].(map[string]any)["state"] != "acknowledged" {
		t.Fatalf("ack: %d %v", code, out)
	}
	if by := out["entry"].(map[string]any)["by"]; by != "sato" {
		t.Errorf("ack recorded by %v, want the caller's identity sato", by)
	}
	code, out = f.do(t, "GET", "/api/v1/incidents/1", "")
	if code != 200 || len(out["timeline"].([]any)) != 2 {
		t.Fatalf("show: %d %v", code, out)
	}
	code, out = f.do(t, "GET", "/readyz", "")
	if code != 200 || out["ready"] != true {
		t.Errorf("readyz: %d %v", code, out)
	}
}
