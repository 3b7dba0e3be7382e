package bus

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

const web01Pass = "web01-password-0123456789"

// openAgentBus starts an embedded server with a client listener on
// 127.0.0.1:0 and agents, and creates the job streams as a node does.
func openAgentBus(t *testing.T, mod func(*Options)) *Bus {
	t.Helper()
	opts := Options{StoreDir: t.TempDir(), Name: "node1", Listen: "127.0.0.1:0", Agents: []AgentCredential{
		{Name: "web01", Tags: []string{"linux"}, Password: web01Pass},
	}}
	if mod != nil {
		mod(&opts)
	}
	b, err := Open(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	for _, sc := range []jetstream.StreamConfig{
		{Name: jobTaskStream, Subjects: []string{jobTaskSubject + ".>"}, Retention: jetstream.WorkQueuePolicy},
		{Name: "UNYO_JOBRESULTS", Subjects: []string{jobResultSubject + ".>"}, Retention: jetstream.WorkQueuePolicy},
	} {
		if _, err := b.JetStream().CreateOrUpdateStream(t.Context(), sc); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// agentConn connects like `unyo agent` and collects the asynchronous
// errors (permission violations) the server sends.
type agentConn struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	errs chan error
}

func connectAgent(t *testing.T, url, name string, opts ...nats.Option) (*agentConn, error) {
	t.Helper()
	a := &agentConn{errs: make(chan error, 64)}
	opts = append(opts, nats.CustomInboxPrefix(AgentInboxPrefix(name)), nats.MaxReconnects(0),
		nats.Timeout(2*time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case a.errs <- err:
			default:
			}
		}))
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(nc.Close)
	a.nc = nc
	a.js, err = jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return a, nil
}

// violation waits for the server's permission violation naming subject.
func (a *agentConn) violation(t *testing.T, op, subject string) {
	t.Helper()
	want := "permissions violation for " + strings.ToLower(op) + " to \"" + strings.ToLower(subject)
	deadline := time.After(5 * time.Second)
	for {
		select {
		case err := <-a.errs:
			if strings.Contains(strings.ToLower(err.Error()), want) {
				return
			}
			t.Logf("other async error: %v", err)
		case <-deadline:
			t.Fatalf("no %q from the server", want)
		}
	}
}

func (a *agentConn) noViolation(t *testing.T) {
	t.Helper()
	if err := a.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-a.errs:
		t.Fatalf("async error: %v", err)
	default:
	}
}

// checkOwnJobSubjects checks that agent web01 (tag linux) on a may use its
// own job subjects: its consumers for its name and tag, a task fetched and
// acknowledged, a kill received, a result and a heartbeat published;
// also, when set, between subscribing and the task, before the task.
func checkOwnJobSubjects(t *testing.T, ctx context.Context, b *Bus, a *agentConn, also func()) {
	t.Helper()
	cons, err := a.js.CreateOrUpdateConsumer(ctx, jobTaskStream, consumerCfg("agent-web01", "unyo.job.task.agent.web01"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.js.CreateOrUpdateConsumer(ctx, jobTaskStream, consumerCfg("tag-linux", "unyo.job.task.tag.linux")); err != nil {
		t.Fatal(err)
	}
	kills := make(chan string, 1)
	if _, err := a.nc.Subscribe("unyo.job.kill.agent.web01", func(m *nats.Msg) { kills <- string(m.Data) }); err != nil {
		t.Fatal(err)
	}
	if also != nil {
		also()
	}
	a.noViolation(t)
	if _, err := b.JetStream().Publish(ctx, "unyo.job.task.agent.web01", []byte("task-1")); err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range batch.Messages() {
		n++
		if string(m.Data()) != "task-1" {
			t.Errorf("fetched %q", m.Data())
		}
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n != 1 {
		t.Fatalf("fetched %d tasks, want 1 (err %v)", n, batch.Error())
	}
	if err := b.Conn().Publish("unyo.job.kill.agent.web01", []byte("k")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-kills:
	case <-time.After(10 * time.Second):
		t.Fatal("kill not received")
	}
	if _, err := a.js.Publish(ctx, jobResultSubject+".web01", []byte(`{}`)); err != nil {
		t.Fatalf("publish result: %v", err)
	}
	if err := a.nc.Publish(jobBeatSubject+".web01", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	a.noViolation(t)
}

func consumerCfg(durable, subject string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{Durable: durable, FilterSubject: subject, AckPolicy: jetstream.AckExplicitPolicy}
}

// TestAgentAccess: with a client listener the embedded server lets in
// only the node and the configured agents, and an agent only onto its own
// subjects.
func TestAgentAccess(t *testing.T) {
	b := openAgentBus(t, nil)
	url := b.ClientURL()
	ctx := t.Context()
	if !b.AuthRequired() {
		t.Fatal("a server with a client listener requires no authentication")
	}
	// The node's own in-process connection has every right.
	if err := b.Publish(ctx, testEvent("node-works")); err != nil {
		t.Fatal(err)
	}

	t.Run("no or wrong credentials are refused", func(t *testing.T) {
		for name, opts := range map[string][]nats.Option{
			"anonymous":      nil,
			"wrong password": {nats.UserInfo("web01", web01Pass+"x")},
			"unknown user":   {nats.UserInfo("web02", web01Pass)},
			"node user":      {nats.UserInfo(nodeUser, "guess")},
		} {
			if _, err := connectAgent(t, url, "web01", opts...); err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
				t.Errorf("%s: connect err = %v, want an authorization violation", name, err)
			}
		}
	})

	a, err := connectAgent(t, url, "web01", nats.UserInfo("web01", web01Pass))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("own consumers, tasks, acks, kills and results", func(t *testing.T) {
		checkOwnJobSubjects(t, ctx, b, a, nil)
	})

	t.Run("own direct offers and reports, answered once", func(t *testing.T) {
		// The leader's direct offers, subscribed as jobnet.Agent does, all
		// on the one connection: take in a queue group, confirm plain, for
		// its name and its tag; each request answered once (a request
		// delivered twice to one connection could not be answered).
		var subs []*nats.Subscription
		for _, subj := range []string{jobDirectSubject + ".agent.web01", jobDirectSubject + ".tag.linux"} {
			handler := func(m *nats.Msg) { _ = m.Respond([]byte("answer " + m.Subject)) }
			take, err := a.nc.QueueSubscribe(subj+".take", "unyo-direct", handler)
			if err != nil {
				t.Fatal(err)
			}
			confirm, err := a.nc.Subscribe(subj+".confirm", handler)
			if err != nil {
				t.Fatal(err)
			}
			subs = append(subs, take, confirm)
		}
		a.noViolation(t)
		for _, subj := range []string{jobDirectSubject + ".agent.web01.take", jobDirectSubject + ".agent.web01.confirm",
			jobDirectSubject + ".tag.linux.take", jobDirectSubject + ".tag.linux.confirm"} {
			resp, err := b.Conn().Request(subj, []byte("task"), 5*time.Second)
			if err != nil {
				t.Fatalf("offer on %s: %v", subj, err)
			}
			if string(resp.Data) != "answer "+subj {
				t.Fatalf("offer on %s answered %q", subj, resp.Data)
			}
		}
		a.noViolation(t)
		for _, sub := range subs {
			_ = sub.Unsubscribe()
		}
		// Its results to a node's spool: a request on its own subject.
		sub, err := b.Conn().Subscribe(jobReportSubject+".web01", func(m *nats.Msg) { _ = m.Respond([]byte("ok")) })
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		if err := b.Conn().Flush(); err != nil { // the server has the subscription before the agent asks
			t.Fatal(err)
		}
		resp, err := a.nc.Request(jobReportSubject+".web01", []byte(`{}`), 5*time.Second)
		if err != nil {
			t.Fatalf("report: %v", err)
		}
		if string(resp.Data) != "ok" {
			t.Fatalf("report answered %q", resp.Data)
		}
		// Its own password vault requests (package rotate).
		vsub, err := b.Conn().Subscribe(AgentVaultSubject+".web01", func(m *nats.Msg) { _ = m.Respond([]byte("stored")) })
		if err != nil {
			t.Fatal(err)
		}
		defer vsub.Unsubscribe()
		if err := b.Conn().Flush(); err != nil {
			t.Fatal(err)
		}
		if resp, err := a.nc.Request(AgentVaultSubject+".web01", []byte(`{}`), 5*time.Second); err != nil || string(resp.Data) != "stored" {
			t.Fatalf("vault request: %v", err)
		}
		a.noViolation(t)
	})

	t.Run("another agent's tasks, a task, other APIs are denied", func(t *testing.T) {
		tasks := func() uint64 {
			s, err := b.JetStream().Stream(ctx, jobTaskStream)
			if err != nil {
				t.Fatal(err)
			}
			info, err := s.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return info.State.Msgs
		}
		before := tasks()
		for _, subj := range []string{"unyo.job.task.agent.web02", "unyo.job.task.>", "_INBOX.>", "unyo.agent.report.>", AgentInboxPrefix("web02") + ".>", "unyo.job.kill.agent.web02", "unyo.event.>",
			// Another agent's direct offers, every report, another's tags.
			"unyo.job.direct.agent.web02.take", "unyo.job.direct.tag.windows.confirm", "unyo.job.direct.>", "unyo.job.direct.agent.web01", "unyo.job.report.>", "unyo.job.report.web01",
			AgentTagsSubject + ".web02"} {
			if _, err := a.nc.SubscribeSync(subj); err != nil {
				t.Fatal(err)
			}
			a.violation(t, "subscription", subj)
		}
		for _, subj := range []string{"unyo.job.task.agent.web01", "unyo.job.task.agent.web02", "unyo.event.x", "$JS.API.STREAM.DELETE." + jobTaskStream,
			// Another agent's (or a node's) results and heartbeats, and
			// the single subjects of old versions.
			"unyo.job.result.web02", "unyo.job.result.node.node1", "unyo.job.result", "unyo.job.result.web01.x",
			"unyo.job.heartbeat.web02", "unyo.job.heartbeat", "unyo.job.heartbeat.node.node1",
			// Another agent's fleet reports and release requests
			// (package rollout), and the object store's subjects.
			"unyo.agent.report.web02", "unyo.agent.release.web02", "unyo.agent.report", "$O.UNYO_RELEASES.C.x",
			// Another agent's uninstall request.
			AgentUninstallSubject + ".web02",
			// Another agent's password vault requests, and the bare subject.
			AgentVaultSubject + ".web02", AgentVaultSubject, AgentVaultSubject + ".web01.x",
			// A direct offer (even to itself) and another agent's report.
			"unyo.job.direct.agent.web01.take", "unyo.job.direct.tag.linux.confirm", "unyo.job.report.web02", "unyo.job.report"} {
			if err := a.nc.Publish(subj, []byte(`{"run":"forged"}`)); err != nil {
				t.Fatal(err)
			}
			a.violation(t, "publish", subj)
		}
		for _, c := range []jetstream.ConsumerConfig{
			consumerCfg("agent-web02", "unyo.job.task.agent.web02"),
			consumerCfg("agent-web01", "unyo.job.task.agent.web02"), // its own durable on another's subject
			consumerCfg("tag-windows", "unyo.job.task.tag.windows"),
		} {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := a.js.CreateOrUpdateConsumer(cctx, jobTaskStream, c)
			cancel()
			if err == nil {
				t.Errorf("consumer %s on %s created", c.Durable, c.FilterSubject)
			}
			a.violation(t, "publish", "$JS.API.CONSUMER.CREATE."+jobTaskStream+"."+c.Durable+"."+c.FilterSubject)
		}
		if got := tasks(); got != before {
			t.Errorf("task stream holds %d messages, had %d: an agent published a task", got, before)
		}
	})

	t.Run("nkey agent", func(t *testing.T) {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := kp.PublicKey()
		seed, _ := kp.Seed()
		seedFile := filepath.Join(t.TempDir(), "db01.nk")
		if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
			t.Fatal(err)
		}
		nb := openAgentBus(t, func(o *Options) {
			o.Agents = []AgentCredential{{Name: "db01", NKey: pub}}
		})
		opt, err := nats.NkeyOptionFromSeed(seedFile)
		if err != nil {
			t.Fatal(err)
		}
		na, err := connectAgent(t, nb.ClientURL(), "db01", opt)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := na.js.CreateOrUpdateConsumer(ctx, jobTaskStream, consumerCfg("agent-db01", "unyo.job.task.agent.db01")); err != nil {
			t.Fatal(err)
		}
		if _, err := na.nc.SubscribeSync("unyo.job.task.agent.db01"); err != nil {
			t.Fatal(err)
		}
		na.violation(t, "subscription", "unyo.job.task.agent.db01")
		// It answers the leader's direct offer (its response permission).
		if _, err := na.nc.Subscribe(jobDirectSubject+".agent.db01.take", func(m *nats.Msg) { _ = m.Respond([]byte("taken")) }); err != nil {
			t.Fatal(err)
		}
		if err := na.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		if resp, err := nb.Conn().Request(jobDirectSubject+".agent.db01.take", []byte("task"), 5*time.Second); err != nil || string(resp.Data) != "taken" {
			t.Errorf("offer to the nkey agent: %v", err)
		}
		na.noViolation(t)
		other, _ := nkeys.CreateUser()
		oseed, _ := other.Seed()
		if err := os.WriteFile(seedFile, oseed, 0o600); err != nil {
			t.Fatal(err)
		}
		opt, _ = nats.NkeyOptionFromSeed(seedFile)
		if _, err := connectAgent(t, nb.ClientURL(), "db01", opt); err == nil {
			t.Error("an unknown NKey connected")
		}
	})
}

// TestClientTLS: agents reach a TLS client listener with the CA, and with
// a CA file on the server only with a client certificate it signed; the
// node's in-process connection is unaffected.
func TestClientTLS(t *testing.T) {
	pki := newTestPKI(t, "nats-ca")
	cert, key := pki.issue(t, "nats-server", 2)
	ccert, ckey := pki.issue(t, "web01", 3)
	other := newTestPKI(t, "other-ca")
	ocert, okey := other.issue(t, "web01", 4)
	caOnly, err := ClientTLSConfig(cert, key, "")
	if err != nil {
		t.Fatal(err)
	}
	mutual, err := ClientTLSConfig(cert, key, pki.caFile)
	if err != nil {
		t.Fatal(err)
	}
	creds := nats.UserInfo("web01", web01Pass)
	for _, tc := range []struct {
		name   string
		server *tls.Config
		client []nats.Option
		ok     bool
	}{
		{"server TLS, agent trusts the CA", caOnly, []nats.Option{nats.RootCAs(pki.caFile)}, true},
		{"server TLS, agent without the CA", caOnly, nil, false},
		{"mutual TLS, client certificate", mutual, []nats.Option{nats.RootCAs(pki.caFile), nats.ClientCert(ccert, ckey)}, true},
		{"mutual TLS, no client certificate", mutual, []nats.Option{nats.RootCAs(pki.caFile)}, false},
		{"mutual TLS, certificate of another CA", mutual, []nats.Option{nats.RootCAs(pki.caFile), nats.ClientCert(ocert, okey)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := openAgentBus(t, func(o *Options) { o.ClientTLS = tc.server })
			if !strings.HasPrefix(b.ClientURL(), "tls://") {
				t.Errorf("client URL %q, want tls://", b.ClientURL())
			}
			if err := b.Publish(t.Context(), testEvent("in-process")); err != nil {
				t.Fatalf("node's in-process connection: %v", err)
			}
			a, err := connectAgent(t, b.ClientURL(), "web01", append(tc.client, creds)...)
			if (err == nil) != tc.ok {
				t.Fatalf("connect err = %v, want ok %v", err, tc.ok)
			}
			if tc.ok {
				a.noViolation(t)
			}
		})
	}
	if _, err := ClientTLSConfig(cert, "", ""); err == nil {
		t.Error("client TLS without a key file")
	}
	if _, err := ClientTLSConfig(cert, key, cert+".missing"); err == nil {
		t.Error("client TLS with a missing CA file")
	}
}

// TestAgentCredentialValidate: unusable agent entries are refused at Open.
func TestAgentCredentialValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    []AgentCredential
		want string
	}{
		{"bad name", []AgentCredential{{Name: "web.01", Password: "p"}}, "name"},
		{"bad tag", []AgentCredential{{Name: "web01", Tags: []string{"a>"}, Password: "p"}}, "tag"},
		{"no secret", []AgentCredential{{Name: "web01"}}, "exactly one"},
		{"both", []AgentCredential{{Name: "web01", Password: "p", NKey: "UA"}}, "exactly one"},
		{"bad nkey", []AgentCredential{{Name: "web01", NKey: "UNOTAKEY"}}, "public user"},
		{"twice", []AgentCredential{{Name: "web01", Password: "p"}, {Name: "web01", Password: "q"}}, "twice"},
		{"node's name", []AgentCredential{{Name: nodeUser, Password: "p"}}, "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(t.Context(), Options{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Agents: tc.a})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one about %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\"p\"") || strings.Contains(fmt.Sprintf("%v %+v %#v", tc.a, tc.a, tc.a), "\"p\"") {
				t.Errorf("a password printed: %v / %s", err, fmt.Sprintf("%v %+v %#v", tc.a, tc.a, tc.a))
			}
		})
	}
	if _, err := Open(t.Context(), Options{StoreDir: t.TempDir(), Agents: []AgentCredential{{Name: "web01", Password: "p"}}}); err == nil {
		t.Error("agents without a client listener accepted")
	}
}
