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

	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/auth/authtest"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/report"
)

// ledgerReports serves the reports a ledger keeps (node/report.go does the
// same, and makes them too).
type ledgerReports struct{ a *report.Archive }

func (l ledgerReports) Make(context.Context, string, string, string, func(string, int, int)) (report.Entry, error) {
	return report.Entry{}, io.EOF
}
func (l ledgerReports) List(ctx context.Context) ([]report.Entry, error) { return l.a.List(ctx) }
func (l ledgerReports) Open(ctx context.Context, id, name string) ([]byte, time.Time, error) {
	return l.a.Open(ctx, id, name)
}

func get(t *testing.T, url, who string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if who != "" {
		req.Header.Set("Authorization", "Bearer test:"+who)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestRunbooksAndReportsAPI: runbooks and stored reports are read by a
// viewer and refused without a token (401) or to a member (403); report
// files come from the ledger byte for byte.
func TestRunbooksAndReportsAPI(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := &report.Archive{Store: s}
	rep := &report.Report{Month: "2026-10", Day: "2026-10-15", CSVSHA256: strings.Repeat("0", 64),
		Window: report.Window{From: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), TimeZone: "UTC"}}
	html := "<html><body>report</body></html>"
	if _, err := a.Save(t.Context(), rep, report.Files{"report.html": []byte(html), "servers.csv": []byte("a\n")}, "se1", time.Now()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(console.Handler(authtest.Guard(), console.Deps{Store: s, Reports: ledgerReports{a}}))
	t.Cleanup(srv.Close)

	for _, path := range []string{"/api/v1/runbooks", "/api/v1/runbooks/host-down", "/api/v1/reports", "/api/v1/reports/2026-10_2026-10-15/report.html"} {
		if code, _, _ := get(t, srv.URL+path, ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d, want 401", path, code)
		}
		if code, _, _ := get(t, srv.URL+path, "member:node9"); code != http.StatusForbidden {
			t.Errorf("GET %s as a member: %d, want 403", path, code)
		}
	}
	code, body, _ := get(t, srv.URL+"/api/v1/runbooks", "viewer:v")
	var l struct{ Runbooks []struct{ ID, Title string } }
	if err := json.Unmarshal([]byte(body), &l); code != 200 || err != nil || len(l.Runbooks) < 11 {
		t.Fatalf("runbooks: %d %s", code, body)
	}
	code, body, _ = get(t, srv.URL+"/api/v1/runbooks/backup-failed", "viewer:v")
	if code != 200 || !strings.Contains(body, "## Verification") {
		t.Errorf("runbook: %d %.200s", code, body)
	}
	if code, _, _ := get(t, srv.URL+"/api/v1/runbooks/nope", "viewer:v"); code != http.StatusNotFound {
		t.Errorf("unknown runbook: %d", code)
	}
	code, body, _ = get(t, srv.URL+"/api/v1/reports", "viewer:v")
	if code != 200 || !strings.Contains(body, "2026-10_2026-10-15") || !strings.Contains(body, `"se1"`) {
		t.Errorf("reports: %d %s", code, body)
	}
	code, body, h := get(t, srv.URL+"/api/v1/reports/2026-10_2026-10-15/report.html", "viewer:v")
	if code != 200 || body != html || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("report.html: %d %q %v", code, body, h)
	}
	if code, _, h := get(t, srv.URL+"/api/v1/reports/2026-10_2026-10-15/servers.csv", "viewer:v"); code != 200 || !strings.Contains(h.Get("Content-Disposition"), "servers.csv") {
		t.Errorf("servers.csv: %d %v", code, h)
	}
	if code, _, _ := get(t, srv.URL+"/api/v1/reports/2026-10_2026-10-15/x.pdf", "viewer:v"); code != http.StatusNotFound {
		t.Errorf("missing file: %d", code)
	}
}
