// Package clustertest starts in-process unyo clusters for tests, with a
// harness that reads like a story:
//
//	c := clustertest.Start(t, 3)
//	leader := c.WaitLeader()
//	c.Kill(leader)
//	c.WaitLeader()
//	c.Restart(leader)
//	c.Partition("n2") ... c.Heal()
//	c.WaitConverged()
//
// By default nodes talk over raft.InmemTransport (so Partition can cut
// links) and forward follower requests to the leader through an
// in-process Forwarder that honours partitions. With TCP() they use real
// Raft TCP transports on 127.0.0.1:0 and real HTTP APIs (httptest
// servers mounting the package's handlers, cluster.HTTPForwarder).
//
// Set UNYO_CLUSTER_LOG=debug (or info, warn) to see the nodes' logs.
package clustertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/cluster"
)

// Timeout bounds every Wait* and each operation of the harness; it only
// bounds a wait for a condition, so it is generous: a loaded 2-core CI
// machine took more than 15 s to converge a restarted follower.
var Timeout = 60 * time.Second

// Option changes how Start builds the cluster.
type Option func(*Cluster)

// TCP makes the nodes use real TCP Raft transports on 127.0.0.1 and real
// HTTP APIs for joining and forwarding. Partition is not available then.
func TCP() Option { return func(c *Cluster) { c.tcp = true } }

// Sites labels node i with sites[i % len(sites)].
func Sites(sites ...string) Option { return func(c *Cluster) { c.sites = sites } }

// WithOptions lets a test adjust each node's Options (timeouts, snapshot
// thresholds) before New.
func WithOptions(f func(id string, o *cluster.Options)) Option {
	return func(c *Cluster) { c.tweak = append(c.tweak, f) }
}

// Cluster is a set of in-process nodes named n1, n2, ...
type Cluster struct {
	t     testing.TB
	tcp   bool
	sites []string
	tweak []func(string, *cluster.Options)
	log   *slog.Logger
	// root holds the nodes' data directories. It is made before the
	// nodes' stop is registered, so the test's cleanup stops the nodes
	// before it removes their files (cleanups run last first).
	root string

	mu      sync.Mutex
	ids     []string
	members map[string]*member
	cut     map[string]bool // partitioned off from the rest
}

type member struct {
	id, site, dir string
	addr          raft.ServerAddress // Raft address, stable across restarts
	apiAddr       string
	trans         *raft.InmemTransport
	reg           *prometheus.Registry
	http          *httptest.Server
	node          *cluster.Node // nil while killed
	handler       http.Handler  // the live node's API, nil while killed
}

// Start builds n nodes, bootstraps n1 and joins the rest through the
// leader, and waits until all of them see the same leader. Everything is
// stopped at the end of the test.
func Start(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	c := &Cluster{t: t, members: map[string]*member{}, cut: map[string]bool{}}
	for _, o := range opts {
		o(c)
	}
	c.log = testLogger()
	c.root = t.TempDir()
	t.Cleanup(c.stopAll)
	for i := 1; i <= n; i++ {
		c.Add(fmt.Sprintf("n%d", i))
	}
	c.WaitLeader()
	return c
}

func testLogger() *slog.Logger {
	var level slog.Level
	switch os.Getenv("UNYO_CLUSTER_LOG") {
	case "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "warn":
		level = slog.LevelWarn
	default:
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// Add starts a new node id and, unless it is the first, joins it through
// the current leader (waiting for one).
func (c *Cluster) Add(id string) *cluster.Node {
	c.t.Helper()
	var leader *cluster.Node
	if len(c.IDs()) > 0 {
		leader = c.Leader()
	}
	c.mu.Lock()
	if _, dup := c.members[id]; dup {
		c.mu.Unlock()
		c.t.Fatalf("clustertest: node %s exists", id)
	}
	m := &member{id: id, dir: filepath.Join(c.root, id)}
	if len(c.sites) > 0 {
		m.site = c.sites[len(c.ids)%len(c.sites)]
	}
	first := len(c.ids) == 0
	c.ids = append(c.ids, id)
	c.members[id] = m
	if c.tcp {
		m.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.mu.Lock()
			h := m.handler
			c.mu.Unlock()
			if h == nil {
				panic(http.ErrAbortHandler) // a dead process: the connection drops
			}
			h.ServeHTTP(w, r)
		}))
		c.t.Cleanup(m.http.Close)
		m.apiAddr = m.http.Listener.Addr().String()
	} else {
		m.addr = raft.ServerAddress("inmem-" + id)
		m.apiAddr = "api-" + id
	}
	c.mu.Unlock()

	n := c.boot(m, first)
	if !first {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		if err := leader.Join(ctx, id, n.Addr(), m.site, m.apiAddr); err != nil {
			c.t.Fatalf("clustertest: join %s: %v", id, err)
		}
	}
	return n
}

// boot builds and starts the node for m on its data directory.
func (c *Cluster) boot(m *member, bootstrap bool) *cluster.Node {
	c.t.Helper()
	m.reg = prometheus.NewRegistry()
	opts := cluster.Options{
		NodeID:         m.id,
		Site:           m.site,
		APIAddr:        m.apiAddr,
		DataDir:        m.dir,
		Bootstrap:      bootstrap,
		Logger:         c.log.With("test_node", m.id),
		Registerer:     m.reg,
		WALSegmentSize: 1 << 20,
		StableAfter:    2 * time.Second,
	}
	if c.tcp {
		opts.BindAddr = "127.0.0.1:0"
		if m.addr != "" {
			opts.BindAddr = string(m.addr) // restart on the same port
		}
		opts.Forwarder = &cluster.HTTPForwarder{}
	} else {
		_, m.trans = raft.NewInmemTransport(m.addr)
		opts.Transport = m.trans
		opts.Forwarder = forwarder{c: c, self: m.id}
	}
	for _, f := range c.tweak {
		f(m.id, &opts)
	}
	c.mu.Lock()
	firstDir := c.members[c.ids[0]].dir
	c.mu.Unlock()
	if c.tcp && !bootstrap && firstDir != m.dir {
		// What a joiner's first join request fetches: the cluster secret
		// key, for the Raft transport's handshake.
		if k, err := cluster.ReadSecretKey(firstDir); err == nil {
			if err := cluster.WriteSecretKey(m.dir, k); err != nil {
				c.t.Fatalf("clustertest: %v", err)
			}
		}
	}
	var n *cluster.Node
	var err error
	for try := 0; ; try++ {
		n, err = cluster.New(opts)
		// A just-closed TCP port can take a moment to be free again.
		if err == nil || !c.tcp || try == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("clustertest: new %s: %v", m.id, err)
	}
	if err := n.Start(); err != nil {
		c.t.Fatalf("clustertest: start %s: %v", m.id, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	m.node = n
	if c.tcp {
		m.addr = raft.ServerAddress(n.Addr())
		mux := http.NewServeMux()
		mux.Handle("POST /v1/cluster/forward", n.ForwardHandler())
		mux.Handle("POST /v1/cluster/join", n.JoinHandler())
		mux.Handle("POST /v1/cluster/leave", n.LeaveHandler())
		mux.Handle("POST /v1/cluster/transfer-leadership", n.TransferHandler())
		mux.Handle("GET /v1/cluster/status", n.StatusHandler())
		m.handler = mux
	} else {
		c.wireLocked(m)
	}
	return n
}

// wireLocked connects m's transport with every running peer on the same
// side of the partition.
func (c *Cluster) wireLocked(m *member) {
	for _, p := range c.members {
		if p == m || p.node == nil {
			continue
		}
		if c.cut[p.id] == c.cut[m.id] {
			m.trans.Connect(p.addr, p.trans)
			p.trans.Connect(m.addr, m.trans)
		} else {
			m.trans.Disconnect(p.addr)
			p.trans.Disconnect(m.addr)
		}
	}
}

// IDs returns the node ids, in order of creation.
func (c *Cluster) IDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ids)
}

// Node returns node id (nil while killed).
func (c *Cluster) Node(id string) *cluster.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.members[id]
	if !ok {
		c.t.Fatalf("clustertest: no node %s", id)
	}
	return m.node
}

// Dir returns node id's data directory (a restore test replaces what is
// in it while the node is killed).
func (c *Cluster) Dir(id string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[id].dir
}

// Registry returns the metrics registry of node id's current incarnation.
func (c *Cluster) Registry(id string) *prometheus.Registry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[id].reg
}

// APIAddr returns node id's HTTP API address (TCP mode) or its in-process
// name.
func (c *Cluster) APIAddr(id string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[id].apiAddr
}

// Running returns the ids of the nodes not killed.
func (c *Cluster) Running() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, id := range c.ids {
		if c.members[id].node != nil {
			out = append(out, id)
		}
	}
	return out
}

// majority returns the running nodes on the uncut side.
func (c *Cluster) majority() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, id := range c.ids {
		if c.members[id].node != nil && !c.cut[id] {
			out = append(out, id)
		}
	}
	return out
}

// Followers returns the running nodes that are not the leader.
func (c *Cluster) Followers() []string {
	leader := c.WaitLeader()
	return slices.DeleteFunc(c.Running(), func(id string) bool { return id == leader })
}

// WaitLeader waits until one running node on the uncut side is leader and
// every running node on that side agrees, and returns its id.
func (c *Cluster) WaitLeader() string {
	c.t.Helper()
	var leader string
	c.WaitFor("a leader all nodes agree on", func() bool {
		leader = ""
		ids := c.majority()
		for _, id := range ids {
			if n := c.Node(id); n != nil && n.IsLeader() {
				leader = id
			}
		}
		if leader == "" {
			return false
		}
		for _, id := range ids {
			if n := c.Node(id); n == nil || n.Leader().ID != leader {
				return false
			}
		}
		return true
	})
	return leader
}

// Leader returns the leader's node (waiting for one).
func (c *Cluster) Leader() *cluster.Node { return c.Node(c.WaitLeader()) }

// Kill stops node id abruptly as far as the cluster can tell: no leave, no
// leadership transfer; its peers' connections to it fail at once. The data
// directory stays for Restart.
func (c *Cluster) Kill(id string) {
	c.t.Helper()
	c.mu.Lock()
	m := c.members[id]
	n := m.node
	if n == nil {
		c.mu.Unlock()
		c.t.Fatalf("clustertest: %s is not running", id)
	}
	m.node, m.handler = nil, nil
	if !c.tcp {
		for _, p := range c.members {
			if p != m && p.trans != nil {
				p.trans.Disconnect(m.addr)
			}
		}
	}
	c.mu.Unlock()
	if err := n.Stop(); err != nil {
		c.t.Errorf("clustertest: stop %s: %v", id, err)
	}
}

// Restart starts node id again from its data directory.
func (c *Cluster) Restart(id string) *cluster.Node {
	c.t.Helper()
	c.mu.Lock()
	m := c.members[id]
	running := m.node != nil
	c.mu.Unlock()
	if running {
		c.t.Fatalf("clustertest: %s is running", id)
	}
	return c.boot(m, false)
}

// Partition cuts the given nodes off from the others (they still reach
// each other). Not available with TCP().
func (c *Cluster) Partition(ids ...string) {
	c.t.Helper()
	if c.tcp {
		c.t.Fatal("clustertest: Partition needs the in-memory transport")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		c.cut[id] = true
	}
	c.rewireLocked()
}

// Heal reconnects every running node with every other.
func (c *Cluster) Heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = map[string]bool{}
	c.rewireLocked()
}

func (c *Cluster) rewireLocked() {
	for _, m := range c.members {
		if m.node != nil {
			c.wireLocked(m)
		}
	}
}

func (c *Cluster) reachable(a, b string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ma, mb := c.members[a], c.members[b]
	return ma != nil && mb != nil && ma.node != nil && mb.node != nil && c.cut[a] == c.cut[b]
}

// WaitFor polls cond until it holds, failing the test after Timeout.
func (c *Cluster) WaitFor(what string, cond func() bool) time.Duration {
	c.t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > Timeout {
			c.t.Fatalf("clustertest: timed out after %v waiting for %s", Timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// WaitConverged waits until every running node on the uncut side has
// applied the leader's last index and holds the same state.
func (c *Cluster) WaitConverged() {
	c.t.Helper()
	why := ""
	start := time.Now()
	for {
		if why = c.convergedWhy(); why == "" {
			return
		}
		if time.Since(start) > Timeout {
			c.t.Fatalf("clustertest: timed out after %v waiting for all nodes to converge: %s", Timeout, why)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// convergedWhy returns "" once the uncut side has converged, or what
// still differs (so a timeout says which node lags and how).
func (c *Cluster) convergedWhy() string {
	lid := c.WaitLeader()
	leader := c.Node(lid)
	if leader == nil {
		return "no leader"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := leader.Barrier(ctx); err != nil {
		return fmt.Sprintf("leader %s barrier: %v", lid, err) // it has not applied its whole log yet
	}
	want := leader.AppliedIndex()
	wantState := stateJSON(leader)
	for _, id := range c.majority() {
		n := c.Node(id)
		switch {
		case n == nil:
			return fmt.Sprintf("%s is not running", id)
		case n.AppliedIndex() < want:
			return fmt.Sprintf("%s applied index %d < leader %s's %d (raft state %v, last contact %v)",
				id, n.AppliedIndex(), lid, want, n.Raft().State(), n.Raft().LastContact())
		}
		if got := stateJSON(n); got != wantState {
			return fmt.Sprintf("%s's state differs from leader %s's: %s", id, lid, firstDiff(got, wantState))
		}
	}
	return ""
}

// firstDiff shows both texts around the first byte where they differ.
func firstDiff(got, want string) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	around := func(s string) string {
		lo, hi := max(0, i-200), min(len(s), i+200)
		return s[lo:hi]
	}
	return fmt.Sprintf("at byte %d (of %d / %d)\n  node:   …%s…\n  leader: …%s…", i, len(got), len(want), around(got), around(want))
}

func stateJSON(n *cluster.Node) string {
	b, _ := json.Marshal(n.State())
	return string(b)
}

func (c *Cluster) stopAll() {
	c.mu.Lock()
	var nodes []*cluster.Node
	for _, m := range c.members {
		if m.node != nil {
			nodes = append(nodes, m.node)
			m.node, m.handler = nil, nil
		}
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() { _ = n.Stop() })
	}
	wg.Wait()
}

// forwarder is the in-process Forwarder of node self: it hands the
// request to the leader's Node.Handle, as the leader's HTTP handler would,
// unless the two are on different sides of a partition or the leader is
// dead (then it fails like an unreachable HTTP peer).
type forwarder struct {
	c    *Cluster
	self string
}

var errUnreachable = errors.New("clustertest: leader unreachable")

func (f forwarder) Forward(ctx context.Context, leader cluster.LeaderInfo, req cluster.Request) (cluster.Result, error) {
	var to string
	f.c.mu.Lock()
	for id, m := range f.c.members {
		if m.apiAddr == leader.APIAddr {
			to = id
		}
	}
	f.c.mu.Unlock()
	if to == "" || !f.c.reachable(f.self, to) {
		return cluster.Result{}, errors.Join(errUnreachable, &cluster.NotLeaderError{})
	}
	n := f.c.Node(to)
	if n == nil {
		return cluster.Result{}, errors.Join(errUnreachable, &cluster.NotLeaderError{})
	}
	return n.Handle(ctx, req)
}

// Dialable reports whether addr accepts TCP connections (for tests that
// check a killed node's port is closed).
func Dialable(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}
