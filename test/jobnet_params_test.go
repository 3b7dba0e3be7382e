package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestJobnetParams: a run started through the real API with an undeclared
// parameter or a value off its pattern is refused with 400 naming
// params.NAME and nothing starts; a legitimate value with spaces, ';' and
// quotes reaches the job's argv as one argument and is not executed; a
// command that refers to a parameter is refused by `config check`.
func TestJobnetParams(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	cfg, addr := writeConfig(t, dir, `jobnets:
  - name: argv
    concurrency: allow
    params:
      - name: msg
        pattern: "[ -~]{0,200}"
        default: none
        description: printed as one argument
      - name: count
        pattern: "[0-9]{1,3}"
        default: "1"
    jobs:
      - {name: show, command: /usr/bin/printf, args: ["[%s]", "${msg}", "<${count}>"]}
      - {name: env, command: /bin/sh, args: ["-c", "printf '{%s}' \"$MSG\""], env: {MSG: "${msg}"}}
`)
	p := testutil.Serve(t, cfg, addr)

	start := func(params map[string]string) (int, map[string]string) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"params": params})
		req, err := http.NewRequest(http.MethodPost, p.URL+"/api/v1/jobnets/argv/runs", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := testutil.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	runs := func() []ledger.RunRecord {
		t.Helper()
		var out struct {
			Runs []ledger.RunRecord `json:"runs"`
		}
		resp, err := testutil.Get(p.URL + "/api/v1/runs?jobnet=argv")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return out.Runs
	}

	for _, tc := range []struct {
		name   string
		params map[string]string
		field  string
	}{
		{"undeclared", map[string]string{"cmd": "x"}, "params.cmd"},
		{"newline off the pattern", map[string]string{"msg": "a\n/bin/sh"}, "params.msg"},
		{"too long for the pattern", map[string]string{"msg": strings.Repeat("a", 201)}, "params.msg"},
		{"not digits", map[string]string{"count": "1;reboot"}, "params.count"},
		{"one good one bad", map[string]string{"msg": "ok", "count": "$(id)"}, "params.count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := start(tc.params)
			if code != http.StatusBadRequest || out["field"] != tc.field {
				t.Fatalf("start with %v: HTTP %d %v, want 400 naming %s", tc.params, code, out, tc.field)
			}
		})
	}
	if rs := runs(); len(rs) != 0 {
		t.Fatalf("refused starts left runs: %+v", rs)
	}
	unyo(t, 1, "jobnet", "run", "argv", "--param", "count=x", "--server", p.URL)

	value := fmt.Sprintf(`it's a b; touch %s && "echo" $(touch %s)`, pwned, pwned)
	code, out := start(map[string]string{"msg": value, "count": "42"})
	if code != http.StatusAccepted || out["run"] == "" {
		t.Fatalf("legitimate start: HTTP %d %v", code, out)
	}
	var r ledger.RunRecord
	waitFor(t, "the run ends", func() bool {
		for _, x := range runs() {
			if x.ID == out["run"] && x.Status != "running" {
				r = x
				return true
			}
		}
		return false
	})
	if err := json.Unmarshal([]byte(unyo(t, 0, "run", "show", r.ID, "--server", p.URL, "-o", "json")), &r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "ended-normal" {
		t.Fatalf("run %+v", r)
	}
	outputs := map[string]string{}
	for _, j := range r.Jobs {
		outputs[j.Job] = j.Output
	}
	if want := "[" + value + "][<42>]"; strings.TrimSpace(outputs["show"]) != want {
		t.Errorf("argv: printf printed %q, want %q (printf repeats its format per argument: two arguments)", outputs["show"], want)
	}
	if want := "{" + value + "}"; strings.TrimSpace(outputs["env"]) != want {
		t.Errorf("env: %q, want %q", outputs["env"], want)
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Error("the parameter's value was executed")
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("jobnets:\n  - name: n\n    params: [{name: tool, default: ls}]\n    jobs:\n      - {name: a, command: \"/usr/bin/${tool}\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code2 := testutil.Run(t, "config", "check", bad)
	if code2 == 0 || !strings.Contains(errOut, bad+":5: jobnets[0].jobs[0].command") || !strings.Contains(errOut, "never becomes a command path") {
		t.Errorf("config check of a command with a parameter: exit %d, %q", code2, errOut)
	}
}
