package test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestAgentLifecycle: real `unyo agent` processes against a real node:
// enrolment with a valid, an expired and a revoked token; the inventory
// appears and a package change becomes an event; remote operations are
// role-checked, refused outside the allowlist and the file roots, and
// audited; log lines appended across a rotation all arrive once; an
// agent that stops heartbeating is a fault, which recovers.
func TestAgentLifecycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	natsAddr, addr := testutil.FreePort(t), testutil.FreePort(t)
	p := serveYAML(t, dir, addr, oneNode("n1", dir, addr)+embeddedNATS(natsAddr)+fmt.Sprintf(`monitor:
  syslog:
    filters:
      - name: app-fatal
        contains: [FATAL]
        action: incident
        severity: major
        dedup_key: '{{.Host}}/{{.Text}}'
        message: '{{.Text}}'
agents:
  enabled: true
  heartbeat: 1s
  down_after: 2
  inventory_interval: 1m
  commands:
    - {name: hello, argv: [echo, hello-from-agent], roles: [ops-se, admin]}
jobnets:
  - name: tagged
    jobs:
      - {name: j, command: /bin/sh, args: ["-c", "touch %s"], run_on: {tag: batch}}
`, filepath.Join(dir, "tagged-ran")))
	srv := "--server=" + p.URL
	c := testutil.Client(t, p.URL)

	// Tokens: a valid one, an expired one, a revoked one.
	tok := strings.TrimSpace(unyo(t, 0, "agents", "token", "create", "--group", "web", srv))
	expired := strings.TrimSpace(unyo(t, 0, "agents", "token", "create", "--group", "web", "--ttl", "1ms", srv))
	revoked := strings.TrimSpace(unyo(t, 0, "agents", "token", "create", "--group", "web", srv))
	list := unyo(t, 0, "agents", "token", "list", srv, "-o", "json")
	if strings.Contains(list, tok) || strings.Contains(list, "unyoe_") {
		t.Fatal("token list shows a secret")
	}
	var revokedID string
	for _, line := range strings.Split(unyo(t, 0, "agents", "token", "list", srv), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], "enr_") {
			revokedID = f[0] // newest first: the revoked one
			break
		}
	}
	unyo(t, 0, "agents", "token", "revoke", revokedID, srv)

	state := filepath.Join(dir, "agent-state")
	enroll := func(token string) (string, int) {
		f := writeFile(t, filepath.Join(dir, "tok"), token+"\n", 0o600)
		out, errOut, code := testutil.Run(t, "agent", "enroll", "--server", p.URL, "--token-file", f, "--name", "web01",
			"--group", "web", "--state-dir", state, "--host-id", "host-web01")
		return out + errOut, code
	}
	if out, code := enroll(expired); code == 0 || !strings.Contains(out, "not valid") {
		t.Fatalf("enrol with an expired token: exit %d\n%s", code, out)
	}
	if out, code := enroll(revoked); code == 0 || !strings.Contains(out, "not valid") {
		t.Fatalf("enrol with a revoked token: exit %d\n%s", code, out)
	}
	if out, code := enroll(tok); code != 0 {
		t.Fatalf("enrol: exit %d\n%s", code, out)
	}
	for _, f := range []string{"state.json", "nkey.seed", "sign.key", "trust.pem"} {
		if fi, err := os.Stat(filepath.Join(state, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("state file %s: %v %v, want mode 0600", f, fi, err)
		}
	}

	pkgs := writeFile(t, filepath.Join(dir, "pkgs.txt"), "openssl\t3.0.1\tamd64\nbash\t5.2\tamd64\n", 0o644)
	root := filepath.Join(dir, "root")
	_ = os.MkdirAll(root, 0o755)
	writeFile(t, filepath.Join(root, "app.conf"), "answer=42\n", 0o644)
	secret := writeFile(t, filepath.Join(dir, "secret.txt"), "not for operators\n", 0o600)
	if err := os.Symlink(secret, filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	logf := filepath.Join(dir, "app.log")
	writeFile(t, logf, "", 0o644)
	agentArgs := []string{"run", "--state-dir", state, "--packages-command", "cat " + pkgs, "--file-root", root,
		"--log", "shop=" + logf, "--heartbeat", "500ms", "--inventory-interval", "1s", "--host-id", "host-web01"}
	ag := startAgent(t, agentArgs...)

	waitFor(t, "web01 live in agents list", func() bool {
		l, err := c.Agents(t.Context())
		return err == nil && len(l) == 1 && l[0].Live && l[0].Group == "web" && l[0].Kind == "resident"
	})
	waitFor(t, "an inventory", func() bool {
		inv, err := c.AgentInventory(t.Context(), "web01")
		return err == nil && len(inv.Inv.Packages) == 2
	})
	inv, _ := c.AgentInventory(t.Context(), "web01")
	t.Logf("inventory of web01: %d bytes", inv.Size)

	// A package changes: an event in the ledger.
	writeFile(t, pkgs, "openssl\t3.0.2\tamd64\nbash\t5.2\tamd64\n", 0o644)
	waitFor(t, "the package change as an incident", func() bool {
		incs, _ := c.Incidents(t.Context(), client.ListOptions{Target: "web01"})
		for _, i := range incs {
			if strings.Contains(i.Message, "package openssl:amd64 changed 3.0.1 -> 3.0.2 on web01") {
				return true
			}
		}
		return false
	})
	// The last two inventories may differ by something else since (a
	// listening socket of this test): the diff only has to answer.
	unyo(t, 0, "agents", "diff", "web01", srv)

	// Remote operations, role-checked and audited.
	opsSE := addUser(t, p.URL, "sam", "ops-se")
	operator := addUser(t, p.URL, "olga", "operator")
	if out := unyoAs(t, opsSE, 0, "agents", "op", "web01", "command", "hello", srv); !strings.Contains(out, "hello-from-agent") {
		t.Errorf("allowed command: %s", out)
	}
	unyoAs(t, opsSE, 1, "agents", "op", "web01", "command", "rm-everything", srv)
	unyoAs(t, operator, 1, "agents", "op", "web01", "command", "hello", srv)
	if out := unyoAs(t, opsSE, 0, "agents", "op", "web01", "files.view", filepath.Join(root, "app.conf"), srv); !strings.Contains(out, "answer=42") {
		t.Errorf("file view inside the root: %s", out)
	}
	for _, path := range []string{secret, filepath.Join(root, "escape"), root + "/../secret.txt"} {
		out, errOut, code := testutil.RunEnv(t, []string{"UNYO_TOKEN=" + opsSE}, "agents", "op", "web01", "files.view", path, srv)
		if code == 0 || strings.Contains(out+errOut, "not for operators") {
			t.Errorf("file view of %s outside the roots: exit %d\n%s%s", path, code, out, errOut)
		}
	}
	unyoAs(t, operator, 1, "agents", "op", "web01", "files.view", filepath.Join(root, "app.conf"), srv)
	unyoAs(t, operator, 0, "agents", "op", "web01", "sysinfo", srv)
	audit, err := c.Audit(t.Context(), client.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range audit {
		if strings.HasPrefix(e.Action, "agent.op.") {
			seen[e.Actor+" "+e.Action+" "+e.Result] = true
		}
	}
	for _, want := range []string{"sam agent.op.command ok", "sam agent.op.command denied", "olga agent.op.command denied",
		"sam agent.op.files.view refused", "olga agent.op.sysinfo ok"} {
		if !seen[want] {
			t.Errorf("audit lacks %q; has %v", want, seen)
		}
	}

	// Log lines across a rotation arrive once each.
	appendTo := func(path string, lines ...string) {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			fmt.Fprintln(f, l)
		}
		f.Close()
	}
	appendTo(logf, "FATAL order 1", "ok line", "FATAL order 2")
	waitFor(t, "the first lines", func() bool { return countFatal(t, c) >= 2 })
	if err := os.Rename(logf, logf+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(logf+".1", "FATAL order 3") // written by the application before it reopens
	appendTo(logf, "FATAL order 4", "FATAL order 5")
	waitFor(t, "every line across the rotation", func() bool { return countFatal(t, c) == 5 })
	for _, i := range fatalIncidents(t, c) {
		if i.Count != 1 {
			t.Errorf("%q arrived %d times, want once", i.Message, i.Count)
		}
	}

	// Heartbeats stop: a fault; they come back: it recovers.
	_ = ag.cmd.Process.Kill()
	_ = ag.cmd.Wait()
	hb := func(recovered bool) func() bool {
		return func() bool {
			incs, _ := c.Incidents(t.Context(), client.ListOptions{Target: "web01"})
			for _, i := range incs {
				if i.Check == "heartbeat" && i.Recovered == recovered {
					return true
				}
			}
			return false
		}
	}
	waitFor(t, "the heartbeat fault", hb(false))
	ag = startAgent(t, agentArgs...)
	waitFor(t, "the heartbeat fault recovered", hb(true))
	if countFatal(t, c) != 5 {
		t.Errorf("after the restart %d log incidents, want 5 (positions kept)", countFatal(t, c))
	}

	// Tags: set by an admin only; the agent is told, restarts with them
	// and takes the tag's jobs.
	unyoAs(t, operator, 1, "agents", "tag", "web01", "+batch", srv)
	if out := unyo(t, 0, "agents", "tag", "web01", "+batch", "+linux", srv); !strings.Contains(out, "tags [batch linux]") {
		t.Errorf("agents tag: %s", out)
	}
	if out := unyo(t, 0, "agents", "list", srv); !strings.Contains(out, "batch,linux") {
		t.Errorf("agents list does not show the tags:\n%s", out)
	}
	unyo(t, 0, "jobnet", "run", "tagged", srv)
	waitFor(t, "the tag's job to run on web01", func() bool {
		_, err := os.Stat(filepath.Join(dir, "tagged-ran"))
		return err == nil
	})
	if !strings.Contains(ag.log.String(), "tags changed: restarting") {
		t.Errorf("the agent did not restart for its new tags:\n%s", ag.log.String())
	}
	if out := unyo(t, 0, "agents", "tag", "web01", "-linux", srv); !strings.Contains(out, "tags [batch]") {
		t.Errorf("agents tag -linux: %s", out)
	}

	// Uninstall protection: the group's secret is set by an admin only
	// (from stdin, never argv), and the agent uninstalls only with it;
	// every attempt is audited, never with the secret.
	const uninstallSecret = "s3cret-for-the-web-group"
	if out, code := unyoStdin(t, operator, uninstallSecret+"\n", "agents", "secret", "set", "--group", "web", "--secret-stdin", srv); code == 0 {
		t.Errorf("an operator set the group's uninstall secret:\n%s", out)
	}
	if out, code := unyoStdin(t, testutil.AdminToken, uninstallSecret+"\n", "agents", "secret", "set", "--group", "web", "--secret-stdin", srv); code != 0 {
		t.Fatalf("set the uninstall secret: exit %d\n%s", code, out)
	}
	uninstall := func(secret string) (string, int) {
		out, errOut, code := testutil.RunEnv(t, []string{"UNYO_UNINSTALL_SECRET=" + secret}, "agent", "uninstall", "--state-dir", state)
		return out + errOut, code
	}
	if out, code := uninstall("not-the-secret-at-all"); code == 0 || !strings.Contains(out, "wrong secret") {
		t.Errorf("uninstall with a wrong secret: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(state, "state.json")); err != nil {
		t.Fatalf("a refused uninstall removed the enrolment: %v", err)
	}
	if out, code := uninstall(uninstallSecret); code != 0 {
		t.Fatalf("uninstall with the secret: exit %d\n%s", code, out)
	}
	for _, f := range []string{"state.json", "nkey.seed", "sign.key"} {
		if _, err := os.Stat(filepath.Join(state, f)); err == nil {
			t.Errorf("%s left after the uninstall", f)
		}
	}
	if a, err := c.Agent(t.Context(), "web01"); err != nil || !a.Disabled {
		t.Errorf("web01 after its uninstall: %+v %v, want disabled", a, err)
	}
	audit, err = c.Audit(t.Context(), client.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen = map[string]bool{}
	for _, e := range audit {
		if strings.Contains(e.Detail+e.Target, uninstallSecret) || strings.Contains(e.Detail, "not-the-secret") {
			t.Errorf("the audit shows a secret: %+v", e)
		}
		if e.Action == "agent.uninstall" || e.Action == "agent.admin" {
			seen[e.Actor+" "+e.Action+" "+e.Result] = true
		}
	}
	for _, want := range []string{"admin agent.admin ok", "olga agent.admin denied", "agent:web01 agent.uninstall refused", "agent:web01 agent.uninstall ok"} {
		if !seen[want] {
			t.Errorf("audit lacks %q; has %v", want, seen)
		}
	}
}

// unyoStdin runs unyo as token with stdin and returns its output and exit
// code.
func unyoStdin(t *testing.T, token, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(testutil.Binary(t), args...)
	cmd.Env = append(os.Environ(), "UNYO_TOKEN="+token, "UNYO_CREDENTIALS="+filepath.Join(t.TempDir(), "credentials.json"))
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func fatalIncidents(t *testing.T, c *client.Client) []incident.Incident {
	incs, _ := c.Incidents(t.Context(), client.ListOptions{Target: "web01"})
	var out []incident.Incident
	for _, i := range incs {
		if i.Check == "app-fatal" {
			out = append(out, i)
		}
	}
	return out
}

func countFatal(t *testing.T, c *client.Client) int { return len(fatalIncidents(t, c)) }
