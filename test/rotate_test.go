package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/rotate"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestRotatePasswordJob runs the rotate-password job through the node's
// built-in agent (run_on.node: a signed task) on a real local account
// made for the test: the new password is in the ledger sealed, unyo
// password reveal (as an ops SE) prints it, it matches /etc/shadow and the
// old one does not; a viewer may not reveal; a second job on an account
// that does not exist ends abnormally and changes nothing.
func TestRotatePasswordJob(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root (useradd, chpasswd, /etc/shadow)")
	}
	user := fmt.Sprintf("unyoe2e%d", time.Now().UnixNano()%1e6)
	if out, err := exec.Command("useradd", "-M", "-s", "/usr/sbin/nologin", user).CombinedOutput(); err != nil {
		t.Skipf("useradd: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("userdel", user).Run() })
	const old = "Old-password-0123456789"
	chp := exec.Command("chpasswd", "-c", "SHA512")
	chp.Stdin = strings.NewReader(user + ":" + old + "\n")
	if out, err := chp.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v: %s", err, out)
	}
	dir := t.TempDir()
	addr := testutil.FreePort(t)
	cfg := fmt.Sprintf(`node:
  name: e2e
  data_dir: %q
http:
  listen: %q
cluster:
  bind: 127.0.0.1:0
jobnets:
  - name: rotate
    jobs:
      - name: app
        kind: rotate-password
        run_on: {node: e2e}
        rotate_password: {local_accounts: [%s]}
  - name: rotate-missing
    jobs:
      - name: nobody
        kind: rotate-password
        rotate_password: {host: e2e, local_accounts: [nosuchuser0x]}
`, dir, addr, user)
	serveYAML(t, dir, addr, cfg)
	srv := "--server=http://" + addr
	cl := testutil.Client(t, "http://"+addr)
	wait := func(jobnet string) ledger.RunRecord {
		t.Helper()
		id, err := cl.StartRun(t.Context(), jobnet, nil)
		if err != nil {
			t.Fatal(err)
		}
		var r ledger.RunRecord
		waitFor(t, "run "+id+" ended", func() bool {
			r, err = cl.Run(t.Context(), id)
			return err == nil && r.Status != "running" && r.Status != ""
		})
		return r
	}
	if r := wait("rotate"); r.Status != "ended-normal" {
		t.Fatalf("rotate: %+v", r)
	}
	account := "e2e/local/" + user
	list := unyo(t, 0, "password", "list", srv)
	if !strings.Contains(list, account) {
		t.Fatalf("password list:\n%s", list)
	}
	viewer := addUser(t, "http://"+addr, "vera", "viewer")
	unyoAs(t, viewer, 1, "password", "reveal", account, srv)
	se := addUser(t, "http://"+addr, "sato", "ops-se")
	pw := strings.TrimSpace(unyoAs(t, se, 0, "password", "reveal", account, srv))
	if len(pw) != 24 || pw == old {
		t.Fatalf("revealed %d characters", len(pw))
	}
	acct := rotate.Local{Host: "e2e", User: user}
	if err := acct.Verify(t.Context(), pw); err != nil {
		t.Fatalf("revealed password: %v", err)
	}
	if err := acct.Verify(t.Context(), old); err == nil {
		t.Fatal("the old password still matches")
	}
	audit := unyo(t, 0, "audit", "list", srv, "-o", "json")
	if !strings.Contains(audit, "password.reveal") || !strings.Contains(audit, account) {
		t.Fatalf("no reveal in the audit log:\n%s", audit)
	}
	// The ledger holds it sealed only.
	if b, _ := os.ReadFile(filepath.Join(dir, "ledger.db")); strings.Contains(string(b), pw) {
		t.Fatal("the password is in the ledger file in clear")
	}
	if r := wait("rotate-missing"); r.Status != "ended-abnormal" {
		t.Fatalf("rotate-missing: %+v", r)
	}
}
