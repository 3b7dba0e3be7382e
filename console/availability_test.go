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

	"github.com/unyo-ops/unyo/alerting/availability"
	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/auth/authtest"
	"github.com/unyo-ops/unyo/console"
)

// fakeTargets is a monitor with fixed targets.
type fakeTargets []console.TargetSummary

func (f fakeTargets) Targets() []console.TargetSummary { return f }
func (f fakeTargets) Target(string) (console.TargetDetail, error) {
	return console.TargetDetail{}, console.ErrNoTarget
}

// availabilityServer serves a ledger in which, in November 2026 (Tokyo),
// web01 was down 2h (1h of it in a maintenance window on site tokyo-1) and
// db01 (not in the window's site) 2h30m; app01 is monitored and never down.
// "Now" is 22 November 2026.
func availabilityServer(t *testing.T) (*httptest.Server, *sqlite.Store) {
	t.Helper()
	ctx := context.Background()
	jst, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	at := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, jst) }
	clock := at(1, 0)
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"), sqlite.WithClock(func() time.Time { return clock }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	n := 0
	send := func(target, check string, st incident.Status, when time.Time) {
		t.Helper()
		n++
		clock = when
		ev := incident.Event{ID: "ev" + string(rune('a'+n)), Source: check, Target: target, Check: check, Severity: incident.Critical,
			Status: st, Time: when, Labels: map[string]string{"site": map[string]string{"web01": "tokyo-1", "db01": "osaka-1"}[target]}}
		ev.Normalize(when)
		if _, err := s.ApplyEvents(ctx, []incident.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	send("web01", "ping", incident.Problem, at(3, 10))
	send("web01", "ping", incident.OK, at(3, 12))
	send("db01", "ping", incident.Problem, at(4, 10))
	send("db01", "ping", incident.OK, time.Date(2026, 11, 4, 12, 30, 0, 0, jst))
	end := at(3, 14)
	clock = at(1, 0) // planned before the outage (a later window is flagged, not applied)
	if _, err := s.AddMaintenance(ctx, ledger.Maintenance{Name: "rack work", Scope: ledger.ScopeSite, Match: "tokyo-1",
		Start: at(3, 11), End: &end, CreatedBy: "x", CreatedAt: clock}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(console.Handler(testGuard(), console.Deps{Store: s,
		Alerting: console.AlertingDeps{Location: jst},
		Targets:  fakeTargets{{Name: "app01", Site: "tokyo-1"}, {Name: "web01", Site: "tokyo-1", Tags: map[string]string{"role": "web"}}},
		Now:      func() time.Time { return at(22, 12) }}))
	t.Cleanup(srv.Close)
	return srv, s
}

func getJSON(t *testing.T, url string, out any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+authtest.Token(auth.RoleViewer, "v"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("GET %s: %v: %q", url, err, data)
	}
	return resp.StatusCode
}

func TestAvailabilityEndpoint(t *testing.T) {
	srv, s := availabilityServer(t)
	base := srv.URL + "/api/v1/availability"
	jst, _ := time.LoadLocation("Asia/Tokyo")
	novFrom := time.Date(2026, 11, 1, 0, 0, 0, 0, jst)

	var r availability.Report
	if code := getJSON(t, base+"?month=2026-11", &r); code != http.StatusOK {
		t.Fatalf("month: %d %+v", code, r)
	}
	if !r.From.Equal(novFrom) || !r.To.Equal(novFrom.AddDate(0, 1, 0)) || r.TimeZone != "Asia/Tokyo" || r.Budget != 2*time.Hour {
		t.Errorf("period %s → %s %s budget %s", r.From, r.To, r.TimeZone, r.Budget)
	}
	if want := time.Date(2026, 11, 22, 12, 0, 0, 0, jst); !r.Until.Equal(want) {
		t.Errorf("until %s, want now (%s)", r.Until, want)
	}
	got := map[string]availability.Target{}
	var order []string
	for _, x := range r.Targets {
		got[x.Target] = x
		order = append(order, x.Target)
	}
	if strings.Join(order, ",") != "db01,web01,app01" {
		t.Errorf("targets %v, want db01,web01,app01 (most unplanned first)", order)
	}
	if d := got["db01"]; d.Down != 150*time.Minute || d.Planned != 0 || d.Unplanned != 150*time.Minute || !d.OverBudget {
		t.Errorf("db01 %+v", d)
	}
	if w := got["web01"]; w.Down != 2*time.Hour || w.Planned != time.Hour || w.Unplanned != time.Hour || w.Maintenance != 3*time.Hour ||
		w.OverBudget || w.BudgetUsed != 50 {
		t.Errorf("web01 %+v", w)
	}
	// app01 has no outage, but its site's window is its maintenance time.
	if a := got["app01"]; a.Down != 0 || a.Maintenance != 3*time.Hour || a.Availability != 100 {
		t.Errorf("app01 %+v", a)
	}
	if r.Summary.Worst != "db01" || r.Summary.OverBudget != 1 || r.Summary.Unplanned != 210*time.Minute {
		t.Errorf("summary %+v", r.Summary)
	}

	// The default is the current month; from/to and the budget are taken.
	var def availability.Report
	if code := getJSON(t, base, &def); code != http.StatusOK || !def.From.Equal(novFrom) || len(def.Targets) != 3 {
		t.Errorf("default: %d from %s, %d targets", code, def.From, len(def.Targets))
	}
	var span availability.Report
	if code := getJSON(t, base+"?from=2026-11-04&to=2026-11-05T00:00:00%2B09:00&budget=1h", &span); code != http.StatusOK {
		t.Fatalf("from/to: %d", code)
	}
	if !span.From.Equal(novFrom.AddDate(0, 0, 3)) || span.Budget != time.Hour/30 || len(span.Targets) != 3 ||
		span.Targets[0].Target != "db01" || !span.Targets[0].OverBudget {
		t.Errorf("4 November, 1h a month: %+v", span)
	}

	before, err := s.Maintenances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ query, field, msg string }{
		{"month=2026-13", "month", `"2026-13": want YYYY-MM`},
		{"month=november", "month", "want YYYY-MM"},
		{"month=2026-11&from=2026-11-01", "month", "not both"},
		{"from=2026-11-01", "to", "required with from"},
		{"to=2026-11-01", "from", "required with to"},
		{"from=yesterday&to=2026-11-01", "from", "want an RFC 3339 time or YYYY-MM-DD"},
		{"from=2026-11-01&to=2026-11-31", "to", "want an RFC 3339 time or YYYY-MM-DD"},
		{"from=2026-11-02&to=2026-11-01", "to", "must be after from"},
		{"from=2026-11-01&to=2026-11-01", "to", "must be after from"},
		{"from=2025-11-01&to=2026-12-01", "to", "at most 366 days"},
		{"budget=-1h", "budget", "want a positive duration"},
		{"budget=0s", "budget", "want a positive duration"},
		{"budget=two", "budget", `"two"`},
	} {
		t.Run(c.query, func(t *testing.T) {
			var e struct{ Error, Field string }
			if code := getJSON(t, base+"?"+c.query, &e); code != http.StatusBadRequest || e.Field != c.field || !strings.Contains(e.Error, c.msg) {
				t.Errorf("%d %+v, want 400 on %s: %s", code, e, c.field, c.msg)
			}
		})
	}
	after, err := s.Maintenances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("a GET changed the windows: %d → %d", len(before), len(after))
	}
}
