package test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/alerting/notify/mail/mailtest"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestMonthlyReportCLI drives the performance data and the monthly report
// through the real binary: a ledger holding October 2026's hourly samples
// of two servers (written before `unyo serve` opens it), then `unyo
// metrics`, `unyo report monthly` (files written, the node keeps it),
// `unyo report list`, the job kind report mailing the site manager, and
// refusals for a caller without the right role or without a token.
func TestMonthlyReportCLI(t *testing.T) {
	smtp := mailtest.New(t)
	dir := t.TempDir()
	oct := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	func() {
		s, err := sqlite.Open(context.Background(), filepath.Join(dir, "ledger.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var xs []ledger.Sample
		for h := range 31 * 24 {
			at := oct.Add(time.Duration(h) * time.Hour)
			for i, n := range []string{"rep-web01", "rep-db01"} {
				xs = append(xs, ledger.Sample{Target: n, Name: "snmp_cpu_load_avg_percent", Value: float64((i + 1) * (10 + h%10)), Time: at},
					ledger.Sample{Target: n, Name: "snmp_if_in_bits_per_second", Labels: map[string]string{"if": "eth0"}, Value: 1e6, Time: at})
			}
		}
		if err := s.AddSamples(context.Background(), xs); err != nil {
			t.Fatal(err)
		}
	}()
	addr := testutil.FreePort(t)
	cfg := fmt.Sprintf(`node:
  name: rep
  data_dir: %[1]q
http:
  listen: %[2]q
cluster:
  bind: 127.0.0.1:0
alerting:
  enabled: true
  time_zone: UTC
  smtp: {host: 127.0.0.1, port: %[3]d, from: unyo@example.com, tls: none, timeout: 5s}
  contacts:
    - {name: boss, mail: [boss@example.com]}
    - {name: desk, mail: [desk@example.com]}
  roles:
    - {name: operator, contacts: [desk]}
    - {name: site-manager, contacts: [boss]}
  policies:
    - name: page
      steps:
        - {roles: [operator], channels: [mail], wait: 10m}
jobnets:
  - name: monthly-report
    jobs:
      - {name: report, kind: report, report: {month: current}}
`, dir, addr, smtp.Port())
	p := serveYAML(t, dir, addr, cfg)
	srv := "--server=" + p.URL

	t.Run("metrics", func(t *testing.T) {
		out := unyo(t, 0, "metrics", "rep-web01", srv, "--metric", "snmp_cpu_load_avg_percent",
			"--from", "2026-10-01T00:00:00Z", "--to", "2026-11-01T00:00:00Z", "--step", "1h", "-o", "csv")
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(rows) != 1+744 || rows[1][5] != "10" || rows[1][3] != "%" {
			t.Fatalf("metrics csv: %d rows, %v; first %v", len(rows), err, rows[min(1, len(rows)-1)])
		}
		out = unyo(t, 0, "metrics", "rep-db01", srv, "--from", "2026-10-02", "--to", "2026-10-03")
		if !strings.Contains(out, "(step 1m)") || !strings.Contains(out, "1.0 Mbit/s") || !strings.Contains(out, "20.0%") {
			t.Errorf("metrics table:\n%s", out)
		}
	})

	out := t.TempDir()
	t.Run("monthly", func(t *testing.T) {
		stdout, stderr, code := testutil.Run(t, "report", "monthly", srv, "--month", "2026-10", "--day", "2026-10-15", "--out", out, "-o", "json")
		if code != 0 {
			t.Fatalf("report monthly: exit %d\n%s\n%s", code, stdout, stderr)
		}
		if !strings.Contains(stderr, "report 2026-10: statistics (1/") || !strings.Contains(stderr, "report 2026-10: made in") {
			t.Errorf("progress lines (not a terminal):\n%s", stderr)
		}
		var e struct {
			ID, Month, Day, PDF string
			CSVSHA256           string `json:"csv_sha256"`
			Files               map[string]int64
		}
		if err := json.Unmarshal([]byte(stdout), &e); err != nil {
			t.Fatalf("report monthly -o json: %v\n%s", err, stdout)
		}
		if e.ID != "2026-10_2026-10-15" || len(e.CSVSHA256) != 64 || e.Files["report.html"] == 0 || e.Files["servers.csv"] == 0 {
			t.Fatalf("entry %+v", e)
		}
		for n, size := range e.Files {
			fi, err := os.Stat(filepath.Join(out, n))
			if err != nil || fi.Size() != size {
				t.Errorf("%s: %v, size %v, want %d", n, err, fi, size)
			}
		}
		html, _ := os.ReadFile(filepath.Join(out, "report.html"))
		if !strings.Contains(string(html), "rep-web01") || !strings.Contains(string(html), e.CSVSHA256) || strings.Contains(string(html), "<script") {
			t.Error("report.html lacks a server or the CSV checksum, or has a script")
		}
		list := unyo(t, 0, "report", "list", srv)
		if !strings.Contains(list, "2026-10_2026-10-15") {
			t.Errorf("report list:\n%s", list)
		}
		// Kept in the ledger, not as files of the node that made it.
		if _, err := os.Stat(filepath.Join(dir, "reports", "2026-10_2026-10-15")); !os.IsNotExist(err) {
			t.Errorf("the report was written under the node's data_dir: %v", err)
		}
	})

	t.Run("refused", func(t *testing.T) {
		tok := addUser(t, p.URL, "rep-viewer", "viewer")
		_, stderr, code := testutil.RunEnv(t, []string{"UNYO_TOKEN=" + tok}, "report", "monthly", srv, "--month", "2026-10", "--out", "-")
		if code != 1 || !strings.Contains(stderr, "403") {
			t.Errorf("a viewer made a report: exit %d\n%s", code, stderr)
		}
		if _, _, code := testutil.RunEnv(t, []string{"UNYO_TOKEN=" + tok}, "report", "list", srv); code != 0 {
			t.Errorf("a viewer cannot list reports: exit %d", code)
		}
		for _, path := range []string{"/api/v1/reports", "/api/v1/reports/2026-10_2026-10-15/report.html", "/api/v1/targets/rep-web01/samples"} {
			resp, err := http.Get(p.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("GET %s without a token: %d, want 401", path, resp.StatusCode)
			}
		}
	})

	t.Run("job kind report mails the site manager", func(t *testing.T) {
		id := strings.TrimSpace(unyo(t, 0, "jobnet", "run", "monthly-report", srv))
		var r ledger.RunRecord
		waitFor(t, "the report run to end", func() bool {
			if err := json.Unmarshal([]byte(unyo(t, 0, "run", "show", id, srv, "-o", "json")), &r); err != nil {
				t.Fatal(err)
			}
			return strings.HasPrefix(r.Status, "ended") || r.Status == "killed"
		})
		if r.Status != "ended-normal" {
			t.Fatalf("report run %s: %+v", r.Status, r.Jobs)
		}
		msgs := smtp.Wait(t, 1, time.Minute)
		m := msgs[len(msgs)-1]
		if len(m.To) != 1 || m.To[0] != "boss@example.com" || !strings.Contains(m.Data, `filename="report.html"`) ||
			!strings.Contains(m.Data, "unyo monthly performance report") {
			t.Errorf("mail to %v:\n%.600s", m.To, m.Data)
		}
	})
}

// TestReportMonthlyProgress: `unyo report monthly` with stderr not a
// terminal (a pipe) prints plain progress lines, not a bar; here against a
// node that is not there, so it is cheap (the bar on a terminal: package
// cli's TestReportMonthlyBarOnATerminal).
func TestReportMonthlyProgress(t *testing.T) {
	addr := testutil.FreePort(t) // nothing listens there
	_, stderr, code := testutil.Run(t, "report", "monthly", "--server=http://"+addr, "--month", "2026-10", "--out", "-")
	if code != 1 || !strings.Contains(stderr, "report 2026-10: asking the node\n") || strings.Contains(stderr, "\r") || strings.Contains(stderr, "\x1b[") {
		t.Errorf("exit %d; want exit 1 and plain log lines on stderr:\n%q", code, stderr)
	}
}
