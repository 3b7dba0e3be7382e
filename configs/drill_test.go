package configs_test

import (
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/configs"
)

// TestDrillAndRotateJobs: defaults, and each bad value's error names its
// field.
func TestDrillAndRotateJobs(t *testing.T) {
	const head = "jobnets:\n  - name: d\n    jobs:\n      - name: j\n"
	c, err := configs.Parse("x.yaml", []byte(head+`        kind: drill
        drill:
          kind: external
          switchover: [sh, -c, "true"]
          checks: [{name: standby, tcp: "127.0.0.1:5433"}, {name: app, command: ["true"]}]
          stop_when_bad: [app]
`))
	if err != nil {
		t.Fatal(err)
	}
	j := c.Jobnets[0].Jobs[0]
	if j.Runbook != configs.DrillFailedRunbook || j.Drill.Limit == 0 || len(j.Drill.ServedWhen) != 1 || j.Drill.ServedWhen[0] != "standby" {
		t.Fatalf("defaults: %+v", j)
	}
	// On an agent the host is the agent; on a tag, the agent that takes
	// the task (empty here).
	for body, host := range map[string]string{
		"        kind: rotate-password\n        run_on: {agent: a1}\n        rotate_password: {local_accounts: [app]}\n": "a1",
		"        kind: rotate-password\n        run_on: {tag: t}\n        rotate_password: {local_accounts: [app]}\n":    "",
		"        kind: rotate-password\n        rotate_password: {local_accounts: [app]}\n":                              "leader",
	} {
		c, err := configs.Parse("x.yaml", []byte(head+body))
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		if got := c.Jobnets[0].Jobs[0].Rotate.Host; got != host {
			t.Errorf("%q: host %q, want %q", body, got, host)
		}
	}
	for _, c := range []struct{ body, want string }{
		{"        kind: drill\n        drill: {kind: sideways}\n", "jobs[0].drill.kind: \"sideways\": want platform or external"},
		{"        kind: drill\n        drill: {kind: external, checks: [{name: s, tcp: x}]}\n", "drill.switchover: required"},
		{"        kind: drill\n        drill: {kind: external, switchover: [x], checks: [{name: s, tcp: \"a:1\"}], stop_when_bad: [nope]}\n", "stop_when_bad[0]: \"nope\": no such check"},
		{"        kind: drill\n        run_on: {agent: a1}\n        drill: {kind: platform}\n", "runs on a node"},
		{"        kind: rotate-password\n        rotate_password: {local_accounts: [root]}\n", "local_accounts[0]: \"root\""},
		{"        kind: rotate-password\n        rotate_password: {postgres: \"postgres://u:pw@h/db\", postgres_roles: [app]}\n", "no password in the URL"},
		{"        kind: rotate-password\n        rotate_password: {}\n", "want at least one local account"},
		{"        kind: rotate-password\n        run_on: {agent: a1}\n        rotate_password: {host: db1, local_accounts: [app]}\n", "rotate_password.host: \"db1\": a job on agent \"a1\""},
		{"        kind: rotate-password\n        run_on: {tag: t}\n        rotate_password: {host: db1, local_accounts: [app]}\n", "on a tag rotates the accounts of the agent"},
		{"        kind: rotate-password\n        rotate_password: {local_accounts: [app], verify_command: [check]}\n", "verify_command: \"check\": want an absolute path"},
	} {
		_, err := configs.Parse("x.yaml", []byte(head+c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.body, err, c.want)
		}
	}
}
