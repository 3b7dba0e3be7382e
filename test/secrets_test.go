package test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger/postgres/pgtest"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestSecretsNeverLeave plants a distinct random sentinel in every
// secret-bearing field of a configuration (the NATS URL's password, the
// ledger URL's password, the SMTP password given by ${env:}, a webhook URL's
// token, a contact webhook's path token, SNMP communities and v3 pass
// phrases of polling and trap users, one given by file:, a service URL's
// user:password and ?token=, service DSN passwords), runs the real binary
// with it against real peers (NATS with a password, PostgreSQL), makes the
// service checks fail (their errors quote the URL and DSN) and the webhook
// notifications fail (net/http quotes the URL, the receiver echoes its
// path), and checks that no sentinel appears in `unyo config check
// --print`, the process's log, any incident or API answer, or any byte of
// the Raft directory.
func TestSecretsNeverLeave(t *testing.T) {
	var sentinels []string
	s := func(what string) string {
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		v := "S3nt" + what + hex.EncodeToString(b)
		sentinels = append(sentinels, v)
		return v
	}
	// The node's first admin token is a secret too.
	sentinels = append(sentinels, testutil.AdminToken)
	dir := t.TempDir()
	addr := testutil.FreePort(t)
	dead := deadPort(t)
	_, deadNum, _ := net.SplitHostPort(dead)

	// NATS that wants a password.
	natsPW := s("nats")
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), Username: "unyo", Password: natsPW, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	natsURL := fmt.Sprintf("nats://unyo:%s@%s", natsPW, ns.Addr())

	// PostgreSQL (trust auth: the password is carried, not checked).
	ledgerURL, err := url.Parse(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	ledgerURL.User = url.UserPassword(ledgerURL.User.Username(), s("ledger"))

	// A webhook receiver that fails and echoes what it was sent to.
	var hookHits atomic.Int64
	hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hookHits.Add(1)
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprintf(w, "no hook %s (path %s)", r.URL, r.URL.Path)
	}))
	defer hooks.Close()

	// Given to the processes, not set in this one's environment (which
	// t.Setenv would do, keeping the test from running in parallel).
	smtpEnv := "UNYO_E2E_SMTP_PASSWORD=" + s("smtp")
	if err := os.WriteFile(filepath.Join(dir, "trap-priv.pass"), []byte(s("trappriv")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`node:
  name: secrets
  data_dir: %[1]q
http:
  listen: %[2]q
cluster:
  bind: 127.0.0.1:0
nats:
  url: %[3]q
ledger:
  driver: postgres
  postgres:
    url: %[4]q
log:
  level: debug
alerting:
  smtp: {host: 127.0.0.1, port: %[5]s, from: unyo@example.com, username: unyo, password: '${env:UNYO_E2E_SMTP_PASSWORD}', tls: none, timeout: 2s}
  webhook: {url: "http://%[6]s/default?token=%[7]s&x=1", timeout: 2s}
  notify: {retry_backoff: 1s, max_backoff: 2s, max_attempts: 2, fail_after: 1}
  storm: {group_wait: 200ms}
  contacts:
    - {name: desk, mail: [desk@example.com], webhook: %[8]q}
    - {name: night, mail: [night@example.com]}
  roles:
    - {name: operator, contacts: [desk, night]}
  policies:
    - name: page
      steps:
        - {roles: [operator], channels: [webhook, mail], wait: 1h}
monitor:
  traps:
    listen: 127.0.0.1:0
    communities: [%[9]s]
    users:
      - {name: trapper, auth_protocol: SHA, auth_passphrase: %[10]s, priv_protocol: AES, priv_passphrase: file:trap-priv.pass}
  targets:
    - name: web1
      address: 127.0.0.1
      services:
        - {type: http, name: www, url: "http://mon:%[11]s@%[6]s/health?token=%[12]s", interval: 1s, timeout: 500ms, down_after: 1}
        - {type: postgres, name: db, dsn: "host=127.0.0.1 port=%[13]s user=u password=%[14]s dbname=x sslmode=disable", interval: 1s, timeout: 500ms, down_after: 1}
        - {type: postgres, name: db-url, dsn: "postgres://u:%[15]s@%[6]s/x?sslmode=disable", interval: 1s, timeout: 500ms, down_after: 1}
    - name: sw1
      address: 127.0.0.1
      snmp: {version: v3, user: unyo, auth_password: %[16]s, priv_password: %[17]s, port: %[13]s, interval: 1s, timeout: 300ms, retries: 0}
    - name: sw2
      address: 127.0.0.1
      snmp: {community: %[18]s, port: %[13]s, interval: 1s, timeout: 300ms, retries: 0}
`, dir, addr, natsURL, ledgerURL.String(), deadNum, dead, s("hook"),
		hooks.URL+"/services/T0/B0/"+s("contact")+"?sig="+s("sig"), s("comm"), s("trapauth"),
		s("svcpw"), s("svctoken"), deadNum, s("dsnpw"), s("dsnurl"), s("snmpauth"), s("snmppriv"), s("snmpcomm"))
	path := filepath.Join(dir, "unyo.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	leaks := func(where, text string) {
		t.Helper()
		for _, v := range sentinels {
			if strings.Contains(text, v) {
				t.Errorf("%s shows the sentinel %s", where, v)
			}
		}
	}

	out, errOut, code := testutil.RunEnv(t, []string{"UNYO_TOKEN=" + testutil.AdminToken, smtpEnv}, "config", "check", "--print", path)
	if code != 0 {
		t.Fatalf("config check: exit %d\n%s%s", code, out, errOut)
	}
	leaks("config check --print", out+errOut)
	if !strings.Contains(out, "password: <secret>") || !strings.Contains(out, "token=xxxxx") {
		t.Errorf("config check --print does not show the secrets masked:\n%s", out)
	}

	p := testutil.StartEnv(t, path, addr, []string{"UNYO_BOOTSTRAP_TOKEN=" + testutil.AdminToken, smtpEnv})
	p.WaitReady(60 * time.Second)
	api := func(route string) string {
		t.Helper()
		resp, err := testutil.Get(p.URL + route)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", route, resp.StatusCode, b)
		}
		return string(b)
	}
	incidents := func() []incident.Incident {
		var out struct {
			Incidents []incident.Incident `json:"incidents"`
		}
		if err := json.Unmarshal([]byte(api("/api/v1/incidents?limit=500")), &out); err != nil {
			t.Fatal(err)
		}
		return out.Incidents
	}
	// The failures this test is about have happened: each service check
	// opened an incident whose message quotes its URL or DSN (redacted),
	// and webhook notifications failed at both receivers.
	waitFor(t, "service incidents and failed webhook notifications", func() bool {
		checks := map[string]bool{}
		for _, inc := range incidents() {
			checks[inc.Check] = true
		}
		if !checks["www"] || !checks["db"] || !checks["db-url"] || hookHits.Load() == 0 {
			return false
		}
		log := p.Log()
		return strings.Contains(log, "notification failed") && strings.Contains(log, "/default?token=xxxxx") &&
			strings.Contains(log, "HTTP 502")
	})
	var all strings.Builder
	redactedURL := false
	for _, inc := range incidents() {
		detail := api(fmt.Sprintf("/api/v1/incidents/%d", inc.ID))
		all.WriteString(detail)
		if inc.Check == "www" && strings.Contains(detail, "token=xxxxx") && strings.Contains(detail, "mon:xxxxx@") {
			redactedURL = true
		}
	}
	if !redactedURL {
		t.Errorf("the www incident does not quote its URL (redacted); the test proves nothing:\n%s", all.String())
	}
	leaks("the incidents", all.String())
	for _, route := range []string{"/api/v1/incidents", "/api/v1/targets", "/api/v1/targets/web1", "/api/v1/targets/sw1", "/api/v1/oncall", "/metrics"} {
		leaks("GET "+route, api(route))
	}

	p.Stop()
	leaks("the log", p.Log())
	raftDir := filepath.Join(dir, "raft")
	files, sealed := 0, false
	err = filepath.WalkDir(raftDir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		// The WAL's segment files are preallocated (64 MB): what follows
		// the last entry is zeros, which hold no sentinel and no base64
		// run, so it is left out (scanning it took over a minute with -race).
		data = bytes.TrimRight(data, "\x00")
		// Raft entries are JSON: the config's bytes are in base64.
		views := append([][]byte{data}, base64Runs(data)...)
		for _, view := range views {
			sealed = sealed || bytes.Contains(view, []byte("enc:v1:"))
			for _, v := range sentinels {
				if bytes.Contains(view, []byte(v)) {
					t.Errorf("%s holds the sentinel %s", p, v)
				}
			}
		}
		return nil
	})
	if err != nil || files < 2 || !sealed {
		t.Errorf("raft directory: %d files, sealed config found: %v, %v", files, sealed, err)
	}
}

// deadPort returns a loopback host:port nothing listens on.
func deadPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

var base64RunRE = regexp.MustCompile(`[A-Za-z0-9+/]{24,}={0,2}`)

// base64Runs returns the decoding of every run of standard base64 in data
// (how encoding/json writes []byte).
func base64Runs(data []byte) [][]byte {
	var out [][]byte
	for _, run := range base64RunRE.FindAll(data, -1) {
		if len(run)%4 != 0 {
			run = run[:len(run)/4*4]
		}
		if b, err := base64.StdEncoding.DecodeString(string(run)); err == nil {
			out = append(out, b)
		}
	}
	return out
}
