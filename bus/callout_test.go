package bus

import (
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/unyo-ops/unyo/internal/natstest"
)

// testDirectory is an agent registry in memory: NKey → agent.
type testDirectory struct {
	mu     sync.Mutex
	agents map[string]testAgent
}

type testAgent struct {
	name     string
	tags     []string
	disabled bool
}

func (d *testDirectory) AgentByNKey(nkey string) (string, []string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.agents[nkey]
	if !ok || a.disabled {
		return "", nil, false
	}
	return a.name, a.tags, true
}

// newAgentKey makes an agent's NKey and writes its seed to a file, as
// `unyo agent enroll` does.
func newAgentKey(t *testing.T) (pub string, opt nats.Option) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ = kp.PublicKey()
	seed, _ := kp.Seed()
	f := filepath.Join(t.TempDir(), "nkey.seed")
	if err := os.WriteFile(f, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	opt, err = nats.NkeyOptionFromSeed(f)
	if err != nil {
		t.Fatal(err)
	}
	return pub, opt
}

// TestAuthCalloutExternal: a real nats-server (≥ 2.10) asks the node
// about every client but the nodes' user; the node lets in only the NKey
// of an enabled agent of its directory, with that agent's permissions and
// nothing more.
func TestAuthCalloutExternal(t *testing.T) {
	issuer, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	issuerPub, _ := issuer.PublicKey()
	nonceKP, _ := nkeys.CreateUser()
	nonceKey, _ := nonceKP.PublicKey()
	const nodePass = "node-password-0123456789abcdef"
	srv := natstest.Start(t, natstest.CalloutConf(issuerPub, nodePass, nonceKey))
	hostPort := strings.TrimPrefix(srv.URL, "nats://")

	web01, web01Opt := newAgentKey(t)
	db01, db01Opt := newAgentKey(t)
	_, strangerOpt := newAgentKey(t)
	dir := &testDirectory{agents: map[string]testAgent{
		web01: {name: "web01", tags: []string{"linux"}},
		db01:  {name: "db01", disabled: true},
	}}
	ctx := t.Context()
	b, err := Open(ctx, Options{URL: "nats://unyo:" + nodePass + "@" + hostPort, Name: "node1", Directory: dir,
		Callout: &CalloutOptions{Issuer: issuer, Account: "UNYO"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	// The node's own user keeps its credentials and every right.
	if err := b.Publish(ctx, testEvent("node-works")); err != nil {
		t.Fatal(err)
	}
	for _, sc := range []jetstream.StreamConfig{
		{Name: jobTaskStream, Subjects: []string{jobTaskSubject + ".>"}, Retention: jetstream.WorkQueuePolicy},
		{Name: "UNYO_JOBRESULTS", Subjects: []string{jobResultSubject + ".>"}, Retention: jetstream.WorkQueuePolicy},
	} {
		if _, err := b.JetStream().CreateOrUpdateStream(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("another account's user keeps its own credentials", func(t *testing.T) {
		_, before := b.CalloutCounts()
		nc, err := nats.Connect(srv.URL, nats.UserInfo("other", "other-password-0123456789"), nats.MaxReconnects(0))
		if err != nil {
			t.Fatalf("a user of another account (not in allowed_accounts): %v", err)
		}
		// It is in its own account: what it publishes never reaches the
		// nodes' account.
		sub, err := b.Conn().SubscribeSync("unyo.job.result.web01")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Conn().Flush(); err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish("unyo.job.result.web01", []byte("{}")); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		if m, err := sub.NextMsg(time.Second); err == nil {
			t.Errorf("a user of another account reached the nodes' account: %q", m.Data)
		}
		_ = sub.Unsubscribe()
		nc.Close()
		if _, after := b.CalloutCounts(); after != before {
			t.Errorf("the node was asked about another account's user")
		}
	})

	t.Run("refused", func(t *testing.T) {
		_, before := b.CalloutCounts()
		for name, opts := range map[string][]nats.Option{
			"an NKey no agent holds":                {strangerOpt},
			"a disabled agent":                      {db01Opt},
			"anonymous":                             nil,
			"an agent's name and a password":        {nats.UserInfo("web01", "web01-password-0123456789")},
			"the nodes' user with a wrong password": {nats.UserInfo("unyo", nodePass+"x")},
		} {
			if _, err := connectAgent(t, srv.URL, "web01", opts...); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
				t.Errorf("%s: connect err = %v, want an authorization violation", name, err)
			}
		}
		// Each was asked about (the wrong password of an auth user too:
		// the server calls out for it), and refused.
		if _, after := b.CalloutCounts(); after-before < 4 {
			t.Errorf("the node refused %d connections, want at least 4", after-before)
		}
	})

	a, err := connectAgent(t, srv.URL, "web01", web01Opt)
	if err != nil {
		t.Fatalf("enrolled agent: %v", err)
	}
	if granted, _ := b.CalloutCounts(); granted < 1 {
		t.Errorf("granted %d, want the agent's connection counted", granted)
	}

	t.Run("its own subjects", func(t *testing.T) {
		checkOwnJobSubjects(t, ctx, b, a, func() {
			if _, err := a.nc.Subscribe(AgentOpSubject+".web01", func(m *nats.Msg) { _ = m.Respond([]byte("done")) }); err != nil {
				t.Fatal(err)
			}
		})
		if resp, err := b.Conn().Request(AgentOpSubject+".web01", []byte("op"), 10*time.Second); err != nil || string(resp.Data) != "done" {
			t.Fatalf("operation request: %v", err)
		}
		if err := a.nc.Publish(AgentBeatSubject+".web01", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		a.noViolation(t)
	})

	t.Run("nothing else", func(t *testing.T) {
		for _, subj := range []string{"unyo.job.task.agent.web02", "unyo.job.task.>", "_INBOX.>", AgentInboxPrefix("web02") + ".>",
			"unyo.job.kill.agent.web02", "unyo.event.>", "unyo.job.direct.agent.web02.take", AgentOpSubject + ".web02",
			AgentTagsSubject + ".web02", AuthCalloutSubject, "$SYS.>", ">"} {
			if _, err := a.nc.SubscribeSync(subj); err != nil {
				t.Fatal(err)
			}
			a.violation(t, "subscription", subj)
		}
		for _, subj := range []string{"unyo.job.task.agent.web01", "unyo.event.x", "$JS.API.STREAM.DELETE." + jobTaskStream,
			"unyo.job.result.web02", "unyo.job.heartbeat.web02", AgentBeatSubject + ".web02", "unyo.agent.report.web02",
			AuthCalloutSubject, "unyo.job.direct.agent.web01.take"} {
			if err := a.nc.Publish(subj, []byte(`{"run":"forged"}`)); err != nil {
				t.Fatal(err)
			}
			a.violation(t, "publish", subj)
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := a.js.CreateOrUpdateConsumer(cctx, jobTaskStream, consumerCfg("agent-web02", "unyo.job.task.agent.web02"))
		cancel()
		if err == nil {
			t.Error("the agent made another agent's consumer")
		}
		a.violation(t, "publish", "$JS.API.CONSUMER.CREATE."+jobTaskStream+".agent-web02.unyo.job.task.agent.web02")
	})

	t.Run("disabled, refused at its next connection", func(t *testing.T) {
		dir.mu.Lock()
		w := dir.agents[web01]
		w.disabled = true
		dir.agents[web01] = w
		dir.mu.Unlock()
		if _, err := connectAgent(t, srv.URL, "web01", web01Opt); err == nil {
			t.Error("a disabled agent connected")
		}
	})
}

// TestCalloutAnswer: the answer to a request the server signed, checked
// as the server checks it: the agent's own permissions, the account, the
// expiry; refusals carry no detail.
func TestCalloutAnswer(t *testing.T) {
	issuer, _ := nkeys.CreateAccount()
	issuerPub, _ := issuer.PublicKey()
	serverKP, _ := nkeys.CreateServer()
	agentKP, _ := nkeys.CreateUser()
	agentPub, _ := agentKP.PublicKey()
	otherKP, _ := nkeys.CreateUser()
	dir := &testDirectory{agents: map[string]testAgent{agentPub: {name: "web01", tags: []string{"linux", "bad.tag"}}}}
	c, err := newCallout(CalloutOptions{Issuer: issuer, Account: "UNYO", TTL: time.Hour}, dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	c.now = func() time.Time { return now }

	request := func(mod func(*jwt.AuthorizationRequest)) (userNkey string, data []byte) {
		ukp, _ := nkeys.CreateUser()
		userNkey, _ = ukp.PublicKey()
		spub, _ := serverKP.PublicKey()
		rc := jwt.NewAuthorizationRequestClaims(spub)
		rc.Audience = "nats-authorization-request"
		rc.UserNkey = userNkey
		rc.Server = jwt.ServerID{Name: "ext1", ID: "NSERVERID"}
		nonce := "nonce-of-this-connection"
		sig, _ := agentKP.Sign([]byte(nonce))
		rc.ClientInformation = jwt.ClientInformation{Host: "127.0.0.1", Nonce: nonce}
		rc.ConnectOptions = jwt.ConnectOptions{Nkey: agentPub, SignedNonce: base64.RawURLEncoding.EncodeToString(sig)}
		if mod != nil {
			mod(&rc.AuthorizationRequest)
		}
		s, err := rc.Encode(serverKP)
		if err != nil {
			t.Fatal(err)
		}
		return userNkey, []byte(s)
	}
	decode := func(userNkey string, out []byte) *jwt.AuthorizationResponseClaims {
		t.Helper()
		rc, err := jwt.DecodeAuthorizationResponseClaims(string(out))
		if err != nil {
			t.Fatal(err)
		}
		if rc.Issuer != issuerPub || rc.Subject != userNkey || rc.Audience != "NSERVERID" {
			t.Fatalf("answer issuer %s subject %s audience %s", rc.Issuer, rc.Subject, rc.Audience)
		}
		return rc
	}

	un, data := request(nil)
	rc := decode(un, c.answer(data))
	if rc.Error != "" {
		t.Fatalf("refused: %s", rc.Error)
	}
	uc, err := jwt.DecodeUserClaims(rc.Jwt)
	if err != nil {
		t.Fatal(err)
	}
	if uc.Issuer != issuerPub || uc.Subject != un || uc.Audience != "UNYO" || uc.Name != "web01" {
		t.Errorf("user JWT issuer %s subject %s audience %s name %s", uc.Issuer, uc.Subject, uc.Audience, uc.Name)
	}
	if uc.Expires != now.Add(time.Hour).Unix() {
		t.Errorf("expires %d, want %d", uc.Expires, now.Add(time.Hour).Unix())
	}
	if want := jwtPermissions(AgentPermissions("web01", []string{"linux"})); !reflect.DeepEqual(uc.Permissions, want) {
		t.Errorf("permissions\n%+v\nwant (a tag that is not one subject token dropped)\n%+v", uc.Permissions, want)
	}
	if !reflect.DeepEqual(uc.AllowedConnectionTypes, jwt.StringList{jwt.ConnectionTypeStandard}) {
		t.Errorf("connection types %v", uc.AllowedConnectionTypes)
	}

	for name, mod := range map[string]func(*jwt.AuthorizationRequest){
		"another key's signature": func(r *jwt.AuthorizationRequest) {
			sig, _ := otherKP.Sign([]byte(r.ClientInformation.Nonce))
			r.ConnectOptions.SignedNonce = base64.RawURLEncoding.EncodeToString(sig)
		},
		"another nonce":    func(r *jwt.AuthorizationRequest) { r.ClientInformation.Nonce = "other" },
		"no nonce":         func(r *jwt.AuthorizationRequest) { r.ClientInformation.Nonce = "" },
		"no NKey":          func(r *jwt.AuthorizationRequest) { r.ConnectOptions.Nkey = ""; r.ConnectOptions.Username = "web01" },
		"a password too":   func(r *jwt.AuthorizationRequest) { r.ConnectOptions.Password = "x" },
		"an unknown agent": func(r *jwt.AuthorizationRequest) { r.ConnectOptions.Nkey, _ = otherKP.PublicKey() },
	} {
		un, data := request(mod)
		rc := decode(un, c.answer(data))
		if rc.Error != errNotAgent || rc.Jwt != "" {
			t.Errorf("%s: answer error %q jwt %q, want a refusal", name, rc.Error, rc.Jwt)
		}
	}
	for name, data := range map[string][]byte{
		"not a JWT":    []byte("hello"),
		"too large":    make([]byte, maxCalloutRequest+1),
		"a user's JWT": []byte(rc.Jwt),
		"no user nkey": func() []byte { _, d := request(func(r *jwt.AuthorizationRequest) { r.UserNkey = "" }); return d }(),
		"no server id": func() []byte { _, d := request(func(r *jwt.AuthorizationRequest) { r.Server.ID = "" }); return d }(),
	} {
		if out := c.answer(data); out != nil {
			t.Errorf("%s: answered %q", name, out)
		}
	}
}

func TestCalloutOptions(t *testing.T) {
	acc, _ := nkeys.CreateAccount()
	user, _ := nkeys.CreateUser()
	accSeed, _ := acc.Seed()
	userSeed, _ := user.Seed()
	if _, err := CalloutIssuer(string(accSeed) + "\n"); err != nil {
		t.Errorf("account seed: %v", err)
	}
	for _, s := range []string{string(userSeed), "", "SAnot-a-seed"} {
		if _, err := CalloutIssuer(s); err == nil {
			t.Errorf("CalloutIssuer(%q) took it", s)
		} else if strings.Contains(err.Error(), s) && s != "" {
			t.Errorf("the error shows the seed: %v", err)
		}
	}
	for name, o := range map[string]Options{
		"embedded":     {StoreDir: t.TempDir(), Callout: &CalloutOptions{Issuer: acc, Account: "UNYO"}, Directory: &testDirectory{}},
		"no directory": {URL: "nats://x:4222", Callout: &CalloutOptions{Issuer: acc, Account: "UNYO"}},
		"user issuer":  {URL: "nats://x:4222", Callout: &CalloutOptions{Issuer: user, Account: "UNYO"}, Directory: &testDirectory{}},
		"no account":   {URL: "nats://x:4222", Callout: &CalloutOptions{Issuer: acc}, Directory: &testDirectory{}},
		"no issuer":    {URL: "nats://x:4222", Callout: &CalloutOptions{Account: "UNYO"}, Directory: &testDirectory{}},
	} {
		o.defaults()
		if err := o.validate(); err == nil {
			t.Errorf("%s: validated", name)
		}
	}
}

// testLogger logs to the test.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestAuthCalloutTTL: with a TTL the server closes an agent's connection
// when its authorisation expires; an enabled agent reconnects (asked about
// again), a disabled one is refused and stays out.
func TestAuthCalloutTTL(t *testing.T) {
	issuer, _ := nkeys.CreateAccount()
	issuerPub, _ := issuer.PublicKey()
	nonceKP, _ := nkeys.CreateUser()
	nonceKey, _ := nonceKP.PublicKey()
	const nodePass = "node-password-0123456789abcdef"
	srv := natstest.Start(t, natstest.CalloutConf(issuerPub, nodePass, nonceKey))
	web01, web01Opt := newAgentKey(t)
	dir := &testDirectory{agents: map[string]testAgent{web01: {name: "web01"}}}
	b, err := Open(t.Context(), Options{URL: "nats://unyo:" + nodePass + "@" + strings.TrimPrefix(srv.URL, "nats://"),
		Name: "node1", Directory: dir, Callout: &CalloutOptions{Issuer: issuer, Account: "UNYO", TTL: 2 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)

	reconnected := make(chan struct{}, 16)
	nc, err := nats.Connect(srv.URL, web01Opt, nats.CustomInboxPrefix(AgentInboxPrefix("web01")),
		nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) { reconnected <- struct{}{} }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	select {
	case <-reconnected:
	case <-time.After(30 * time.Second):
		t.Fatal("the agent's authorisation did not expire and renew within 30s")
	}
	if granted, _ := b.CalloutCounts(); granted < 2 {
		t.Errorf("granted %d, want the first connection and the one after the expiry", granted)
	}

	dir.mu.Lock()
	dir.agents[web01] = testAgent{name: "web01", disabled: true}
	dir.mu.Unlock()
	_, refused := b.CalloutCounts()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, r := b.CalloutCounts(); r > refused && !nc.IsConnected() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the disabled agent was not refused at its next connection within 30s (connected %v)", nc.IsConnected())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// It stays out: every further attempt is refused.
	select {
	case <-reconnected:
		t.Fatal("the disabled agent reconnected")
	case <-time.After(3 * time.Second):
	}
	if nc.IsConnected() {
		t.Fatal("the disabled agent is connected")
	}
}
