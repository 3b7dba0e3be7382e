package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/monitor/target"
)

// benchFixture is a console with 2,000 monitored targets (a fifth of
// them Japanese names) and 500 open incidents in the ledger (SQLite).
func benchFixture(b *testing.B) (*fixture, *browser) {
	b.Helper()
	f := newFixture(b)
	var list []console.TargetSummary
	for i := range 2000 {
		name := fmt.Sprintf("srv-%04d.dc1.example.jp", i)
		if i%5 == 0 {
			name = fmt.Sprintf("東京-本番-%04d", i)
		}
		st := target.Up
		if i < 500 {
			st = target.Down
		}
		list = append(list, console.TargetSummary{Name: name, Status: st})
	}
	f.setTargets(list)
	var evs []incident.Event
	sev := []incident.Severity{incident.Critical, incident.Major, incident.Minor, incident.Warning}
	for i := range 500 {
		ev := incident.Event{ID: incident.NewID(), Target: list[i].Name, Check: "ping", Severity: sev[i%4],
			Message: "no reply to 3 echo requests (100% loss)"}
		ev.Normalize(time.Now())
		evs = append(evs, ev)
	}
	if _, err := f.store.ApplyEvents(context.Background(), evs); err != nil {
		b.Fatal(err)
	}
	return f, f.as(b, auth.RoleOperator)
}

// BenchmarkPages measures the server time and the gzip-compressed bytes
// of the overview and the incident list with 2,000 targets and 500 open
// incidents. Run: go test -run '^$' -bench Pages -benchtime 50x ./web/
func BenchmarkPages(b *testing.B) {
	f, br := benchFixture(b)
	for _, p := range []struct{ name, path string }{
		{"overview", "/"},
		{"incidents", "/incidents"},
		{"overview-live-region", "/"}, // the redraw a live event causes
	} {
		b.Run(p.name, func(b *testing.B) {
			var gz, raw int64
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodGet, f.srv.URL+p.path, nil)
				req.Header.Set("Accept", "text/html")
				req.Header.Set("Accept-Encoding", "gzip")
				if strings.HasSuffix(p.name, "region") {
					req.Header.Set("HX-Request", "true")
					req.Header.Set("HX-Target", "r-overview")
				}
				resp, err := br.c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body) // still compressed: the transport did not ask for gzip itself
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" {
					b.Fatalf("%s: %d %q", p.path, resp.StatusCode, resp.Header.Get("Content-Encoding"))
				}
				gz = n
			}
			// The uncompressed size, once.
			_, body, _ := br.get(b, p.path)
			raw = int64(len(body))
			b.ReportMetric(float64(gz)/1024, "gzipKB")
			b.ReportMetric(float64(raw)/1024, "rawKB")
		})
	}
}
