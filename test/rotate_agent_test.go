package test

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/postgres/pgtest"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/rotate"
	"github.com/unyo-ops/unyo/test/testutil"
)

// localUser makes a local account for the test (removed after) with
// password pw.
func localUser(t *testing.T, prefix, pw string) string {
	t.Helper()
	user := fmt.Sprintf("%s%d", prefix, time.Now().UnixNano()%1e7)
	if out, err := exec.Command("useradd", "-M", "-s", "/usr/sbin/nologin", user).CombinedOutput(); err != nil {
		t.Skipf("useradd: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("userdel", user).Run() })
	chp := exec.Command("chpasswd", "-c", "SHA512")
	chp.Stdin = strings.NewReader(user + ":" + pw + "\n")
	if out, err := chp.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v: %s", err, out)
	}
	return user
}

// TestRotatePasswordOnAgent runs the rotate-password job through real
// remote agents: a configured `unyo agent --name web01` (by its tag) and
// an enrolled `unyo agent run` (db01), each on a local account made for
// the test, and db01 on a PostgreSQL role too. The new password matches
// /etc/shadow (the role's SCRAM verifier) and the old one does not; `unyo password reveal` prints it to an ops SE (audited) and not
// to a viewer; the agents' vault requests are audited. A rotation whose
// verify_command fails keeps the old password, drops the pending one and
// raises an incident; an agent killed after setting one leaves it
// revealable as the pending password. Requests on the vault subject for an account, job
// or agent not the caller's are refused (and audited), and another
// agent's subject is denied by NATS. No file of the node holds a
// password in clear.
func TestRotatePasswordOnAgent(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root (useradd, chpasswd, /etc/shadow)")
	}
	const old1, old2 = "Old-password-web01-0123", "Old-password-db01-01234"
	u1, u2 := localUser(t, "unyoaw", old1), localUser(t, "unyoad", old2)
	role := pgRole(t, old2)
	dir := t.TempDir()
	natsAddr, addr := testutil.FreePort(t), testutil.FreePort(t)
	natsURL := "nats://" + natsAddr
	const web01Pass = "web01-password-0123456789"
	passFile := writeFile(t, filepath.Join(dir, "web01.pass"), web01Pass+"\n", 0o600)
	p := serveYAML(t, dir, addr, oneNode("n1", dir, addr)+embeddedNATS(natsAddr)+fmt.Sprintf(`    agents:
      - {name: web01, tags: [linux], password: %[2]q}
agents:
  enabled: true
  heartbeat: 1s
jobnets:
  - name: rotate-web01
    jobs:
      - {name: app, kind: rotate-password, run_on: {tag: linux}, rotate_password: {local_accounts: [%[3]s]}}
  - name: rotate-web01-fail
    jobs:
      - name: app
        kind: rotate-password
        run_on: {agent: web01}
        rotate_password:
          local_accounts: [%[3]s]
          verify_command: ["/bin/sh", "-c", "read pw; echo \"rejected $pw\" >&2; exit 3"]
  - name: rotate-web01-die
    jobs:
      - name: app
        kind: rotate-password
        run_on: {agent: web01}
        rotate_password:
          local_accounts: [%[3]s]
          verify_command: ["/bin/sh", "-c", "touch %[1]s/set; sleep 20"]
  - name: rotate-db01
    jobs:
      - name: app
        kind: rotate-password
        run_on: {agent: db01}
        rotate_password: {local_accounts: [%[4]s], postgres: %[5]q, postgres_roles: [%[6]s]}
`, dir, web01Pass, u1, u2, pgtest.AdminURL(), role))
	srv := "--server=" + p.URL
	c := testutil.Client(t, p.URL)

	// The configured agent, and an enrolled one.
	trust := writeFile(t, filepath.Join(dir, "trust.pub"), unyo(t, 0, "agent", "trust-key", "--config", filepath.Join(dir, "unyo.yaml")), 0o644)
	web01 := startAgent(t, "--name", "web01", "--tag", "linux", "--nats", natsURL, "--password-file", passFile, "--trust-key", trust)
	tok := strings.TrimSpace(unyo(t, 0, "agents", "token", "create", "--group", "db", srv))
	state := filepath.Join(dir, "db01-state")
	tokFile := writeFile(t, filepath.Join(dir, "tok"), tok+"\n", 0o600)
	if out, errOut, code := testutil.Run(t, "agent", "enroll", "--server", p.URL, "--token-file", tokFile, "--name", "db01",
		"--group", "db", "--state-dir", state, "--host-id", "host-db01"); code != 0 {
		t.Fatalf("enrol: exit %d\n%s%s", code, out, errOut)
	}
	db01 := startAgent(t, "run", "--state-dir", state, "--host-id", "host-db01", "--packages-command", "true", "--heartbeat", "500ms")
	waitFor(t, "both agents serving", func() bool {
		return strings.Contains(web01.log.String(), `msg="agent serving"`) && strings.Contains(db01.log.String(), `msg="agent serving"`)
	})

	run := func(jobnet, status string) ledger.RunRecord {
		t.Helper()
		id := strings.TrimSpace(unyo(t, 0, "jobnet", "run", jobnet, srv))
		var r ledger.RunRecord
		deadline := time.Now().Add(90 * time.Second)
		for {
			r = runRecord(t, srv, id)
			if r.Status != "running" && r.Status != "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %s of %s still %q", id, jobnet, r.Status)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if r.Status != status {
			t.Fatalf("run %s of %s: %s, want %s: %+v", id, jobnet, r.Status, status, r.Jobs)
		}
		t.Logf("%s: %s in %s (fired to ended)", jobnet, r.Status, r.Ended.Sub(r.Created).Round(time.Millisecond))
		return r
	}
	viewer := addUser(t, p.URL, "vera", "viewer")
	se := addUser(t, p.URL, "sato", "ops-se")
	reveal := func(account string) string {
		t.Helper()
		return strings.TrimSpace(unyoAs(t, se, 0, "password", "reveal", account, srv))
	}
	acct1, acct2 := "web01/local/"+u1, "db01/local/"+u2
	local1, local2 := rotate.Local{User: u1}, rotate.Local{User: u2}

	// The configured agent (through its tag) and the enrolled one.
	run("rotate-web01", "ended-normal")
	run("rotate-db01", "ended-normal")
	pw1, pw2 := reveal(acct1), reveal(acct2)
	for _, x := range []struct {
		acct    rotate.Local
		pw, old string
	}{{local1, pw1, old1}, {local2, pw2, old2}} {
		if len(x.pw) != 24 {
			t.Fatalf("%s: revealed %d characters", x.acct.User, len(x.pw))
		}
		if err := x.acct.Verify(t.Context(), x.pw); err != nil {
			t.Fatalf("%s: the revealed password: %v", x.acct.User, err)
		}
		if err := x.acct.Verify(t.Context(), x.old); err == nil {
			t.Fatalf("%s: the old password still matches", x.acct.User)
		}
	}
	unyoAs(t, viewer, 1, "password", "reveal", acct1, srv)
	// The PostgreSQL role, through the enrolled agent: its stored
	// verifier is the revealed password's.
	pgAcct := "db01/postgres/" + role
	pgPw := reveal(pgAcct)
	if v := roleVerifier(t, role); !scramMatches(v, pgPw) || scramMatches(v, old2) {
		t.Fatalf("role %s: verifier %.20s… does not match the revealed password (or still the old one)", role, v)
	}
	entries, err := c.Audit(t.Context(), client.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.Actor+" "+e.Action+" "+e.Target+" "+e.Result] = true
		if e.Action == "password.reveal" {
			seen["* "+e.Action+" "+e.Target+" "+e.Result] = true
		}
	}
	for _, want := range []string{
		"agent:web01 password.pending " + acct1 + " ok", "agent:web01 password.commit " + acct1 + " ok",
		"agent:db01 password.pending " + acct2 + " ok", "agent:db01 password.commit " + acct2 + " ok",
		"* password.reveal " + acct1 + " ok", "* password.reveal " + acct2 + " ok",
	} {
		if !seen[want] {
			t.Errorf("audit log: no %q", want)
		}
	}

	t.Run("a failed rotation keeps the old password and raises an incident", func(t *testing.T) {
		r := run("rotate-web01-fail", "ended-abnormal")
		if err := local1.Verify(t.Context(), pw1); err != nil {
			t.Fatalf("the password before the failed rotation: %v", err)
		}
		if got := reveal(acct1); got != pw1 {
			t.Fatal("the current password in the ledger changed")
		}
		b, _ := json.Marshal(r)
		if out := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">").Replace(string(b)); !strings.Contains(out, "old password restored") ||
			!strings.Contains(out, "rejected <secret>") {
			t.Errorf("run record: %s", out)
		}
		recs, err := c.Passwords(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			if rec.Account != acct1 {
				continue
			}
			if _, ok := rec.Slots[ledger.SlotPending]; ok || !strings.Contains(rec.LastAbort, "verify_command") {
				t.Errorf("record after the failure: %+v", rec)
			}
		}
		waitFor(t, "the job's incident", func() bool {
			incs, err := c.Incidents(t.Context(), client.ListOptions{Target: "rotate-web01-fail"})
			return err == nil && len(incs) > 0
		})
	})

	t.Run("vault requests not the agent's are refused", func(t *testing.T) {
		errs := make(chan error, 16)
		nc, err := nats.Connect(natsURL, nats.UserInfo("web01", web01Pass), nats.CustomInboxPrefix(bus.AgentInboxPrefix("web01")),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		key, err := os.ReadFile(filepath.Join(dir, "cluster", "secret.key"))
		if err != nil {
			matches, _ := filepath.Glob(filepath.Join(dir, "*", "secret.key"))
			if len(matches) != 1 {
				t.Fatalf("cluster secret key: %v (%v)", err, matches)
			}
			key, _ = os.ReadFile(matches[0])
		}
		pub, err := rotate.ClusterCurvePublic(key)
		if err != nil {
			t.Fatal(err)
		}
		seal := func(account string) rotate.VaultRequest {
			sealed, sender, err := rotate.SealFor(pub, account, "Forged-password-0123456789")
			if err != nil {
				t.Fatal(err)
			}
			return rotate.VaultRequest{Op: rotate.OpPending, Run: "forged", Jobnet: "rotate-web01", Job: "app", Attempt: 1,
				Account: account, Sealed: sealed, Sender: sender}
		}
		ask := func(req any) rotate.VaultReply {
			t.Helper()
			b, ok := req.([]byte)
			if !ok {
				b, _ = json.Marshal(req)
			}
			m, err := nc.Request(bus.AgentVaultSubject+".web01", b, 20*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var rep rotate.VaultReply
			if err := json.Unmarshal(m.Data, &rep); err != nil {
				t.Fatal(err)
			}
			return rep
		}
		otherHost := seal(acct2)
		otherHost.Jobnet = "rotate-db01"
		notItsJob := seal("web01/local/" + u2)
		notItsJob.Jobnet = "rotate-db01"
		garbage := seal(acct1)
		garbage.Sealed[len(garbage.Sealed)-1] ^= 1
		badOp := seal(acct1)
		badOp.Op = "reveal"
		for name, c := range map[string]struct {
			req  any
			want string
		}{
			"another host's account":        {otherHost, "want web01/local/USER"},
			"a job not on this agent":       {notItsJob, "does not run on agent web01"},
			"an account the job lacks":      {seal("web01/local/root"), "does not rotate"},
			"a jobnet not configured":       {func() rotate.VaultRequest { r := seal(acct1); r.Jobnet = "nope"; return r }(), "not configured"},
			"a password that does not open": {garbage, "does not open"},
			"an unknown operation":          {badOp, "want pending, commit or abort"},
			"an oversized request":          {[]byte(`{"op":"pending","reason":"` + strings.Repeat("x", rotate.MaxVaultRequest) + `"}`), "more than"},
		} {
			if rep := ask(c.req); rep.OK || !strings.Contains(rep.Error, c.want) {
				t.Errorf("%s: %+v, want a refusal with %q", name, rep, c.want)
			}
		}
		if got := reveal(acct1); got != pw1 {
			t.Error("a refused request changed the current password")
		}
		if got := reveal(acct2); got != pw2 {
			t.Error("a refused request changed db01's password")
		}
		out, errOut, code := testutil.RunEnv(t, []string{"UNYO_TOKEN=" + se}, "password", "reveal", acct2, "--slot", "pending", srv)
		if code == 0 {
			t.Errorf("db01 has a pending password after refused requests: %s%s", out, errOut)
		}
		// Another agent's subject: NATS denies it.
		if err := nc.Publish(bus.AgentVaultSubject+".db01", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errs:
			if !strings.Contains(err.Error(), `Permissions Violation for Publish to "`+bus.AgentVaultSubject+`.db01"`) {
				t.Errorf("async error %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("publishing on db01's vault subject was not denied")
		}
		entries, err := c.Audit(t.Context(), client.AuditQuery{Actor: "agent:web01", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		denied := 0
		for _, e := range entries {
			if e.Result == "denied" && strings.HasPrefix(e.Action, "password.") {
				denied++
			}
		}
		if denied < 7 {
			t.Errorf("%d denied vault requests in the audit log, want at least 7", denied)
		}
	})

	var pw3 string
	t.Run("an agent dead mid-way leaves the password revealable as pending", func(t *testing.T) {
		unyo(t, 0, "jobnet", "run", "rotate-web01-die", srv)
		// The new password is set and the check runs: the agent dies.
		waitFor(t, "the password set", func() bool { _, err := os.Stat(filepath.Join(dir, "set")); return err == nil })
		_ = web01.cmd.Process.Kill()
		pw3 = strings.TrimSpace(unyoAs(t, se, 0, "password", "reveal", acct1, "--slot", "pending", srv))
		if len(pw3) != 24 || pw3 == pw1 {
			t.Fatalf("pending: %d characters", len(pw3))
		}
		if err := local1.Verify(t.Context(), pw3); err != nil {
			t.Fatalf("the pending password is not the account's: %v", err)
		}
		if got := reveal(acct1); got != pw1 {
			t.Error("the current password changed without a commit")
		}
	})

	// No file of the node (ledger, Raft log, JetStream, spool) and no
	// agent log holds a password in clear.
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for _, pw := range []string{pw1, pw2, pw3, pgPw} {
			if pw != "" && strings.Contains(string(b), pw) {
				t.Errorf("%s holds a password in clear", path)
			}
		}
		return nil
	})
	for _, l := range []string{web01.log.String(), db01.log.String(), p.Log()} {
		if strings.Contains(l, pw1) || strings.Contains(l, pw2) || (pw3 != "" && strings.Contains(l, pw3)) {
			t.Error("a log holds a password in clear")
		}
	}
}

// pgRole makes a login role for the test (dropped after) with password pw.
func pgRole(t *testing.T, pw string) string {
	t.Helper()
	ctx := t.Context()
	c, err := pgx.Connect(ctx, pgtest.AdminURL())
	if err != nil {
		t.Fatalf("PostgreSQL: %v", err)
	}
	defer c.Close(context.Background())
	role := fmt.Sprintf("unyo_rota_%d", time.Now().UnixNano()%1e7)
	if _, err := c.Exec(ctx, "CREATE ROLE "+role+" LOGIN PASSWORD '"+pw+"'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, err := pgx.Connect(context.Background(), pgtest.AdminURL()); err == nil {
			_, _ = c.Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
			c.Close(context.Background())
		}
	})
	return role
}

// roleVerifier is role's stored password (pg_authid.rolpassword).
func roleVerifier(t *testing.T, role string) string {
	t.Helper()
	c, err := pgx.Connect(t.Context(), pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var v string
	if err := c.QueryRow(t.Context(), "SELECT coalesce(rolpassword, '') FROM pg_authid WHERE rolname = $1", role).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// scramMatches reports whether the SCRAM-SHA-256 verifier v
// (SCRAM-SHA-256$ITER:SALT$STOREDKEY:SERVERKEY) was made from pw.
func scramMatches(v, pw string) bool {
	var iter int
	head, keys, ok := strings.Cut(strings.TrimPrefix(v, "SCRAM-SHA-256$"), "$")
	if !ok {
		return false
	}
	iterS, salt64, ok := strings.Cut(head, ":")
	if _, err := fmt.Sscan(iterS, &iter); err != nil || !ok {
		return false
	}
	stored64, _, ok := strings.Cut(keys, ":")
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil || !ok {
		return false
	}
	salted, err := pbkdf2.Key(sha256.New, pw, salt, iter, 32)
	if err != nil {
		return false
	}
	h := hmac.New(sha256.New, salted)
	h.Write([]byte("Client Key"))
	stored := sha256.Sum256(h.Sum(nil))
	return base64.StdEncoding.EncodeToString(stored[:]) == stored64
}
