package cli_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"net/http/httptest"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/auth/authtest"
	"github.com/unyo-ops/unyo/console"
)

// forged is text that, printed raw, would end the operator's line, start a
// forged one and reverse what follows it.
const forged = "disk full\r\nFAKE LINE\u202e\x00gnp.exe"

// hostileServer is a node's API over a ledger with one incident whose
// message, target, check, actor and comment carry forged, and a maintenance
// window in force until next year.
func hostileServer(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Now()
	ev := incident.Event{ID: "e1", Target: "web\u202e01", Check: "disk\r\n", Source: "trap",
		Severity: incident.Major, Status: incident.Problem, Time: now, Message: forged}
	ev.Normalize(now)
	if _, err := s.ApplyEvents(ctx, []incident.Event{ev}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Transition(ctx, 1, incident.Action{Kind: incident.KindComment, By: "eve\r\nroot",
		Comment: forged, At: now}); err != nil {
		t.Fatal(err)
	}
	end := now.AddDate(1, 0, 0)
	if _, err := s.AddMaintenance(ctx, ledger.Maintenance{Name: "rack\r\nFAKE", Scope: ledger.ScopeTarget, Match: "web*",
		Start: now.Add(-time.Hour), End: &end, CreatedBy: "x\u2066", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(console.Handler(authtest.Guard(), console.Deps{Store: s}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// zoned is a time as every human output prints it: local, with its offset.
var zoned = regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d`)

func TestHumanOutputEscapesAndZones(t *testing.T) {
	srv := "--server=" + hostileServer(t)
	offset := time.Now().Format("-07:00")
	for _, c := range []struct {
		args  []string
		want  []string
		times int // at least this many zoned times
	}{
		{[]string{"incident", "show", "1"}, []string{
			`Message:      disk full\r\nFAKE LINE\u202e\x00gnp.exe`,
			`Target:       web\u202e01`,
			`Check:        disk\r\n`,
			`eve\r\nroot`,
			`disk full FAKE LINE\u202e\x00gnp.exe`, // the comment, on one line
		}, 3},
		{[]string{"incident", "list"}, []string{`web\u202e01`, `disk full FAKE LINE\u202e\x00gnp.exe`}, 1},
		{[]string{"maintenance", "list"}, []string{`rack\r\nFAKE`, `x\u2066`, "in force until " + time.Now().AddDate(1, 0, 0).Format("2006-01-02")}, 3},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			out, errOut, code := runCLI(t, append(c.args, srv)...)
			if code != 0 {
				t.Fatalf("exit %d: %s%s", code, out, errOut)
			}
			if i := strings.IndexAny(out, "\r\x00\u202e\u2066"); i >= 0 {
				t.Errorf("raw control or bidi character at %d:\n%q", i, out)
			}
			if strings.Contains(out, "\nFAKE") {
				t.Errorf("forged line:\n%s", out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("lacks %q:\n%s", w, out)
				}
			}
			ts := zoned.FindAllString(out, -1)
			if len(ts) < c.times {
				t.Errorf("%d zoned times, want %d or more:\n%s", len(ts), c.times, out)
			}
			for _, s := range ts {
				if !strings.HasSuffix(s, " "+offset) {
					t.Errorf("time %q is not in the local zone %s", s, offset)
				}
			}
		})
	}

	// JSON stays as it is: the message comes back byte for byte, its line
	// breaks and NUL escaped by JSON itself.
	out, _, code := runCLI(t, "incident", "show", "1", "-o", "json", srv)
	var v struct {
		Incident incident.Incident `json:"incident"`
	}
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil || v.Incident.Message != forged {
		t.Errorf("json: exit %d, %v, message %q:\n%s", code, err, v.Incident.Message, out)
	}
	if strings.ContainsAny(out, "\r\x00") {
		t.Errorf("json has a raw CR or NUL:\n%q", out)
	}
}
