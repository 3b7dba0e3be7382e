package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
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
		{"overview-live-summary", "/"}, // the redraw a live event causes
	} {
		b.Run(p.name, func(b *testing.B) {
			var gz, raw int64
			cpu0 := cpuTime()
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodGet, f.srv.URL+p.path, nil)
				req.Header.Set("Accept", "text/html")
				req.Header.Set("Accept-Encoding", "gzip")
				if strings.HasSuffix(p.name, "summary") {
					req.Header.Set("HX-Request", "true")
					req.Header.Set("HX-Target", "r-summary")
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
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
			raw = rawSize(b, br, p.path, strings.HasSuffix(p.name, "summary"))
			b.ReportMetric(float64(gz)/1024, "gzipKB")
			b.ReportMetric(float64(raw)/1024, "rawKB")
		})
	}
}

// cpuTime is the process's user and system CPU time: on a loaded machine
// the wall time of a request says more about the neighbours than about
// the page (client and server both count here; the client's share is
// small).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawSize is the uncompressed size of a page (or of its summary region).
func rawSize(b *testing.B, br *browser, path string, summary bool) int64 {
	req, _ := http.NewRequest(http.MethodGet, br.f.srv.URL+path, nil)
	req.Header.Set("Accept", "text/html")
	if summary {
		req.Header.Set("HX-Request", "true")
		req.Header.Set("HX-Target", "r-summary")
	}
	_, body, _ := br.do(b, req)
	return int64(len(body))
}
