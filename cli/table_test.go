package cli_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-runewidth"

	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/monitor/target"
)

// targetNode answers target list and target show for a Japanese-named
// target with 20 recent results.
func targetNode(t *testing.T) string {
	now := time.Now()
	var recent []target.Result
	for i := range 20 {
		recent = append(recent, target.Result{Time: now.Add(time.Duration(i-20) * time.Minute), OK: i%5 != 0, Duration: time.Millisecond,
			Message: fmt.Sprintf("result %02d", i)})
	}
	sum := []console.TargetSummary{
		{Name: "東京-db01", Address: "10.0.0.2", Status: target.Up},
		{Name: "web01", Address: "10.0.0.1", Status: target.Down},
		{Name: "ｶﾅ-web02", Address: "10.0.0.3", Status: target.Up},
	}
	detail := console.TargetDetail{TargetSummary: sum[0], Results: []target.Snapshot{{Target: sum[0].Name, Check: "ping",
		Status: target.Up, Since: now.Add(-time.Hour), Recent: recent, Last: &recent[19]}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/targets":
			_ = json.NewEncoder(w).Encode(map[string]any{"targets": sum})
		default:
			_ = json.NewEncoder(w).Encode(detail)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// column returns the display column at which sub starts in line.
func column(line, sub string) int {
	i := strings.Index(line, sub)
	if i < 0 {
		return -1
	}
	return runewidth.StringWidth(line[:i])
}

// TestTableDisplayWidth: a Japanese target name does not break the
// table's columns (issue 17 item 10).
func TestTableDisplayWidth(t *testing.T) {
	srv := "--server=" + targetNode(t)
	out, errOut, code := runCLI(t, "target", "list", srv)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("target list:\n%s", out)
	}
	want := column(lines[0], "ADDRESS")
	for _, l := range lines[1:] {
		if got := column(l, "10.0.0."); got != want {
			t.Errorf("the address of %q starts at column %d, the header at %d:\n%s", l, got, want, out)
		}
	}
}

// TestTargetShowKeepsAllRecent: target show lists every recent result the
// node keeps (20 by default), not the last 10.
func TestTargetShowKeepsAllRecent(t *testing.T) {
	out, errOut, code := runCLI(t, "target", "show", "東京-db01", "--server="+targetNode(t))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for i := range 20 {
		if !strings.Contains(out, fmt.Sprintf("result %02d", i)) {
			t.Errorf("result %02d is not shown:\n%s", i, out)
		}
	}
	out, _, _ = runCLI(t, "target", "show", "東京-db01", "--server="+targetNode(t), "-o", "json")
	if !strings.Contains(out, `"duration": "1ms"`) {
		t.Errorf("target show -o json: the durations are not written as 1ms:\n%.600s", out)
	}
}
