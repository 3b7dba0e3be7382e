package test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the node's SQLite ledger, edited behind its back

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/node"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestTrust replays, against the real binary (one node on loopback, the
// embedded SQLite ledger), the ways in that issue 11 found open: each is
// refused, the legitimate path still works, and the audit log records who
// did what and detects an entry edited in the database.
func TestTrust(t *testing.T) {
	t.Parallel()
	port := testutil.TCPPort(t) // a TCP service for the targets' checks
	dir := t.TempDir()
	addr := testutil.FreePort(t)
	cfgWith := func(targets ...string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "node:\n  name: trust\n  data_dir: %q\nhttp:\n  listen: %q\ncluster:\n  bind: 127.0.0.1:0\nlog:\n  level: debug\nmonitor:\n  targets:\n", dir, addr)
		for _, name := range targets {
			fmt.Fprintf(&b, "    - {name: %s, address: 127.0.0.1, services: [{type: tcp, port: %d, interval: 1s}]}\n", name, port)
		}
		return b.String()
	}
	p := serveYAML(t, dir, addr, cfgWith("web01"))
	base, srv := p.URL, "--server="+p.URL

	// call sends one request with token ("" : anonymous) and returns the
	// status, the X-Unyo-Denied header and the body.
	call := func(t *testing.T, method, path, token, contentType, body string) (int, string, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get(auth.DeniedHeader), string(b)
	}
	expect := func(t *testing.T, what string, status int, want int, denied, body string) {
		t.Helper()
		if status != want {
			t.Errorf("%s: HTTP %d, want %d: %s", what, status, want, body)
		}
		if (want == http.StatusUnauthorized || want == http.StatusForbidden) && denied == "" {
			t.Errorf("%s: HTTP %d not from the guard (no %s header): %s", what, status, auth.DeniedHeader, body)
		}
	}
	targets := func(t *testing.T) []string {
		t.Helper()
		var ts []struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal([]byte(unyo(t, 0, "target", "list", "-o", "json", srv)), &ts); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, x := range ts {
			names = append(names, x.Name)
		}
		slices.Sort(names)
		return names
	}

	// Every mutating call made with a credential is audited; audits lists
	// those this test makes (anonymous refusals are only counted: nobody
	// may fill the audit log without a credential).
	type auditWant struct{ actor, action, result, target string }
	var audits []auditWant
	audited := func(actor string, a auth.Action, result, target string) {
		audits = append(audits, auditWant{actor, string(a), result, target})
	}

	operator := addUser(t, base, "op-kimura", "operator")
	audited("admin", auth.ActionUserWrite, "ok", "POST /api/v1/users")
	audited("admin", auth.ActionSelf, "ok", "POST /api/v1/tokens")
	viewer := addUser(t, base, "view-ito", "viewer")
	audited("admin", auth.ActionUserWrite, "ok", "POST /api/v1/users")
	audited("admin", auth.ActionSelf, "ok", "POST /api/v1/tokens")
	opsSE := addUser(t, base, "se-mori", "ops-se")
	audited("admin", auth.ActionUserWrite, "ok", "POST /api/v1/users")
	audited("admin", auth.ActionSelf, "ok", "POST /api/v1/tokens")

	t.Run("forged ack", func(t *testing.T) {
		postEvent(t, base, map[string]any{"target": "db01", "check": "ping", "severity": "critical", "message": "no reply"})
		audited("admin", auth.ActionEventSend, "ok", "POST /api/v1/events")
		var inc incident.Incident
		waitFor(t, "the incident of db01", func() bool {
			var err error
			inc, err = findIncident(unyo(t, 0, "incident", "list", srv, "-o", "json", "--target", "db01"))
			return err == nil
		})
		path := fmt.Sprintf("/api/v1/incidents/%d/ack", inc.ID)
		forged := `{"by":"site-manager-sato"}`

		st, denied, body := call(t, "POST", path, "", "application/json", forged)
		expect(t, "anonymous forged ack", st, http.StatusUnauthorized, denied, body)
		st, denied, body = call(t, "POST", path, operator, "application/json", forged)
		expect(t, "forged ack with an operator token", st, http.StatusBadRequest, denied, body)
		var e struct{ Error, Field string }
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Field != "by" {
			t.Errorf("forged ack: body %s, want an error naming field by", body)
		}
		audited("op-kimura", auth.ActionIncidentAck, "error Bad Request", path)
		d := incidentDetail(t, srv, inc.ID)
		if d.Incident.State != incident.Open || d.Incident.AckedBy != "" {
			t.Fatalf("after the forged acks: %+v", d.Incident)
		}

		// The operator's own acknowledgement is recorded in their name.
		st, denied, body = call(t, "POST", path, operator, "application/json", `{"comment":"on it"}`)
		expect(t, "ack by an operator", st, http.StatusOK, denied, body)
		audited("op-kimura", auth.ActionIncidentAck, "ok", path)
		d = incidentDetail(t, srv, inc.ID)
		if d.Incident.State != incident.Acknowledged || d.Incident.AckedBy != "op-kimura" {
			t.Errorf("after the operator's ack: %+v", d.Incident)
		}
		acks := 0
		for _, e := range d.Timeline {
			if e.Kind == incident.KindAcknowledged {
				acks++
				if e.By != "op-kimura" || e.Comment != "on it" {
					t.Errorf("acknowledged entry %+v, want by op-kimura", e)
				}
			}
			if strings.Contains(e.By+e.Comment, "sato") {
				t.Errorf("timeline entry in the forger's name: %+v", e)
			}
		}
		if acks != 1 {
			t.Errorf("%d acknowledged entries, want 1: %+v", acks, d.Timeline)
		}
	})

	t.Run("year-long maintenance window", func(t *testing.T) {
		windows := func() []console.MaintenanceView {
			var ms []console.MaintenanceView
			if err := json.Unmarshal([]byte(unyo(t, 0, "maintenance", "list", "--all", srv, "-o", "json")), &ms); err != nil {
				t.Fatal(err)
			}
			return ms
		}
		year := `{"name":"quiet","scope":"target","match":"*","duration":"8760h"}`
		st, denied, body := call(t, "POST", "/api/v1/maintenance", "", "application/json", year)
		expect(t, "anonymous year-long window", st, http.StatusUnauthorized, denied, body)
		st, denied, body = call(t, "POST", "/api/v1/maintenance", viewer, "application/json", year)
		expect(t, "year-long window with a viewer token", st, http.StatusForbidden, denied, body)
		audited("view-ito", auth.ActionMaintenanceWrite, "denied", "POST /api/v1/maintenance")
		st, denied, body = call(t, "POST", "/api/v1/maintenance", operator, "application/json", year)
		expect(t, "year-long window with an operator token", st, http.StatusForbidden, denied, body)
		audited("op-kimura", auth.ActionMaintenanceWrite, "denied", "POST /api/v1/maintenance")
		if ws := windows(); len(ws) != 0 {
			t.Fatalf("windows after refused adds: %+v", ws)
		}

		// An operations SE may: the window is theirs.
		var w console.MaintenanceView
		out := unyoAs(t, opsSE, 0, "maintenance", "add", srv, "--name", "db01 firmware", "--target", "db01", "--duration", "10m", "-o", "json")
		audited("se-mori", auth.ActionMaintenanceWrite, "ok", "POST /api/v1/maintenance")
		if err := json.Unmarshal([]byte(out), &w); err != nil {
			t.Fatalf("maintenance add: %v\n%s", err, out)
		}
		if w.CreatedBy != "se-mori" || w.Match != "db01" {
			t.Errorf("window %+v, want db01 by se-mori", w)
		}
		unyoAs(t, opsSE, 0, "maintenance", "end", itoa(w.ID), srv)
		audited("se-mori", auth.ActionMaintenanceWrite, "ok", fmt.Sprintf("POST /api/v1/maintenance/%d/end", w.ID))
		if ws := windows(); len(ws) != 1 || ws[0].ID != w.ID || ws[0].Active {
			t.Errorf("windows: %+v, want only se-mori's, ended", ws)
		}
	})

	t.Run("anonymous config apply", func(t *testing.T) {
		before := targets(t)
		if !slices.Equal(before, []string{"web01"}) {
			t.Fatalf("targets %v, want web01", before)
		}
		wipe := "monitor: {enabled: true}\n"
		st, denied, body := call(t, "POST", node.ConfigPath, "", "application/yaml", wipe)
		expect(t, "anonymous config apply", st, http.StatusUnauthorized, denied, body)
		st, denied, body = call(t, "POST", node.ConfigPath, operator, "application/yaml", wipe)
		expect(t, "config apply with an operator token", st, http.StatusForbidden, denied, body)
		audited("op-kimura", auth.ActionClusterConfig, "denied", "POST "+node.ConfigPath)
		if got := targets(t); !slices.Equal(got, before) {
			t.Fatalf("targets after refused config applies: %v, want %v", got, before)
		}

		// The admin's apply goes through.
		next := filepath.Join(t.TempDir(), "next.yaml")
		if err := os.WriteFile(next, []byte(cfgWith("web01", "web02")), 0o600); err != nil {
			t.Fatal(err)
		}
		unyo(t, 0, "config", "apply", next, srv)
		audited("admin", auth.ActionClusterConfig, "ok", "POST "+node.ConfigPath)
		waitFor(t, "web02 after the admin's config apply", func() bool { return slices.Equal(targets(t), []string{"web01", "web02"}) })
	})

	t.Run("raw forward", func(t *testing.T) {
		status := func() cluster.Status {
			resp, err := testutil.Get(base + "/v1/cluster/status")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var s cluster.Status
			if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("cluster status: %s, %v", resp.Status, err)
			}
			return s
		}
		assigned := func(s cluster.Status) int {
			n := 0
			for _, m := range s.Members {
				n += m.AssignedTargets
			}
			return n
		}
		waitFor(t, "both targets assigned", func() bool { s := status(); return s.Targets == 2 && assigned(s) == 2 })
		raw := `{"op":"apply","command":{"type":"targets.set","payload":{"targets":[]}}}`
		st, denied, body := call(t, "POST", cluster.ForwardPath, "", "application/json", raw)
		expect(t, "anonymous forward", st, http.StatusUnauthorized, denied, body)
		st, denied, body = call(t, "POST", cluster.ForwardPath, operator, "application/json", raw)
		expect(t, "forward with an operator token", st, http.StatusForbidden, denied, body)
		audited("op-kimura", auth.ActionClusterInternal, "denied", "POST "+cluster.ForwardPath)
		// Forwarding is for members: not even an admin may.
		st, denied, body = call(t, "POST", cluster.ForwardPath, testutil.AdminToken, "application/json", raw)
		expect(t, "forward with the admin token", st, http.StatusForbidden, denied, body)
		audited("admin", auth.ActionClusterInternal, "denied", "POST "+cluster.ForwardPath)
		if s := status(); s.Targets != 2 || s.Unassigned != 0 || assigned(s) != 2 {
			t.Errorf("after refused forwards: %d targets, %d unassigned, %d assigned, want 2, 0, 2", s.Targets, s.Unassigned, assigned(s))
		}
		if got := targets(t); !slices.Equal(got, []string{"web01", "web02"}) {
			t.Errorf("targets after refused forwards: %v", got)
		}
	})

	t.Run("users and tokens", func(t *testing.T) {
		const password = "correct horse battery staple"
		creds := filepath.Join(t.TempDir(), "credentials.json")
		asCreds := []string{"UNYO_CREDENTIALS=" + creds}

		out, errOut, code := runStdin(t, []string{"UNYO_TOKEN=" + testutil.AdminToken}, password+"\n",
			"user", "add", "nakamura", "--role", "operator", "--password-stdin", srv)
		if code != 0 || !strings.Contains(out, "user nakamura added (operator)") {
			t.Fatalf("user add --password-stdin: exit %d\n%s%s", code, out, errOut)
		}
		audited("admin", auth.ActionUserWrite, "ok", "POST /api/v1/users")

		// A wrong password: 401, and the audit has the denied login.
		out, errOut, code = runStdin(t, asCreds, "not the password\n", "login", "--user", "nakamura", "--password-stdin", srv)
		if code != 1 || !strings.Contains(errOut, "401") {
			t.Errorf("login with a wrong password: exit %d, want 1 and 401\n%s%s", code, out, errOut)
		}
		audited("nakamura", "login", "denied", "user nakamura")
		if _, err := os.Stat(creds); err == nil {
			t.Errorf("a failed login wrote %s", creds)
		}

		out, errOut, code = runStdin(t, asCreds, password+"\n", "login", "--user", "nakamura", "--password-stdin", srv)
		if code != 0 || !strings.Contains(out, "as nakamura (operator)") {
			t.Fatalf("login: exit %d\n%s%s", code, out, errOut)
		}
		audited("nakamura", "login", "ok", "user nakamura")
		fi, err := os.Stat(creds)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("credentials file mode %v, want 0600", fi.Mode().Perm())
		}
		data, _ := os.ReadFile(creds)
		if strings.Contains(string(data), password) || strings.Contains(string(data), "horse") {
			t.Errorf("the credentials file holds the password:\n%s", data)
		}
		if !strings.Contains(string(data), auth.TokenPrefix) || !strings.Contains(string(data), base) {
			t.Errorf("the credentials file holds no token for %s:\n%s", base, data)
		}
		if out := unyoEnv(t, asCreds, 0, "whoami", srv); !strings.HasPrefix(out, "nakamura (operator) by session") {
			t.Errorf("whoami after login: %q", out)
		}
		// Who is logged in (a token's use is recorded in the background).
		waitFor(t, "nakamura's session in unyo who", func() bool {
			var ss []auth.Session
			if err := json.Unmarshal([]byte(unyoEnv(t, asCreds, 0, "who", srv, "-o", "json")), &ss); err != nil {
				t.Fatal(err)
			}
			return slices.ContainsFunc(ss, func(s auth.Session) bool {
				return s.User == "nakamura" && s.Kind == auth.TokenSession && s.From == "127.0.0.1"
			})
		})
		if out := unyo(t, 0, "who", srv); !strings.Contains(out, "nakamura") {
			t.Errorf("who (table) lacks nakamura:\n%s", out)
		}

		// A token: its secret is printed once, never listed.
		out, errOut, code = testutil.RunEnv(t, asCreds, "token", "create", "--name", "ci-deploy", srv)
		if code != 0 {
			t.Fatalf("token create: exit %d\n%s%s", code, out, errOut)
		}
		audited("nakamura", auth.ActionSelf, "ok", "POST /api/v1/tokens")
		secret := strings.TrimSpace(out)
		if !strings.HasPrefix(secret, auth.TokenPrefix) || strings.Contains(errOut, secret) {
			t.Fatalf("token create: stdout %q, stderr %q: want the secret once, on stdout", out, errOut)
		}
		var toks []auth.Token
		listJSON := unyoEnv(t, asCreds, 0, "token", "list", srv, "-o", "json")
		if err := json.Unmarshal([]byte(listJSON), &toks); err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(toks, func(k auth.Token) bool { return k.Name == "ci-deploy" })
		if i < 0 || toks[i].Owner != "nakamura" || toks[i].Role != auth.RoleOperator {
			t.Fatalf("token list: %+v, want ci-deploy of nakamura (operator)", toks)
		}
		tokID := toks[i].ID
		for what, out := range map[string]string{
			"token list -o json":          listJSON,
			"token list":                  unyoEnv(t, asCreds, 0, "token", "list", srv),
			"token list --all (admin)":    unyo(t, 0, "token", "list", "--all", srv, "-o", "json"),
			"token list --all, table":     unyo(t, 0, "token", "list", "--all", srv),
			"the credentials file (mine)": string(data),
		} {
			if strings.Contains(out, secret) || strings.Contains(out, auth.HashSecret(secret)) {
				t.Errorf("%s shows the secret or its hash:\n%s", what, out)
			}
		}
		if out := unyoAs(t, secret, 0, "whoami", srv); !strings.HasPrefix(out, "nakamura (operator) by token "+tokID) {
			t.Errorf("whoami with the new token: %q", out)
		}
		// Revoked: refused at once.
		unyoEnv(t, asCreds, 0, "token", "revoke", tokID, srv)
		audited("nakamura", auth.ActionSelf, "ok", "POST /api/v1/tokens/"+tokID+"/revoke")
		st, denied, body := call(t, "GET", "/api/v1/whoami", secret, "", "")
		expect(t, "a revoked token", st, http.StatusUnauthorized, denied, body)
		if out, errOut, code := testutil.RunEnv(t, []string{"UNYO_TOKEN=" + secret}, "incident", "list", srv); code != 1 || !strings.Contains(errOut, "401") {
			t.Errorf("incident list with a revoked token: exit %d\n%s%s", code, out, errOut)
		}

		// An expired token: refused once its time is up.
		out, errOut, code = testutil.RunEnv(t, []string{"UNYO_TOKEN=" + operator}, "token", "create", "--name", "short", "--ttl", "2s", srv)
		short := strings.TrimSpace(out)
		if code != 0 || !strings.HasPrefix(short, auth.TokenPrefix) {
			t.Fatalf("token create --ttl 2s: exit %d\n%s%s", code, out, errOut)
		}
		audited("op-kimura", auth.ActionSelf, "ok", "POST /api/v1/tokens")
		if st, denied, body := call(t, "GET", "/api/v1/whoami", short, "", ""); st != http.StatusOK {
			t.Fatalf("a fresh 2s token: HTTP %d %s %s", st, denied, body)
		}
		waitFor(t, "the 2s token to expire", func() bool {
			st, _, _ := call(t, "GET", "/api/v1/whoami", short, "", "")
			return st == http.StatusUnauthorized
		})

		// A disabled user's token: refused at once.
		sakai := addUser(t, base, "sakai", "operator")
		audited("admin", auth.ActionUserWrite, "ok", "POST /api/v1/users")
		audited("admin", auth.ActionSelf, "ok", "POST /api/v1/tokens")
		unyoAs(t, sakai, 0, "incident", "list", srv)
		unyo(t, 0, "user", "disable", "sakai", srv)
		audited("admin", auth.ActionUserWrite, "ok", "POST /api/v1/users/sakai")
		st, denied, body = call(t, "GET", "/api/v1/incidents", sakai, "", "")
		expect(t, "a disabled user's token", st, http.StatusUnauthorized, denied, body)

		// A viewer cannot give itself an operator's token.
		out, errOut, code = testutil.RunEnv(t, []string{"UNYO_TOKEN=" + viewer}, "token", "create", "--name", "escalate", "--role", "operator", srv)
		if code != 1 || strings.Contains(out, auth.TokenPrefix) || !strings.Contains(errOut, "403") || !strings.Contains(errOut, "above") {
			t.Errorf("viewer's token create --role operator: exit %d, want 1, 403 and no secret\n%s%s", code, out, errOut)
		}
		audited("view-ito", auth.ActionSelf, "denied", "POST /api/v1/tokens")
		// Nor one in an operator's name.
		out, errOut, code = testutil.RunEnv(t, []string{"UNYO_TOKEN=" + viewer}, "token", "create", "--name", "escalate", "--owner", "op-kimura", srv)
		if code != 1 || strings.Contains(out, auth.TokenPrefix) || !strings.Contains(errOut, "403") {
			t.Errorf("viewer's token create --owner op-kimura: exit %d, want 1, 403 and no secret\n%s%s", code, out, errOut)
		}
		audited("view-ito", auth.ActionSelf, "denied", "POST /api/v1/tokens")
		if all := unyo(t, 0, "token", "list", "--all", srv, "-o", "json"); strings.Contains(all, "escalate") {
			t.Errorf("a token was made for the viewer's refused request:\n%s", all)
		}

		// Logging out ends the session.
		unyoEnv(t, asCreds, 0, "logout", srv)
		audited("nakamura", auth.ActionSelf, "ok", "POST /api/v1/logout")
		if out, errOut, code := testutil.RunEnv(t, asCreds, "whoami", srv); code == 0 {
			t.Errorf("whoami after logout: exit 0\n%s%s", out, errOut)
		}
	})

	t.Run("audit", func(t *testing.T) {
		var es []auth.AuditEntry
		if err := json.Unmarshal([]byte(unyo(t, 0, "audit", "list", srv, "-o", "json")), &es); err != nil {
			t.Fatal(err)
		}
		// Every expected entry, in order (other entries may come between:
		// the bootstrap, the CLI's own reads are not audited).
		j := 0
		for _, w := range audits {
			found := false
			for ; j < len(es); j++ {
				e := es[j]
				if e.Actor == w.actor && e.Action == w.action && e.Result == w.result && strings.Contains(e.Target, w.target) {
					found = true
					j++
					break
				}
			}
			if !found {
				t.Errorf("no audit entry %+v (in order)", w)
				j = 0
			}
		}
		for i, e := range es {
			if e.Seq != int64(i+1) {
				t.Errorf("audit entry %d has seq %d", i+1, e.Seq)
			}
			if e.Actor == "anonymous" || strings.Contains(e.Actor, "sato") {
				t.Errorf("audit entry %+v", e)
			}
			if e.From != "127.0.0.1" {
				t.Errorf("audit entry %d from %q, want 127.0.0.1", e.Seq, e.From)
			}
			if strings.Contains(e.Detail, "horse") {
				t.Errorf("audit entry %d holds the password: %+v", e.Seq, e)
			}
		}
		if t.Failed() {
			for _, e := range es {
				t.Logf("audit %d: %s %s %s %s %s", e.Seq, e.Actor, e.Action, e.Target, e.Result, e.Detail)
			}
		}
		if out := unyo(t, 0, "audit", "verify", srv); !strings.Contains(out, "audit log intact") {
			t.Errorf("audit verify: %q", out)
		}
		// Only site managers and admins read the audit log.
		if out, errOut, code := testutil.RunEnv(t, []string{"UNYO_TOKEN=" + operator}, "audit", "list", srv); code != 1 || !strings.Contains(errOut, "403") {
			t.Errorf("audit list as an operator: exit %d\n%s%s", code, out, errOut)
		}

		// Edit entry 2 in the database while the node is down.
		p.Stop()
		db, err := sql.Open("sqlite", filepath.Join(dir, "ledger.db"))
		if err != nil {
			t.Fatal(err)
		}
		res, err := db.Exec(`UPDATE audit SET actor = 'mallory' WHERE seq = 2`)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			t.Fatalf("UPDATE audit: %d rows", n)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		p = testutil.Serve(t, p.Config, addr)
		out, errOut, code := testutil.Run(t, "audit", "verify", srv)
		if code != 1 || !strings.Contains(errOut, "broken at entry 2") {
			t.Errorf("audit verify after the edit: exit %d, want 1 naming entry 2\nstdout: %s\nstderr: %s", code, out, errOut)
		}
		if err := json.Unmarshal([]byte(unyo(t, 0, "audit", "list", "--limit", "2", srv, "-o", "json")), &es); err != nil || len(es) != 2 || es[1].Actor != "mallory" {
			t.Errorf("audit list after the edit: %+v, %v: want entry 2 by mallory", es, err)
		}
	})
}

// TestBootstrapAdmin starts a node with no UNYO_BOOTSTRAP_TOKEN: it makes
// the first admin and writes its token to <data_dir>/admin.token (0600),
// which the CLI takes from UNYO_TOKEN_FILE; the token is never logged, and
// a second start makes no other admin.
func TestBootstrapAdmin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg, addr := writeConfig(t, dir, "")
	p := testutil.StartEnv(t, cfg, addr, nil)
	p.WaitReady(60 * time.Second)
	srv := "--server=" + p.URL
	file := filepath.Join(dir, "admin.token")
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", file, fi.Mode().Perm())
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(b))
	if err := auth.CheckSecret(tok, auth.TokenPrefix); err != nil {
		t.Fatalf("%s holds %q: %v", file, tok, err)
	}
	if tok == testutil.AdminToken {
		t.Fatal("the node took the test binary's bootstrap token")
	}
	withFile := []string{"UNYO_TOKEN_FILE=" + file}
	unyoEnv(t, withFile, 0, "incident", "list", srv)
	if out := unyoEnv(t, withFile, 0, "whoami", srv); !strings.HasPrefix(out, "admin (admin) by token") {
		t.Errorf("whoami with the admin token file: %q", out)
	}
	// Nothing without it.
	if out, errOut, code := testutil.RunEnv(t, nil, "incident", "list", srv); code != 1 || !strings.Contains(errOut, "401") {
		t.Errorf("incident list without a token: exit %d\n%s%s", code, out, errOut)
	}
	log1 := p.Log()
	if strings.Contains(log1, tok) || strings.Contains(log1, strings.TrimPrefix(tok, auth.TokenPrefix)) {
		t.Errorf("the admin token is in the node's log")
	}
	if !strings.Contains(log1, file) {
		t.Errorf("the log does not say where the admin token is (%s)", file)
	}
	p.Stop()

	p = testutil.StartEnv(t, cfg, addr, nil)
	p.WaitReady(60 * time.Second)
	if b2, err := os.ReadFile(file); err != nil || string(b2) != string(b) {
		t.Errorf("admin.token after a second start: %q, %v; want it unchanged", b2, err)
	}
	var us []auth.User
	if err := json.Unmarshal([]byte(unyoEnv(t, withFile, 0, "user", "list", srv, "-o", "json")), &us); err != nil {
		t.Fatal(err)
	}
	if len(us) != 1 || us[0].Name != "admin" || us[0].Role != auth.RoleAdmin {
		t.Errorf("users after a second start: %+v, want the one admin", us)
	}
	if strings.Contains(p.Log(), "no admin existed") || strings.Contains(p.Log(), tok) {
		t.Errorf("the second start made an admin or logged the token:\n%s", p.Log())
	}
}

// incidentDetail is `unyo incident show ID -o json` as the admin.
func incidentDetail(t *testing.T, srv string, id int64) console.IncidentDetail {
	t.Helper()
	var d console.IncidentDetail
	out := unyo(t, 0, "incident", "show", itoa(id), srv, "-o", "json")
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("incident show -o json: %v\n%s", err, out)
	}
	return d
}

// unyoEnv is unyo with env (and no token unless env gives one).
func unyoEnv(t *testing.T, env []string, want int, args ...string) string {
	t.Helper()
	out, errOut, code := testutil.RunEnv(t, env, args...)
	if code != want {
		t.Fatalf("unyo %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out
}

// runStdin runs the CLI with env (no token unless env gives one, the
// credentials file in a temporary directory unless env names one) and
// stdin as its standard input.
func runStdin(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(testutil.Binary(t), args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "UNYO_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "UNYO_CREDENTIALS="+filepath.Join(t.TempDir(), "credentials.json"))
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}
