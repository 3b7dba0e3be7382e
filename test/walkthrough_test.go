package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/test/testutil"
)

// walkthrough is the README's "Using it" walk-through, command for command
// (the README shows it without set -eu). It runs in a directory laid out
// like the source tree: bin/unyo, configs/single-node.yaml, and the node's
// state in configs/data/node1.
const walkthrough = `set -eu
export UNYO_TOKEN_FILE=configs/data/node1/admin.token
id=$(bin/unyo event send --target db01 --check ping --severity critical --message "no reply" -o json | jq .incident)
bin/unyo incident list
bin/unyo incident ack "$id" --comment "looking"          # recorded as done by you (unyo whoami)
bin/unyo event send --target db01 --check ping --severity critical --ok
bin/unyo incident resolve "$id" --comment "NIC replaced"
bin/unyo incident show "$id"
bin/unyo report availability            # this month: downtime per target against the 2h budget
bin/unyo config check configs/single-node.yaml
`

// TestREADMEWalkthrough: the walk-through holds on the first run and on
// the next ones, against the example configuration, with the node's state
// kept between runs and another incident opened first (as the example's
// SNMP target does without snmpd) (issue 17 item 12).
func TestREADMEWalkthrough(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("jq"); err != nil {
		t.Fatal("jq is not installed: run scripts/test-deps.sh")
	}
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), strings.TrimPrefix(walkthrough, "set -eu\n")) {
		t.Fatal("README.md's walk-through differs from the one this test runs")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(testutil.Binary(t), filepath.Join(dir, "bin", "unyo")); err != nil {
		t.Fatal(err)
	}
	// The example configuration on free loopback ports (its relative
	// data_dir is resolved against its own directory, as with make run).
	example, err := os.ReadFile(filepath.Join("..", "configs", "single-node.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	addr := testutil.FreePort(t)
	port := addr[strings.LastIndex(addr, ":")+1:]
	cfg := strings.NewReplacer("127.0.0.1:9780", addr, "port: 9780", "port: "+port,
		"127.0.0.1:9781", testutil.FreePort(t), "127.0.0.1:5514", testutil.FreePort(t), "127.0.0.1:9162", testutil.FreePort(t)).Replace(string(example))
	if strings.Count(cfg, addr) < 2 {
		t.Fatalf("the example configuration no longer listens on 127.0.0.1:9780: update this test")
	}
	cfgPath := filepath.Join(dir, "configs", "single-node.yaml")
	if err := os.MkdirAll(filepath.Dir(cfgPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "configs", "data", "node1", "admin.token")
	env := []string{"UNYO_SERVER=http://" + addr, "UNYO_TOKEN_FILE=" + tokenFile}

	for run := 1; run <= 2; run++ {
		// make run: the node's first start makes the admin token; a later
		// one keeps the state of the runs before.
		p := testutil.StartEnv(t, cfgPath, addr, nil)
		p.WaitReady(60 * time.Second)
		// Another incident first, so that the walk-through's is not #1.
		if _, errOut, code := testutil.RunEnv(t, env, "event", "send", "--target", "localhost-snmp", "--check", "snmp",
			"--severity", "major", "--message", "no answer"); code != 0 {
			t.Fatalf("run %d: the other incident: %s", run, errOut)
		}

		cmd := exec.Command("bash", "-c", walkthrough)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "UNYO_SERVER=http://"+addr, "UNYO_CREDENTIALS="+filepath.Join(dir, "credentials.json"))
		cmd.Env = slicesWithout(cmd.Env, "UNYO_TOKEN=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("run %d of the walk-through: %v\n%s", run, err, out)
		}
		show := regexp.MustCompile(`(?m)^Incident:\s+(\d+)$`).FindStringSubmatch(string(out))
		if show == nil || !regexp.MustCompile(`(?m)^Target:\s+db01$`).Match(out) || !regexp.MustCompile(`(?m)^State:\s+resolved$`).Match(out) {
			t.Fatalf("run %d: incident show does not show db01's incident resolved:\n%s", run, out)
		}
		// The other incident was not touched.
		listOut, errOut, code := testutil.RunEnv(t, env, "incident", "list", "--target", "localhost-snmp", "--state", "open", "-o", "json")
		var others []incident.Incident
		if code != 0 || json.Unmarshal([]byte(listOut), &others) != nil || len(others) != 1 || others[0].Owner != "" {
			t.Fatalf("run %d: the other incident: exit %d %s %s", run, code, listOut, errOut)
		}

		// Completion offers the incident ids the node has, with the token.
		compl, _, _ := testutil.RunEnv(t, env, "__complete", "incident", "show", "")
		if !regexp.MustCompile(`(?m)^`+show[1]+`\t`).MatchString(compl) || !regexp.MustCompile(`(?m)^`+itoa(others[0].ID)+`\t`).MatchString(compl) {
			t.Errorf("run %d: completion of incident show does not offer %s and %d:\n%s", run, show[1], others[0].ID, compl)
		}
		p.Stop()
	}
}

// slicesWithout drops the entries of env starting with prefix.
func slicesWithout(env []string, prefix string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}
