package web_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/report"
)

// ledgerReports serves the reports the fixture's ledger keeps.
type ledgerReports struct{ a *report.Archive }

func (l ledgerReports) Make(context.Context, string, string, string, func(string, int, int)) (report.Entry, error) {
	return report.Entry{}, errors.New("not in this test")
}
func (l ledgerReports) List(ctx context.Context) ([]report.Entry, error) { return l.a.List(ctx) }
func (l ledgerReports) Open(ctx context.Context, id, name string) ([]byte, time.Time, error) {
	return l.a.Open(ctx, id, name)
}

// TestRunbookLinkAndReportsPage: an incident naming a known runbook links
// to its console page; the overview links the latest monthly report and
// the reports page serves its files to a viewer's session.
func TestRunbookLinkAndReportsPage(t *testing.T) {
	f := newFixture(t)
	ev := incident.Event{ID: incident.NewID(), Target: "web-01", Check: "disk", Severity: incident.Major, Message: "96% used", Runbook: "disk-full"}
	ev.Normalize(time.Now())
	chs, err := f.store.ApplyEvents(context.Background(), []incident.Event{ev})
	if err != nil {
		t.Fatal(err)
	}
	b := f.as(t, auth.RoleViewer)
	_, body, _ := b.get(t, "/incidents/"+itoa(chs[0].IncidentID))
	if !strings.Contains(body, `href="/runbooks/disk-full"`) {
		t.Errorf("the incident page does not link its runbook")
	}
	a := &report.Archive{Store: f.store}
	rep := &report.Report{Month: "2026-10", Day: "2026-10-15", CSVSHA256: strings.Repeat("a", 64),
		Window: report.Window{From: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), TimeZone: "UTC"}}
	if _, err := a.Save(context.Background(), rep, report.Files{"report.html": []byte("<p>the report</p>"), "servers.csv": []byte("x\n")}, "se1", time.Now()); err != nil {
		t.Fatal(err)
	}
	_, body, _ = b.get(t, "/")
	if !strings.Contains(body, `id="latest-report" href="/reports/2026-10_2026-10-15/report.html"`) {
		t.Errorf("the overview does not link the latest report")
	}
	_, body, _ = b.get(t, "/reports")
	if !strings.Contains(body, `href="/reports/2026-10_2026-10-15/servers.csv"`) {
		t.Errorf("the reports page lacks the CSV link:\n%s", body)
	}
	code, body, h := b.get(t, "/reports/2026-10_2026-10-15/report.html")
	if code != http.StatusOK || body != "<p>the report</p>" || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("report.html: %d %q %v", code, body, h)
	}
	if code, _, _ := b.get(t, "/reports/2026-10_2026-10-15/nope.pdf"); code != http.StatusNotFound {
		t.Errorf("missing file: %d", code)
	}
	// Without a session: to the login page, never the file.
	if code, _, h := f.browser(t).get(t, "/reports/2026-10_2026-10-15/report.html"); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Errorf("anonymous report file: %d %v", code, h)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
