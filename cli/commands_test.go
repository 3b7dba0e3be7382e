package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/unyo-ops/unyo/cli"
)

// run runs the command line with env as the environment.
func runEnv(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Main(context.Background(), args, &cli.Env{Stdout: &out, Stderr: &errOut, Getenv: func(k string) string { return env[k] }})
	return out.String(), errOut.String(), code
}

// TestHelpEverywhere: every command and subcommand answers --help and -h
// with its usage on stdout and exit 0 (issue 17 item 9).
func TestHelpEverywhere(t *testing.T) {
	cmds := [][]string{
		{}, {"incident"}, {"incident", "list"}, {"incident", "show"}, {"incident", "ack"}, {"incident", "report"},
		{"target"}, {"target", "show"}, {"cluster"}, {"cluster", "status"}, {"cluster", "transfer-leadership"},
		{"cluster", "token"}, {"cluster", "token", "create"}, {"jobnet"}, {"jobnet", "run"}, {"run"}, {"run", "rerun"},
		{"event"}, {"event", "send"}, {"maintenance"}, {"maintenance", "add"}, {"report"}, {"report", "availability"},
		{"config"}, {"config", "check"}, {"serve"}, {"agent"}, {"agent", "nkey"}, {"user"}, {"user", "add"},
		{"token"}, {"audit"}, {"login"}, {"oncall"}, {"ledger"}, {"ledger", "export"}, {"whoami"}, {"completion"},
	}
	for _, c := range cmds {
		for _, h := range []string{"--help", "-h"} {
			args := append(append([]string{}, c...), h)
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				out, errOut, code := runEnv(t, nil, args...)
				if code != 0 || !strings.Contains(out, "Usage:") || errOut != "" {
					t.Fatalf("exit %d, stdout %q, stderr %q; want exit 0 and the usage on stdout", code, out, errOut)
				}
				path := "unyo " + strings.Join(c, " ")
				if !strings.Contains(out, strings.TrimSpace(path)) {
					t.Errorf("the help does not name %q:\n%s", path, out)
				}
			})
		}
	}
	// help COMMAND says the same.
	if out, _, code := runEnv(t, nil, "help", "incident", "list"); code != 0 || !strings.Contains(out, "--state") {
		t.Errorf("unyo help incident list: exit %d\n%s", code, out)
	}
}

// TestFlagsBelongToTheirCommand: a command's help lists its own flags and
// no other command's.
func TestFlagsBelongToTheirCommand(t *testing.T) {
	for _, c := range []struct {
		args        []string
		has, hasNot []string
	}{
		{[]string{"cluster", "status"}, []string{"--server", "-o, --output"}, []string{"--to", "--ttl"}},
		{[]string{"cluster", "transfer-leadership"}, []string{"--to"}, []string{"--ttl"}},
		{[]string{"cluster", "token", "create"}, []string{"--ttl"}, []string{"--to "}},
		{[]string{"cluster", "token", "generate"}, nil, []string{"--server", "--ttl"}},
		{[]string{"serve"}, []string{"--config"}, []string{"--server", "--output"}},
		{[]string{"config", "check"}, []string{"--print"}, []string{"--server"}},
		{[]string{"user", "list"}, []string{"--server"}, []string{"--role", "--no-password", "--password-stdin"}},
		{[]string{"user", "add"}, []string{"--role", "--no-password", "--password-stdin"}, nil},
		{[]string{"token", "list"}, []string{"--all"}, []string{"--name", "--ttl"}},
		{[]string{"run", "kill"}, []string{"--job"}, []string{"--from"}},
		{[]string{"run", "rerun"}, []string{"--job", "--from"}, nil},
		{[]string{"audit", "verify"}, nil, []string{"--actor", "--limit"}},
		{[]string{"incident"}, nil, []string{"--server"}},
	} {
		out, _, code := runEnv(t, nil, append(c.args, "--help")...)
		if code != 0 {
			t.Fatalf("%v --help: exit %d", c.args, code)
		}
		for _, f := range c.has {
			if !strings.Contains(out, f) {
				t.Errorf("%v --help does not list %s:\n%s", c.args, f, out)
			}
		}
		for _, f := range c.hasNot {
			if strings.Contains(out, f) {
				t.Errorf("%v --help lists %s, which is not its flag:\n%s", c.args, f, out)
			}
		}
	}
}

// TestCommandLineErrors: an unknown command or flag is said once, on
// stderr, with exit 2; a flag of another command is unknown.
func TestCommandLineErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"incident", "list", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"cluster", "status", "--to", "n2"}, "unknown flag: --to"},
		{[]string{"incident", "frobnicate"}, `unknown incident command "frobnicate"`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"incident"}, "unyo incident show ID"},
		{[]string{"incident", "show"}, "usage: unyo incident show ID"},
		{[]string{"incident", "list", "--limit", "x"}, `invalid argument "x" for "--limit"`},
		{[]string{"incident", "list", "-o", "yaml"}, `-o "yaml": want table or json`},
		{[]string{"event", "send", "--target", "a"}, "--check: required"},
	} {
		out, errOut, code := runEnv(t, nil, c.args...)
		if code != 2 || out != "" || strings.Count(errOut, c.want) != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and %q once", c.args, code, out, errOut, c.want)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, _, code := runEnv(t, nil, args...)
		if code != 0 || !strings.HasPrefix(out, "unyo ") || strings.Count(out, "\n") != 1 {
			t.Errorf("%v: exit %d, %q", args, code, out)
		}
	}
}

// fakeNode answers the list calls completion makes, and counts the calls
// that came with token.
type fakeNode struct {
	srv    *httptest.Server
	authed atomic.Int32
}

func newFakeNode(t *testing.T, token string) *fakeNode {
	f := &fakeNode{}
	answers := map[string]string{
		"/api/v1/incidents": `{"incidents": [{"id": 7, "state": "open", "target": "web01", "check": "disk", "message": "disk\tfull\r\n"},
			{"id": 12, "state": "acknowledged", "target": "db01", "check": "ping", "message": "down"}]}`,
		"/api/v1/targets": `{"targets": [{"name": "web01", "address": "10.0.0.1", "status": "up"},
			{"name": "東京-db01", "address": "10.0.0.2", "status": "down"}]}`,
		"/api/v1/jobnets": `{"jobnets": [{"name": "nightly", "schedules": ["0 1 * * *"]}, {"name": "backup"}]}`,
		"/api/v1/runs":    `{"runs": [{"id": "nightly@20261201T0100", "jobnet": "nightly", "status": "ended"}]}`,
	}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "unauthenticated"})
			return
		}
		a, ok := answers[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		f.authed.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(a))
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// complete runs the shell's completion request for args and returns the
// names offered.
func complete(t *testing.T, env map[string]string, args ...string) []string {
	t.Helper()
	out, errOut, code := runEnv(t, env, append([]string{"__complete"}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %v: exit %d, %s", args, code, errOut)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, ":") || l == "" {
			continue // the directive
		}
		name, _, _ := strings.Cut(l, "\t")
		names = append(names, name)
	}
	return names
}

// TestCompletion: commands and flags complete from the tree; incident ids,
// target and jobnet names from the node, with the user's token; a node
// that is not there completes nothing, quietly.
func TestCompletion(t *testing.T) {
	const token = "unyo_completion-test"
	f := newFakeNode(t, token)
	env := map[string]string{"UNYO_TOKEN": token, "UNYO_SERVER": f.srv.URL}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{""}, "incident incident? jobnet target cluster completion"},
		{[]string{"incident", ""}, "ack close comment list report resolve show"},
		{[]string{"incident", "show", ""}, "7 12"},
		{[]string{"incident", "ack", "1"}, "12"},
		{[]string{"incident", "list", "--target", ""}, "web01 東京-db01"},
		{[]string{"target", "show", "w"}, "web01"},
		{[]string{"jobnet", "run", ""}, "nightly backup"},
		{[]string{"jobnet", "show", "--server", f.srv.URL, "n"}, "nightly"},
		{[]string{"run", "list", "--jobnet", "b"}, "backup"},
		{[]string{"run", "show", ""}, "nightly@20261201T0100"},
		{[]string{"incident", "list", "-o", ""}, "table json"},
		{[]string{"cluster", "status", "--"}, "--server --output"},
	} {
		got := " " + strings.Join(complete(t, env, c.args...), " ") + " "
		for _, w := range strings.Fields(c.want) {
			if strings.HasSuffix(w, "?") {
				continue
			}
			if !strings.Contains(got, " "+w+" ") {
				t.Errorf("complete %q: %q does not offer %q", c.args, got, w)
			}
		}
	}
	if f.authed.Load() == 0 {
		t.Error("no completion call came with the user's token")
	}
	// The description of an incident is made safe for the shell's menu.
	out, _, _ := runEnv(t, env, "__complete", "incident", "show", "7")
	if strings.Contains(out, "\r") || strings.Count(out, "\t") != 1 {
		t.Errorf("the completion of incident 7 carries the message's controls: %q", out)
	}

	// A node that is not there, or refuses the token: nothing, no error.
	for name, env := range map[string]map[string]string{
		"unreachable": {"UNYO_TOKEN": token, "UNYO_SERVER": "http://127.0.0.1:1"},
		"refused":     {"UNYO_TOKEN": "unyo_wrong", "UNYO_SERVER": f.srv.URL},
	} {
		out, errOut, code := runEnv(t, env, "__complete", "incident", "show", "")
		if code != 0 || strings.TrimSpace(out) != ":4" || strings.Contains(errOut, "rror") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want no names and no error", name, code, out, errOut)
		}
	}

	for _, shell := range []string{"bash", "zsh"} {
		out, _, code := runEnv(t, nil, "completion", shell)
		if code != 0 || !strings.Contains(out, "__complete") || !strings.Contains(out, "unyo") {
			t.Errorf("completion %s: exit %d, %.200q", shell, code, out)
		}
	}
}

// TestFlagSpellings: flags go before or after the arguments, and the
// spellings the standard flag package read (-config, --o) still work.
func TestFlagSpellings(t *testing.T) {
	for _, args := range [][]string{
		{"incident", "show", "x", "--server", "http://127.0.0.1:1"},
		{"incident", "show", "--server", "http://127.0.0.1:1", "x"},
		{"incident", "show", "-server", "http://127.0.0.1:1", "x"},
		{"incident", "show", "-server=http://127.0.0.1:1", "x", "--o", "json"},
	} {
		_, errOut, code := runEnv(t, nil, args...)
		if code != 2 || !strings.Contains(errOut, `"x" is not an incident id`) {
			t.Errorf("%v: exit %d, %q; want the id refused (the flags read)", args, code, errOut)
		}
	}
	// A flag's value that looks like a flag is left as it is.
	_, errOut, code := runEnv(t, nil, "event", "send", "--target", "-server", "--check", "c")
	if code != 2 || !strings.Contains(errOut, "--severity: required") {
		t.Errorf("a value spelled like a flag: exit %d, %q", code, errOut)
	}
	// After --, nothing is a flag.
	_, errOut, code = runEnv(t, nil, "incident", "show", "--", "--server")
	if code != 2 || !strings.Contains(errOut, `"--server" is not an incident id`) {
		t.Errorf("after --: exit %d, %q", code, errOut)
	}
}
