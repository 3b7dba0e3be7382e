package jobnet

import (
	"errors"
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/jobnet/runstate"
)

// TestCheckParams: undeclared names and values off the pattern (or too
// long, or with NUL) are refused naming params.NAME; a child gets only
// the parameters it declares; a value is substituted as it is, each arg
// staying one argument.
func TestCheckParams(t *testing.T) {
	nets := compile(t, `jobnets:
  - name: parent
    params:
      - {name: host, pattern: "[a-z0-9.-]{1,63}", default: localhost}
      - {name: note, pattern: "(?s).*"}
      - {name: days, default: "7"}
    jobs:
      - {name: run, command: /bin/echo, args: ["--host=${host}", "${note}"], env: {DAYS: "${days}"}}
  - name: child
    params: [{name: days, pattern: "[0-9]+", default: "1"}]
    jobs: [{name: c, command: /bin/true}]
`)
	p := nets["parent"]
	for _, tc := range []struct {
		params map[string]string
		field  string
	}{
		{map[string]string{"host": "db1.example"}, ""},
		{map[string]string{}, ""},
		{map[string]string{"nope": "x"}, "params.nope"},
		{map[string]string{"trigger": "x"}, "params.trigger"},
		{map[string]string{"host": "db1 example"}, "params.host"},
		{map[string]string{"host": "db1\n"}, "params.host"},
		{map[string]string{"host": "../../etc"}, "params.host"},
		{map[string]string{"days": "7;reboot"}, "params.days"},
		{map[string]string{"note": strings.Repeat("x", 4097)}, "params.note"},
		{map[string]string{"note": "a\x00b"}, "params.note"},
		{map[string]string{"note": "\xff"}, "params.note"},
		{map[string]string{"host": "ok", "days": "x y"}, "params.days"},
	} {
		err := p.CheckParams(tc.params)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%v: %v", tc.params, err)
			}
			continue
		}
		var fe *incident.FieldError
		if !errors.Is(err, ErrBadParam) || !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%v: error %v, want ErrBadParam naming %s", tc.params, err, tc.field)
		}
	}

	if got := childParams(nets["child"], map[string]string{"host": "h", "days": "3", "trigger": "x"}); len(got) != 1 || got["days"] != "3" {
		t.Errorf("childParams = %v, want only days", got)
	}

	value := `a b; rm -rf / "q" $(id)`
	task := task(p.Job("run"), startReq{run: &runstate.Run{ID: "r", Jobnet: "parent",
		Params: map[string]string{"host": "h1", "note": value, "days": "${host}"}}, job: "run"})
	if task.Command != "/bin/echo" || len(task.Args) != 2 || task.Args[0] != "--host=h1" || task.Args[1] != value || task.Env["DAYS"] != "${host}" {
		t.Errorf("task %+v: want the values as they are, one argument each, not expanded again", task)
	}
}
