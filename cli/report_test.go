package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
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
	"github.com/unyo-ops/unyo/cli"
	"github.com/unyo-ops/unyo/console"
)

// reportServer is a node's API over a ledger where, in November 2026
// (Tokyo), web01 was down 10:00-12:00 on the 3rd with a maintenance window
// over 11:00-14:00, and db01 down 2h30m on the 4th. Now is 22 November.
func reportServer(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	jst, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	at := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, jst) }
	clock := at(1, 0, 0)
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"), sqlite.WithClock(func() time.Time { return clock }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i, e := range []struct {
		target string
		st     incident.Status
		at     time.Time
	}{
		{"web01", incident.Problem, at(3, 10, 0)}, {"web01", incident.OK, at(3, 12, 0)},
		{"db01", incident.Problem, at(4, 10, 0)}, {"db01", incident.OK, at(4, 12, 30)},
	} {
		clock = e.at
		ev := incident.Event{ID: string(rune('a' + i)), Target: e.target, Check: "ping", Source: "ping",
			Severity: incident.Critical, Status: e.st, Time: e.at}
		ev.Normalize(e.at)
		if _, err := s.ApplyEvents(ctx, []incident.Event{ev}); err != nil {
			t.Fatal(err)
		}
	}
	end := at(3, 14, 0)
	clock = at(1, 0, 0) // planned before the outage (a later window is flagged, not applied)
	if _, err := s.AddMaintenance(ctx, ledger.Maintenance{Name: "rack", Scope: ledger.ScopeTarget, Match: "web*",
		Start: at(3, 11, 0), End: &end, CreatedBy: "x", CreatedAt: clock}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(console.Handler(authtest.Guard(), console.Deps{Store: s, Alerting: console.AlertingDeps{Location: jst},
		Now: func() time.Time { return at(22, 12, 0) }}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), args, &cli.Env{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string {
		if k == "UNYO_TOKEN" {
			return authtest.Token(auth.RoleViewer, "v")
		}
		return ""
	}})
	return out.String(), errOut.String(), code
}

func TestReportAvailability(t *testing.T) {
	srv := "--server=" + reportServer(t)

	out, errOut, code := runCLI(t, "report", "availability", srv, "--month", "2026-11")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	for _, want := range []string{
		"Availability 2026-11-01 00:00 → 2026-12-01 00:00 (Asia/Tokyo), so far (until 2026-11-22 12:00)",
		"Budget: 2h0m0s of unplanned downtime per target",
		// So far 516h: 2h30m of them is 99.516%, and 125% of the budget.
		"db01    2h30m0s  0s       2h30m0s    0s           99.516%       125.0% OVER  1",
		// 1h of the 513h outside maintenance: 99.805%.
		"web01   2h0m0s   1h0m0s   1h0m0s     3h0m0s       99.805%       50.0%        1",
		"2 targets, 1 over budget; worst db01: 99.516%, 2h30m0s unplanned; unplanned in all 3h30m0s (sum over targets), with any target down 3h30m0s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	out, errOut, code = runCLI(t, "report", "availability", srv, "--from", "2026-11-03T00:00:00+09:00",
		"--to", "2026-11-04T00:00:00+09:00", "--budget", "30m", "-o", "json")
	if code != 0 {
		t.Fatalf("json: exit %d: %s", code, errOut)
	}
	var r availability.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("-o json: %v\n%s", err, out)
	}
	if r.Budget != time.Minute || len(r.Targets) != 1 || r.Targets[0].Target != "web01" || r.Targets[0].Unplanned != time.Hour ||
		!r.Targets[0].OverBudget {
		t.Errorf("3 November at 30m a month: %+v", r)
	}

	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"report"}, 2, "unyo report availability"},
		{[]string{"report", "uptime"}, 2, `unknown report "uptime"`},
		{[]string{"report", "availability", "--month", "2026-13"}, 2, `--month "2026-13": want YYYY-MM`},
		{[]string{"report", "availability", "--month", "2026-11", "--from", "2026-11-01"}, 2, "not both"},
		{[]string{"report", "availability", "--from", "2026-11-01"}, 2, "--from and --to go together"},
		{[]string{"report", "availability", "--from", "soon", "--to", "2026-11-01"}, 2, `--from "soon"`},
		{[]string{"report", "availability", "--budget", "-2h"}, 2, `--budget "-2h": want a positive duration`},
		{[]string{"report", "availability", "-o", "yaml"}, 2, `-o "yaml"`},
		{[]string{"report", "availability", "extra"}, 2, `unexpected argument "extra"`},
		// Checked by the node: the field comes back named.
		{[]string{"report", "availability", "--from", "2026-11-02", "--to", "2026-11-01"}, 1, "to: must be after from (HTTP 400)"},
		{[]string{"report", "availability", "--from", "2025-01-01", "--to", "2026-11-01"}, 1, "to: at most 366 days after from (HTTP 400)"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			out, errOut, code := runCLI(t, append(c.args, srv)...)
			if code != c.code || !strings.Contains(errOut, c.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q (stdout %q)", code, errOut, c.code, c.msg, out)
			}
		})
	}
}
