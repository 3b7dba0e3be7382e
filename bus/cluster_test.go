package bus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// freePorts reserves n distinct loopback ports by listening and closing:
// every node's route list must name the others' ports before any starts.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// testCluster is n embedded servers in this process, one Bus each.
type testCluster struct {
	t     *testing.T
	opts  []Options
	buses []*Bus // nil while a node is stopped
}

// newTestCluster opens n nodes concurrently (each Open waits for the
// JetStream meta group, which needs the others). tlsFor, if not nil, gives
// node i's route TLS config.
func newTestCluster(t *testing.T, n, replicas int, tlsFor func(i int) *tls.Config) *testCluster {
	t.Helper()
	ports := freePorts(t, n)
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	ns := "c" + randHex(t)
	c := &testCluster{t: t, buses: make([]*Bus, n)}
	for i := range n {
		o := Options{
			Name:          fmt.Sprintf("n%d", i),
			StoreDir:      t.TempDir(),
			Namespace:     ns,
			Replicas:      replicas,
			ClusterName:   "unyo-test",
			ClusterListen: fmt.Sprintf("127.0.0.1:%d", ports[i]),
			Routes:        routes, // every node, itself included
		}
		if os.Getenv("UNYO_TEST_BUS_LOG") != "" {
			o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", o.Name)
		}
		if tlsFor != nil {
			o.ClusterTLS = tlsFor(i)
		}
		c.opts = append(c.opts, o)
	}
	t.Cleanup(func() {
		for _, b := range c.buses {
			if b != nil {
				b.Close()
			}
		}
	})
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = c.open(i) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d-node cluster open in %s", n, time.Since(start).Round(time.Millisecond))
	return c
}

func (c *testCluster) open(i int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b, err := Open(ctx, c.opts[i])
	if err != nil {
		return fmt.Errorf("node %d: %w", i, err)
	}
	c.buses[i] = b
	return nil
}

func (c *testCluster) stop(i int) {
	c.buses[i].Close()
	c.buses[i] = nil
}

// index of the node named name.
func (c *testCluster) index(name string) int {
	for i, o := range c.opts {
		if o.Name == name {
			return i
		}
	}
	c.t.Fatalf("no node %q", name)
	return -1
}

// eventually polls f until it returns nil or d passes.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func streamInfo(ctx context.Context, b *Bus) (*jetstream.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s, err := b.JetStream().Stream(ctx, b.EventsStream())
	if err != nil {
		return nil, err
	}
	return s.Info(ctx)
}

// localMsgs is how many messages the events stream's replica on b's own
// server holds (not the leader's answer).
func localMsgs(b *Bus) (uint64, error) {
	jsz, err := b.ns.Jsz(&server.JSzOptions{Accounts: true, Streams: true})
	if err != nil {
		return 0, err
	}
	for _, a := range jsz.AccountDetails {
		for _, s := range a.Streams {
			if s.Name == b.EventsStream() {
				return s.State.Msgs, nil
			}
		}
	}
	return 0, errors.New("no local replica of the events stream")
}

// publishN publishes events id prefix-0 .. prefix-(n-1) from b.
func publishN(ctx context.Context, b *Bus, prefix string, n int) error {
	for i := range n {
		if err := b.Publish(ctx, testEvent(fmt.Sprintf("%s-%d", prefix, i))); err != nil {
			return err
		}
	}
	return nil
}

// puller pulls from a durable consumer through one node, recording the ids.
type puller struct {
	node string
	cons jetstream.Consumer
	mu   sync.Mutex
	got  []string
}

func newPuller(ctx context.Context, t *testing.T, b *Bus, durable string) *puller {
	t.Helper()
	var cons jetstream.Consumer
	eventually(t, 30*time.Second, "consumer "+durable+" on "+b.opts.Name, func() error {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var err error
		cons, err = b.JetStream().CreateOrUpdateConsumer(cctx, b.EventsStream(), jetstream.ConsumerConfig{
			Durable:       durable,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       30 * time.Second,
			DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		return err
	})
	return &puller{node: b.opts.Name, cons: cons}
}

// pull fetches up to batch messages and acks each synchronously.
func (p *puller) pull(batch int) error {
	msgs, err := p.cons.Fetch(batch, jetstream.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		return err
	}
	for m := range msgs.Messages() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := m.DoubleAck(ctx)
		cancel()
		if err != nil {
			return err
		}
		p.mu.Lock()
		p.got = append(p.got, m.Headers().Get(jetstream.MsgIDHeader))
		p.mu.Unlock()
	}
	return msgs.Error()
}

func (p *puller) ids() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

// drain runs the pullers concurrently until together they hold want ids.
func drain(t *testing.T, want int, d time.Duration, ps ...*puller) {
	t.Helper()
	total := func() int {
		n := 0
		for _, p := range ps {
			n += len(p.ids())
		}
		return n
	}
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() {
			for total() < want && time.Now().Before(deadline) {
				if err := p.pull(1); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	if n := total(); n < want {
		t.Fatalf("pulled %d of %d messages within %s", n, want, d)
	}
}

// checkOnce: every id in want was delivered exactly once across pullers.
func checkOnce(t *testing.T, want []string, ps ...*puller) {
	t.Helper()
	seen := map[string]string{}
	for _, p := range ps {
		for _, id := range p.ids() {
			if other, ok := seen[id]; ok {
				t.Errorf("%s delivered twice: to %s and to %s", id, other, p.node)
			}
			seen[id] = p.node
		}
	}
	for _, id := range want {
		if _, ok := seen[id]; !ok {
			t.Errorf("%s never delivered", id)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("%d distinct ids delivered, want %d", len(seen), len(want))
	}
}

func idRange(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

// TestEmbeddedCluster: three embedded servers form a NATS cluster with R3
// streams; a durable consumer delivers each message once cluster-wide; the
// cluster carries on without the stream leader's server, and that server
// catches up when it returns on the same store.
func TestEmbeddedCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three NATS servers")
	}
	ctx := context.Background()
	c := newTestCluster(t, 3, 3, nil)
	a, bn := c.buses[0], c.buses[1]

	for i, b := range c.buses {
		if addr := b.ClusterAddr(); addr != c.opts[i].ClusterListen {
			t.Errorf("node %d: ClusterAddr %q, want %q", i, addr, c.opts[i].ClusterListen)
		}
		if b.ClientURL() != "" {
			t.Errorf("node %d: client URL %q without Listen", i, b.ClientURL())
		}
		eventually(t, 10*time.Second, "full mesh", func() error {
			if p := b.Peers(); len(p) != 2 {
				return fmt.Errorf("node %d peers %v", i, p)
			}
			return nil
		})
	}
	for _, name := range []string{a.EventsStream(), a.IncidentsStream()} {
		s, err := a.JetStream().Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Config.Replicas != 3 || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
			t.Fatalf("%s: replicas %d, cluster %+v; want R3 with a leader and two followers", name, info.Config.Replicas, info.Cluster)
		}
	}

	// Publish on A; the durable consumer, pulled through B and C at once,
	// hands out each message once.
	const n1 = 40
	if err := publishN(ctx, a, "first", n1); err != nil {
		t.Fatal(err)
	}
	pb := newPuller(ctx, t, bn, "ledger-writer")
	pc := newPuller(ctx, t, c.buses[2], "ledger-writer")
	drain(t, n1, 30*time.Second, pb, pc)
	checkOnce(t, idRange("first", n1), pb, pc)
	t.Logf("durable split: %d via %s, %d via %s", len(pb.ids()), pb.node, len(pc.ids()), pc.node)
	if len(pb.ids()) == 0 || len(pc.ids()) == 0 {
		t.Logf("note: one puller got every message (allowed, but the split was not exercised)")
	}
	ci, err := pb.cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Config.Replicas != 0 && ci.Config.Replicas != 3 || ci.Cluster == nil || len(ci.Cluster.Replicas) != 2 {
		t.Errorf("consumer: replicas %d, cluster %+v; want the stream's R3", ci.Config.Replicas, ci.Cluster)
	}

	// Stop the server leading the events stream.
	info, err := streamInfo(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	dead := c.index(info.Cluster.Leader)
	t.Logf("stopping %s, the events stream leader", info.Cluster.Leader)
	stopped := time.Now()
	c.stop(dead)
	var live []*Bus
	for _, b := range c.buses {
		if b != nil {
			live = append(live, b)
		}
	}

	// Publishing resumes on the other two.
	eventually(t, 30*time.Second, "publish after the leader stopped", func() error {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return live[0].Publish(pctx, testEvent("second-0"))
	})
	resumed := time.Since(stopped)
	newInfo, err := streamInfo(ctx, live[1])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("publishing resumed %s after the stream leader stopped; new leader %s", resumed.Round(time.Millisecond), newInfo.Cluster.Leader)
	const n2 = 20
	if err := publishN(ctx, live[1], "second", n2); err != nil { // second-0 again: deduplicated
		t.Fatal(err)
	}
	if newInfo, err = streamInfo(ctx, live[0]); err != nil {
		t.Fatal(err)
	} else if newInfo.State.Msgs != n1+n2 {
		t.Errorf("stream holds %d messages, want %d", newInfo.State.Msgs, n1+n2)
	}

	// Consuming resumes through the live nodes; a puller via the stopped
	// node is replaced by one via a live node.
	var ps []*puller
	for _, b := range live {
		ps = append(ps, newPuller(ctx, t, b, "ledger-writer"))
	}
	drain(t, n2, 30*time.Second, ps...)
	t.Logf("consuming resumed; all %d new messages pulled %s after the stop", n2, time.Since(stopped).Round(time.Millisecond))
	checkOnce(t, idRange("second", n2), ps...)
	all := append([]*puller{pb, pc}, ps...)
	checkOnce(t, append(idRange("first", n1), idRange("second", n2)...), all...)

	// Restart it on the same store: it catches up.
	restart := time.Now()
	if err := c.open(dead); err != nil {
		t.Fatal(err)
	}
	back := c.buses[dead]
	eventually(t, 30*time.Second, "restarted node catches up", func() error {
		n, err := localMsgs(back)
		if err != nil {
			return err
		}
		if n != n1+n2 {
			return fmt.Errorf("local replica holds %d messages, want %d", n, n1+n2)
		}
		return nil
	})
	t.Logf("restarted %s holds all %d messages %s after Open began", back.opts.Name, n1+n2, time.Since(restart).Round(time.Millisecond))
	eventually(t, 30*time.Second, "replica current", func() error {
		info, err := streamInfo(ctx, back)
		if err != nil {
			return err
		}
		if info.State.Msgs != n1+n2 {
			return fmt.Errorf("stream info via restarted node: %d messages", info.State.Msgs)
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Offline {
				return fmt.Errorf("replica %s current=%v offline=%v lag=%d", r.Name, r.Current, r.Offline, r.Lag)
			}
		}
		return nil
	})
	// A message published through it reaches the durable once.
	if err := back.Publish(ctx, testEvent("third-0")); err != nil {
		t.Fatal(err)
	}
	p3 := newPuller(ctx, t, back, "ledger-writer")
	drain(t, 1, 30*time.Second, p3)
	checkOnce(t, []string{"third-0"}, p3)
}

// --- mutual TLS for routes ---

type testPKI struct {
	dir    string
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
}

func newTestPKI(t *testing.T, name string) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{dir: t.TempDir(), caCert: cert, caKey: key}
	p.caFile = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.caFile, "CERTIFICATE", der)
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// issue writes a node certificate for 127.0.0.1, usable as server and
// client, and returns its cert and key files.
func (p *testPKI) issue(t *testing.T, name string, serial int64) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(p.dir, name+".pem")
	keyFile = filepath.Join(p.dir, name+"-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", kder)
	return certFile, keyFile
}

// TestEmbeddedClusterTLS: routes with mutual TLS form a cluster; a server
// whose certificate the cluster's CA did not sign never gets a route.
func TestEmbeddedClusterTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four NATS servers")
	}
	ctx := context.Background()
	pki := newTestPKI(t, "unyo test CA")
	confs := make([]*tls.Config, 3)
	for i := range confs {
		cert, key := pki.issue(t, fmt.Sprintf("n%d", i), int64(10+i))
		tc, err := RouteTLSConfig(cert, key, pki.caFile)
		if err != nil {
			t.Fatal(err)
		}
		confs[i] = tc
	}
	c := newTestCluster(t, 3, 3, func(i int) *tls.Config { return confs[i] })
	for i, b := range c.buses {
		eventually(t, 10*time.Second, "full mesh over TLS", func() error {
			if p := b.Peers(); len(p) != 2 {
				return fmt.Errorf("node %d peers %v", i, p)
			}
			return nil
		})
	}
	if err := c.buses[0].Publish(ctx, testEvent("tls-1")); err != nil {
		t.Fatal(err)
	}
	p := newPuller(ctx, t, c.buses[2], "ledger-writer")
	drain(t, 1, 20*time.Second, p)
	checkOnce(t, []string{"tls-1"}, p)

	// A rogue node: its certificate comes from another CA (it trusts the
	// cluster's CA, so only the cluster's check of it can stop it).
	rogueCA := newTestPKI(t, "rogue CA")
	cert, key := rogueCA.issue(t, "rogue", 99)
	rtc, err := RouteTLSConfig(cert, key, pki.caFile)
	if err != nil {
		t.Fatal(err)
	}
	ro := Options{
		Name: "rogue", StoreDir: t.TempDir(), Namespace: c.opts[0].Namespace,
		ClusterName: c.opts[0].ClusterName, ClusterListen: "127.0.0.1:0",
		Routes: c.opts[0].Routes, ClusterTLS: rtc, Replicas: 1,
	}
	ro.defaults()
	if err := ro.validate(); err != nil {
		t.Fatal(err)
	}
	rogue := &Bus{opts: ro, log: ro.Logger}
	if err := rogue.startEmbedded(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer rogue.Close()
	// Give it several connect attempts (NATS retries routes every second).
	for range 30 {
		if n := rogue.NumRoutes(); n != 0 {
			t.Fatalf("rogue server has %d routes", n)
		}
		for i, b := range c.buses {
			if slices.Contains(b.Peers(), "rogue") {
				t.Fatalf("node %d has a route to the rogue server", i)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Without any TLS, a node cannot join either.
	po := ro
	po.Name, po.StoreDir, po.ClusterTLS = "plain", t.TempDir(), nil
	plain := &Bus{opts: po, log: po.Logger}
	if err := plain.startEmbedded(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	for range 20 {
		if n := plain.NumRoutes(); n != 0 {
			t.Fatalf("server without TLS has %d routes", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i, b := range c.buses {
		if p := b.Peers(); len(p) != 2 {
			t.Errorf("node %d peers %v after the rogue attempts, want the two others", i, p)
		}
	}
}

func TestClusterOptionsValidate(t *testing.T) {
	base := func() Options {
		return Options{Name: "n1", StoreDir: "x", ClusterListen: "127.0.0.1:0",
			Routes: []string{"nats-route://10.0.0.1:6222", "10.0.0.2:6222"}, Replicas: 3}
	}
	for name, tc := range map[string]struct {
		mod  func(*Options)
		want string
	}{
		"ok":             {func(*Options) {}, ""},
		"no name":        {func(o *Options) { o.Name = "" }, "node name"},
		"no routes":      {func(o *Options) { o.Routes = nil }, "needs routes"},
		"bad route":      {func(o *Options) { o.Routes = []string{"http://10.0.0.1:6222"} }, "want nats-route://host:port"},
		"route no port":  {func(o *Options) { o.Routes = []string{"10.0.0.1"} }, "want nats-route://host:port"},
		"bad listen":     {func(o *Options) { o.ClusterListen = "nowhere" }, "cluster listen"},
		"cluster name":   {func(o *Options) { o.ClusterName = "a b" }, "cluster name"},
		"lone replicas":  {func(o *Options) { o.ClusterListen, o.Routes = "", nil }, "lone embedded server"},
		"routes alone":   {func(o *Options) { o.ClusterListen, o.Replicas = "", 1 }, "without a cluster listen"},
		"replicas range": {func(o *Options) { o.Replicas = 6 }, "want 1..5"},
	} {
		t.Run(name, func(t *testing.T) {
			o := base()
			tc.mod(&o)
			o.defaults()
			err := o.validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	for in, want := range map[string]string{
		"10.0.0.1:6222":               "nats-route://10.0.0.1:6222",
		"nats-route://node2:6222":     "nats-route://node2:6222",
		" nats-route://[::1]:6222/ ":  "nats-route://[::1]:6222",
		"nats-route://u:p@node3:6222": "nats-route://u:p@node3:6222",
	} {
		u, err := RouteURL(in)
		if err != nil || u.String() != want {
			t.Errorf("RouteURL(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
}

func TestRouteTLSConfigErrors(t *testing.T) {
	if _, err := RouteTLSConfig("", "k", "c"); err == nil {
		t.Error("empty cert file accepted")
	}
	pki := newTestPKI(t, "ca")
	cert, key := pki.issue(t, "n", 2)
	if _, err := RouteTLSConfig(cert, key, filepath.Join(pki.dir, "missing.pem")); err == nil {
		t.Error("missing CA file accepted")
	}
	if _, err := RouteTLSConfig(cert, key, key); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("key as CA: %v", err)
	}
	tc, err := RouteTLSConfig(cert, key, pki.caFile)
	if err != nil {
		t.Fatal(err)
	}
	if tc.ClientAuth != tls.RequireAndVerifyClientCert || len(tc.Certificates) != 1 {
		t.Errorf("config %+v", tc)
	}
}
