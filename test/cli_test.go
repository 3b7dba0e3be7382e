package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestOperatorCLI drives a real node the way an operator does: an event comes
// in, the operator lists, acknowledges and resolves the incident with the
// command line, and the timeline records each step under the name of the
// identity that acted (the operator's own API token), not a name given on
// the command line.
func TestOperatorCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, addr := writeConfig(t, dir, "")
	p := testutil.Serve(t, cfg, addr)
	srv := "--server=" + p.URL

	run := func(want int, args ...string) string {
		t.Helper()
		out, errOut, code := testutil.Run(t, args...)
		if code != want {
			t.Fatalf("unyo %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out + errOut
	}

	run(0, "event", "send", srv, "--target", "db01", "--check", "ping", "--severity", "critical", "--message", "no reply")
	run(0, "event", "send", srv, "--target", "db01", "--check", "ping", "--severity", "critical", "--message", "still no reply")

	var incs []incident.Incident
	waitFor(t, "incident with 2 occurrences", func() bool {
		out := run(0, "incident", "list", srv, "-o", "json", "--state", "open")
		incs = nil
		if err := json.Unmarshal([]byte(out), &incs); err != nil {
			t.Fatalf("list -o json: %v\n%s", err, out)
		}
		return len(incs) == 1 && incs[0].Count == 2
	})
	id := incs[0].ID
	if incs[0].Target != "db01" || incs[0].Severity != incident.Critical || incs[0].Message != "still no reply" {
		t.Errorf("incident %+v", incs[0])
	}
	table := run(0, "incident", "list", srv)
	if !strings.Contains(table, "db01") || !strings.Contains(table, "critical") {
		t.Errorf("table output lacks the incident:\n%s", table)
	}

	ids := itoa(id)
	yamada := addUser(t, p.URL, "yamada", "operator")
	tanaka := addUser(t, p.URL, "tanaka", "operator")
	as := func(tok string, want int, args ...string) string {
		t.Helper()
		out, errOut, code := testutil.RunEnv(t, []string{"UNYO_TOKEN=" + tok}, args...)
		if code != want {
			t.Fatalf("unyo %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
		}
		return out + errOut
	}
	// Who acts is the token's owner: there is no flag to say otherwise.
	out := as(yamada, 2, "incident", "ack", ids, srv, "--by", "tanaka")
	if !strings.Contains(out, "unknown flag: --by") {
		t.Errorf("ack --by said %q", out)
	}
	// Without a token the node refuses (and the CLI says how to get one).
	out, errOut, code := testutil.RunEnv(t, nil, "incident", "ack", ids, srv)
	if code != 1 || !strings.Contains(out+errOut, "401") {
		t.Errorf("anonymous ack: exit %d\n%s%s", code, out, errOut)
	}
	out = as(yamada, 0, "incident", "ack", ids, srv, "--comment", "looking")
	if !strings.Contains(out, "acknowledged") {
		t.Errorf("ack said %q", out)
	}
	out = as(tanaka, 1, "incident", "ack", ids, srv)
	if !strings.Contains(out, "cannot acknowledge") || !strings.Contains(out, "409") {
		t.Errorf("second ack said %q", out)
	}
	run(0, "event", "send", srv, "--target", "db01", "--check", "ping", "--severity", "critical", "--ok")
	var d console.IncidentDetail
	show := func() console.IncidentDetail {
		t.Helper()
		if err := json.Unmarshal([]byte(run(0, "incident", "show", ids, srv, "-o", "json")), &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	waitFor(t, "recovered", func() bool { return show().Incident.Recovered })
	as(yamada, 0, "incident", "resolve", ids, srv, "--comment", "NIC replaced")
	if d = show(); d.Incident.State != incident.Resolved || d.Incident.ResolvedBy != "yamada" || d.Incident.AckedBy != "yamada" {
		t.Errorf("after resolve: %+v", d.Incident)
	}
	var kinds []string
	for _, e := range d.Timeline {
		kinds = append(kinds, string(e.Kind))
		if (e.Kind == incident.KindAcknowledged || e.Kind == incident.KindResolved) && e.By != "yamada" {
			t.Errorf("timeline entry %s by %q, want yamada (the token's owner)", e.Kind, e.By)
		}
	}
	if got := strings.Join(kinds, ","); got != "opened,acknowledged,recovered,resolved" {
		t.Errorf("timeline %s", got)
	}
	table = run(0, "incident", "show", ids, srv)
	for _, want := range []string{"db01", "resolved", "yamada", "NIC replaced"} {
		if !strings.Contains(table, want) {
			t.Errorf("show lacks %q:\n%s", want, table)
		}
	}

	// Bad input: clear errors, exit 2, nothing sent.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"event", "send", srv, "--target", "x", "--check", "y", "--severity", "fatal"}, `severity "fatal"`},
		{[]string{"event", "send", srv, "--check", "y", "--severity", "info"}, "--target: required"},
		{[]string{"incident", "show", "abc", srv}, `"abc" is not an incident id`},
		{[]string{"incident", "list", srv, "--state", "gone"}, `--state "gone"`},
		{[]string{"nosuch"}, `unknown command "nosuch"`},
	} {
		out := run(2, c.args...)
		if !strings.Contains(out, c.want) {
			t.Errorf("unyo %s: output %q lacks %q", strings.Join(c.args, " "), out, c.want)
		}
	}
	out = run(1, "incident", "show", "999999", srv)
	if !strings.Contains(out, "no incident 999999") || strings.Contains(out, "sqlite") {
		t.Errorf("show of a missing incident said %q", out)
	}
}

// TestConfigCheck runs `unyo config check` on the shipped examples and on a
// broken file.
func TestConfigCheck(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "configs")
	for _, f := range []string{"single-node.yaml", "postgres.yaml"} {
		out, errOut, code := testutil.Run(t, "config", "check", filepath.Join(root, f))
		if code != 0 || !strings.Contains(out, "ok") {
			t.Errorf("config check %s: exit %d\n%s%s", f, code, out, errOut)
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("node:\n  name: n1\nledger:\n  driver: mysql\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := testutil.Run(t, "config", "check", bad)
	if code == 0 || !strings.Contains(errOut, bad+":4:") || !strings.Contains(errOut, "ledger.driver") {
		t.Errorf("bad config: exit %d, stderr %q: want non-zero naming %s:4 and ledger.driver", code, errOut, bad)
	}
	// serve refuses it too, before starting anything.
	_, errOut, code = testutil.Run(t, "serve", "--config", bad)
	if code == 0 || !strings.Contains(errOut, "ledger.driver") {
		t.Errorf("serve with a bad config: exit %d, stderr %q", code, errOut)
	}
}
