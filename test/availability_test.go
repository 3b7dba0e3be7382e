package test

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/notify/mail/mailtest"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/test/testutil"
)

// availReport is GET /api/v1/availability as `unyo report availability -o
// json` prints it, decoded with the field names of
// alerting/availability/availability.go and json.go (durations in
// seconds), not through the product's own decoder.
type availReport struct {
	From     time.Time     `json:"from"`
	To       time.Time     `json:"to"`
	Until    time.Time     `json:"until"`
	TimeZone string        `json:"time_zone"`
	Checks   []string      `json:"checks"`
	Sources  []string      `json:"sources"`
	BudgetS  *float64      `json:"budget_seconds"`
	Targets  []availTarget `json:"targets"`
	Summary  struct {
		Targets           int     `json:"targets"`
		OverBudget        int     `json:"over_budget"`
		Worst             string  `json:"worst"`
		WorstAvailability float64 `json:"worst_availability_percent"`
		WorstUnplannedS   float64 `json:"worst_unplanned_seconds"`
		DownS             float64 `json:"down_seconds"`
		PlannedS          float64 `json:"planned_seconds"`
		UnplannedS        float64 `json:"unplanned_seconds"`
		AnyUnplannedS     float64 `json:"any_unplanned_seconds"`
	} `json:"summary"`
}

type availTarget struct {
	Target       string   `json:"target"`
	DownS        *float64 `json:"down_seconds"`
	PlannedS     *float64 `json:"planned_seconds"`
	UnplannedS   *float64 `json:"unplanned_seconds"`
	MaintenanceS *float64 `json:"maintenance_seconds"`
	Availability *float64 `json:"availability_percent"`
	BudgetUsed   *float64 `json:"budget_used_percent"`
	OverBudget   bool     `json:"over_budget"`
	Incidents    []int64  `json:"incidents"`
}

// secs turns a JSON number of seconds into a duration.
func secs(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }

// TestAvailabilityReport drives `unyo report availability` through the real
// binary: `unyo serve` (SQLite ledger, embedded NATS) with an alerting
// section (time zone Asia/Tokyo, one policy mailing an in-process SMTP
// server). Two targets go down and come back over `unyo event send` (check
// ping, an outage by default); one of them inside a maintenance window
// added with `unyo maintenance add`. The report must count the other's
// real down interval as unplanned, the covered one's as planned only, and
// reject bad periods naming the field.
func TestAvailabilityReport(t *testing.T) {
	t.Parallel()
	smtp := mailtest.New(t)
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	addr := testutil.FreePort(t)
	// alerting.enabled needs a policy (AlertingConfig.Active); without an
	// active escalator the report falls back to UTC.
	cfg := fmt.Sprintf(`node:
  name: avail
  data_dir: %[1]q
http:
  listen: %[2]q
cluster:
  bind: 127.0.0.1:0
alerting:
  enabled: true
  time_zone: Asia/Tokyo
  smtp: {host: 127.0.0.1, port: %[3]d, from: unyo@example.com, tls: none, timeout: 5s}
  contacts:
    - {name: desk, mail: [desk@example.com]}
  roles:
    - {name: operator, contacts: [desk]}
  policies:
    - name: page
      steps:
        - {roles: [operator], channels: [mail], wait: 10m}
`, dir, addr, smtp.Port())
	p := serveYAML(t, dir, addr, cfg)
	srv := "--server=" + p.URL

	// send runs `unyo event send` and returns the times just before and
	// just after it: the event's time (set by the command) is between.
	send := func(t *testing.T, args ...string) (before, after time.Time) {
		t.Helper()
		before = time.Now()
		unyo(t, 0, append([]string{"event", "send", srv, "--check", "ping", "--severity", "critical"}, args...)...)
		return before, time.Now()
	}
	list := func(t *testing.T, target string) []incident.Incident {
		t.Helper()
		var incs []incident.Incident
		out := unyo(t, 0, "incident", "list", srv, "-o", "json", "--target", target)
		if err := json.Unmarshal([]byte(out), &incs); err != nil {
			t.Fatalf("incident list -o json: %v\n%s", err, out)
		}
		return incs
	}
	// waitOne waits until target has one incident that satisfies ok.
	waitOne := func(t *testing.T, target, what string, ok func(incident.Incident) bool) incident.Incident {
		t.Helper()
		var inc incident.Incident
		waitFor(t, what, func() bool {
			incs := list(t, target)
			if len(incs) > 1 {
				t.Fatalf("%d incidents for %s, want 1: %+v", len(incs), target, incs)
			}
			if len(incs) == 1 && ok(incs[0]) {
				inc = incs[0]
				return true
			}
			return false
		})
		return inc
	}
	report := func(t *testing.T, args ...string) availReport {
		t.Helper()
		out := unyo(t, 0, append([]string{"report", "availability", srv, "-o", "json"}, args...)...)
		var r availReport
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("report availability -o json: %v\n%s", err, out)
		}
		return r
	}
	rfc := func(t time.Time) string { return t.Format(time.RFC3339Nano) }

	const (
		db  = "avail-db01"  // down inside the maintenance window
		web = "avail-web01" // down, no window
		app = "avail-app01" // a cpu incident: not an outage
	)

	// The period starts here; the window a moment later, so that the time
	// it covers is not the whole period.
	// (Round(0): wall clock only, as the node reads the times it is sent.)
	from := time.Now().Round(0)
	var w console.MaintenanceView
	out := unyo(t, 0, "maintenance", "add", srv, "--name", "db firmware", "--target", "avail-db*",
		"--start", rfc(from.Add(50*time.Millisecond)), "--end", rfc(from.Add(10*time.Minute)), "-o", "json")
	if err := json.Unmarshal([]byte(out), &w); err != nil {
		t.Fatalf("maintenance add -o json: %v\n%s", err, out)
	}
	if w.ID == 0 || w.Scope != "target" || w.Match != "avail-db*" || w.End == nil ||
		w.Start.Sub(from.Add(50*time.Millisecond)).Abs() > time.Millisecond {
		t.Fatalf("window added: %+v (asked to start %s)", w, rfc(from.Add(50*time.Millisecond)))
	}
	if wait := time.Until(w.Start); wait > 0 {
		time.Sleep(wait + time.Millisecond) // at most 50 ms: db01 goes down inside the window
	}

	// Both go down; db01 comes back after ~1.5 s, web01 after ~2.5 s.
	dbDown0, dbDown1 := send(t, "--target", db, "--message", "no reply from "+db)
	webDown0, webDown1 := send(t, "--target", web, "--message", "no reply from "+web)
	send(t, "--target", app, "--check", "cpu", "--severity", "major", "--message", "cpu 98%")
	dbInc := waitOne(t, db, "an incident for "+db, func(incident.Incident) bool { return true })
	webInc := waitOne(t, web, "an incident for "+web, func(incident.Incident) bool { return true })
	waitOne(t, app, "an incident for "+app, func(incident.Incident) bool { return true })

	time.Sleep(time.Until(dbDown1.Add(1500 * time.Millisecond)))
	dbUp0, dbUp1 := send(t, "--target", db, "--ok", "--message", db+" answers again")
	time.Sleep(time.Until(webDown1.Add(2500 * time.Millisecond)))
	webUp0, webUp1 := send(t, "--target", web, "--ok", "--message", web+" answers again")
	recovered := func(i incident.Incident) bool { return i.Recovered && i.RecoveredAt != nil }
	waitOne(t, db, db+" recovered", recovered)
	waitOne(t, web, web+" recovered", recovered)
	to := time.Now().Round(0)
	period := to.Sub(from)

	// The down intervals as measured here: the problem event's time is in
	// [down0, down1], the ok event's in [up0, up1]. slack covers the
	// ledger's storage precision.
	const slack = 5 * time.Millisecond
	dbMin, dbMax := dbUp0.Sub(dbDown1)-slack, dbUp1.Sub(dbDown0)+slack
	webMin, webMax := webUp0.Sub(webDown1)-slack, webUp1.Sub(webDown0)+slack
	t.Logf("period %s; %s down %s..%s, %s down %s..%s", period, db, dbMin, dbMax, web, webMin, webMax)

	// The period's budget: 2h a month, prorated over the period (when it
	// lies in one Tokyo month, as it almost always does).
	var wantBudget time.Duration
	if f, l := from.In(tokyo), to.In(tokyo); f.Month() == l.Month() {
		m := time.Date(f.Year(), f.Month(), 1, 0, 0, 0, 0, tokyo)
		wantBudget = time.Duration(float64(2*time.Hour) * float64(period) / float64(m.AddDate(0, 1, 0).Sub(m)))
	}

	var periodReport availReport
	t.Run("json", func(t *testing.T) {
		r := report(t, "--from", rfc(from), "--to", rfc(to))
		periodReport = r
		if !r.From.Equal(from) || !r.To.Equal(to) || !r.Until.Equal(to) {
			t.Errorf("period %s → %s until %s, want %s → %s until the end", r.From, r.To, r.Until, from, to)
		}
		if r.TimeZone != "Asia/Tokyo" || !slices.Contains(r.Checks, "ping") {
			t.Errorf("time_zone %q, checks %v: want Asia/Tokyo (alerting.time_zone) and ping", r.TimeZone, r.Checks)
		}
		if r.BudgetS == nil || *r.BudgetS <= 0 {
			t.Fatalf("budget_seconds %v", r.BudgetS)
		}
		budget := secs(*r.BudgetS)
		if wantBudget != 0 && (budget-wantBudget).Abs() > time.Microsecond {
			t.Errorf("budget %s for a %s period, want %s (2h a month, prorated)", budget, period, wantBudget)
		}

		byName := map[string]availTarget{}
		var names []string
		for _, x := range r.Targets {
			byName[x.Target] = x
			names = append(names, x.Target)
			if x.DownS == nil || x.PlannedS == nil || x.UnplannedS == nil || x.MaintenanceS == nil ||
				x.Availability == nil || x.BudgetUsed == nil {
				t.Fatalf("target %s lacks a field: %+v", x.Target, x)
			}
		}
		// web01 has the most unplanned downtime: listed first. app01's
		// cpu incident is no outage.
		if !slices.Equal(names, []string{web, db}) {
			t.Fatalf("targets %v, want [%s %s]", names, web, db)
		}

		// web01: all of its real down interval is unplanned.
		wt := byName[web]
		down, unplanned := secs(*wt.DownS), secs(*wt.UnplannedS)
		if down < webMin || down > webMax {
			t.Errorf("%s down %s, want %s..%s (the interval between its events)", web, down, webMin, webMax)
		}
		if unplanned != down || secs(*wt.PlannedS) != 0 || secs(*wt.MaintenanceS) != 0 {
			t.Errorf("%s: down %s, unplanned %s, planned %gs, maintenance %gs: want all unplanned, no maintenance",
				web, down, unplanned, *wt.PlannedS, *wt.MaintenanceS)
		}
		wantAvail := 100 * (1 - float64(unplanned)/float64(period))
		if math.Abs(*wt.Availability-wantAvail) > 1e-6 {
			t.Errorf("%s availability %.6f%%, want %.6f%% (1 - %s / %s)", web, *wt.Availability, wantAvail, unplanned, period)
		}
		lo, hi := 100*(1-float64(webMax)/float64(period)), 100*(1-float64(webMin)/float64(period))
		if *wt.Availability < lo || *wt.Availability > hi {
			t.Errorf("%s availability %.4f%%, want %.4f..%.4f%%", web, *wt.Availability, lo, hi)
		}
		if !wt.OverBudget || math.Abs(*wt.BudgetUsed-100*float64(unplanned)/float64(budget)) > 1e-6*(*wt.BudgetUsed) {
			t.Errorf("%s: budget used %.3f%%, over %v; want %s of a %s budget, over", web, *wt.BudgetUsed, wt.OverBudget, unplanned, budget)
		}
		if !slices.Equal(wt.Incidents, []int64{webInc.ID}) {
			t.Errorf("%s incidents %v, want [%d]", web, wt.Incidents, webInc.ID)
		}

		// db01: down as long, but inside the window: none of it unplanned.
		dt := byName[db]
		down = secs(*dt.DownS)
		if down < dbMin || down > dbMax {
			t.Errorf("%s down %s, want %s..%s (the interval between its events)", db, down, dbMin, dbMax)
		}
		if *dt.UnplannedS != 0 || secs(*dt.PlannedS) != down {
			t.Errorf("%s: down %s, planned %gs, unplanned %gs: want all of it planned (maintenance window %d)",
				db, down, *dt.PlannedS, *dt.UnplannedS, w.ID)
		}
		// The window covers the period from its start.
		if m, want := secs(*dt.MaintenanceS), to.Sub(w.Start); (m - want).Abs() > time.Millisecond {
			t.Errorf("%s maintenance %s, want %s (window start → end of the period)", db, m, want)
		}
		if *dt.Availability != 100 || *dt.BudgetUsed != 0 || dt.OverBudget {
			t.Errorf("%s availability %g%%, budget used %g%%, over %v: want 100%%, 0%%, false", db, *dt.Availability, *dt.BudgetUsed, dt.OverBudget)
		}
		if !slices.Equal(dt.Incidents, []int64{dbInc.ID}) {
			t.Errorf("%s incidents %v, want [%d]", db, dt.Incidents, dbInc.ID)
		}

		s := r.Summary
		webUnplanned := secs(*wt.UnplannedS)
		if s.Targets != 2 || s.OverBudget != 1 || s.Worst != web || s.WorstAvailability != *wt.Availability ||
			secs(s.WorstUnplannedS) != webUnplanned || secs(s.UnplannedS) != webUnplanned ||
			secs(s.AnyUnplannedS) != webUnplanned ||
			(secs(s.DownS)-secs(*wt.DownS)-secs(*dt.DownS)).Abs() > time.Microsecond ||
			secs(s.PlannedS) != secs(*dt.PlannedS) {
			t.Errorf("summary %+v; want 2 targets, 1 over budget, worst %s with %s unplanned", s, web, webUnplanned)
		}
	})

	t.Run("table", func(t *testing.T) {
		table := unyo(t, 0, "report", "availability", srv, "--from", rfc(from), "--to", rfc(to), "-o", "table")
		if !strings.Contains(table, "(Asia/Tokyo)") || !strings.Contains(table, "TARGET") {
			t.Errorf("table header:\n%s", table)
		}
		if strings.Contains(table, app) {
			t.Errorf("table lists %s, whose cpu incident is no outage:\n%s", app, table)
		}
		if len(periodReport.Targets) != 2 {
			t.Skip("needs the JSON report")
		}
		// TARGET DOWN PLANNED UNPLANNED MAINTENANCE AVAILABILITY BUDGET-USED [OVER] INCIDENTS
		for _, x := range periodReport.Targets {
			line := tableLine(table, x.Target)
			f := strings.Fields(line)
			d := func(s *float64) string { return secs(*s).Round(time.Second).String() }
			want := []string{x.Target, d(x.DownS), d(x.PlannedS), d(x.UnplannedS), d(x.MaintenanceS),
				fmt.Sprintf("%.3f%%", *x.Availability), fmt.Sprintf("%.1f%%", *x.BudgetUsed)}
			if len(f) < len(want)+1 || !slices.Equal(f[:len(want)], want) || f[len(f)-1] != "1" {
				t.Errorf("table line %q, want it to start %q and end with 1 incident:\n%s", line, want, table)
			}
			if over := strings.Contains(line, "OVER"); over != x.OverBudget {
				t.Errorf("table line %q: OVER shown %v, over_budget %v", line, over, x.OverBudget)
			}
		}
		if !strings.Contains(table, "2 targets, 1 over budget; worst "+web) {
			t.Errorf("table summary does not name 2 targets, 1 over budget, worst %s:\n%s", web, table)
		}
	})

	t.Run("month", func(t *testing.T) {
		// --month is a month in the node's time zone (Asia/Tokyo).
		before := time.Now().In(tokyo)
		month := before.Format("2006-01")
		r := report(t, "--month", month)
		if after := time.Now().In(tokyo).Format("2006-01"); after != month || from.In(tokyo).Format("2006-01") != month {
			t.Skipf("the Tokyo month changed during the test (%s, now %s)", from.In(tokyo), after)
		}
		start := time.Date(before.Year(), before.Month(), 1, 0, 0, 0, 0, tokyo)
		if !r.From.Equal(start) || !r.To.Equal(start.AddDate(0, 1, 0)) || r.TimeZone != "Asia/Tokyo" || r.Until.After(time.Now()) {
			t.Errorf("--month %s: %s → %s until %s (%s), want the Tokyo month from %s", month, r.From, r.To, r.Until, r.TimeZone, start)
		}
		if r.BudgetS == nil || secs(*r.BudgetS) != 2*time.Hour {
			t.Errorf("--month %s: budget_seconds %v, want 7200", month, r.BudgetS)
		}
		// Both outages lie inside the month: the same downtime.
		got := map[string][2]time.Duration{}
		for _, x := range r.Targets {
			got[x.Target] = [2]time.Duration{secs(*x.DownS), secs(*x.UnplannedS)}
		}
		for _, x := range periodReport.Targets {
			if want := [2]time.Duration{secs(*x.DownS), secs(*x.UnplannedS)}; got[x.Target] != want {
				t.Errorf("--month %s: %s down, unplanned %v, want %v as in the period report", month, x.Target, got[x.Target], want)
			}
		}
	})

	t.Run("dates", func(t *testing.T) {
		// A bare date is midnight in the node's time zone, as --month is,
		// whatever the shell's zone (the test process runs in UTC or any).
		day := time.Now().In(tokyo)
		start := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, tokyo)
		end := start.AddDate(0, 0, 1)
		r := report(t, "--from", start.Format(time.DateOnly), "--to", end.Format(time.DateOnly))
		if !r.From.Equal(start) || !r.To.Equal(end) {
			t.Errorf("--from %s --to %s: %s → %s, want Tokyo midnights %s → %s",
				start.Format(time.DateOnly), end.Format(time.DateOnly), r.From, r.To, start, end)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		for _, c := range []struct {
			name string
			args []string
			code int
			want string
		}{
			// Checked by the command line: usage errors, exit 2.
			{"month 13", []string{"--month", "2026-13"}, 2, `--month "2026-13": want YYYY-MM`},
			{"unparsable from", []string{"--from", "yesterday", "--to", rfc(to)}, 2, "--from"},
			{"from without to", []string{"--from", rfc(from)}, 2, "--to"},
			{"month and from", []string{"--month", "2026-11", "--from", rfc(from), "--to", rfc(to)}, 2, "--month"},
			{"zero budget", []string{"--from", rfc(from), "--to", rfc(to), "--budget", "0s"}, 2, "--budget"},
			// Checked by the node: HTTP 400 naming the field, exit 1.
			{"from after to", []string{"--from", rfc(to), "--to", rfc(from)}, 1, "to: must be after from"},
			{"over a year", []string{"--from", "2025-01-01T00:00:00Z", "--to", "2026-06-01T00:00:00Z"}, 1, "to: at most 366 days"},
		} {
			args := append([]string{"report", "availability", srv, "-o", "json"}, c.args...)
			out, errOut, code := testutil.Run(t, args...)
			if code != c.code || out != "" {
				t.Errorf("%s: exit %d, want %d (and no output)\nstdout: %s\nstderr: %s", c.name, code, c.code, out, errOut)
			}
			if !strings.Contains(errOut, c.want) {
				t.Errorf("%s: stderr %q does not say %q", c.name, errOut, c.want)
			}
		}
		// The API itself names the field of a month it cannot read.
		resp, err := testutil.Get(p.URL + "/api/v1/availability?month=2026-13")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var e struct {
			Error string `json:"error"`
			Field string `json:"field"`
		}
		if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &e) != nil || e.Field != "month" || !strings.Contains(e.Error, "2026-13") {
			t.Errorf("GET /api/v1/availability?month=2026-13: %s %s, want 400 naming field month", resp.Status, body)
		}
	})
}
