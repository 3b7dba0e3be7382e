package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/postgres"
	"github.com/unyo-ops/unyo/alerting/ledger/postgres/pgtest"
	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/jobnet/runstate"
	"github.com/unyo-ops/unyo/test/testutil"
)

// nsNet is the test network of a netns cluster: each node in a network
// namespace of its own, with a cluster link (a veth on one bridge, where
// Raft, NATS routes and node-to-node HTTP go) and a management link (a
// veth to the test's namespace, where the test reaches the node's API and
// the node reaches PostgreSQL through a proxy). Cutting a node's cluster
// link cuts it off from its peers only.
type nsNet struct {
	t      *testing.T
	tag    string
	oct    int
	ns     []string
	links  []string // the test-side ends of the cluster links
	pgURLs []string // PostgreSQL, through each node's management link
}

func (n *nsNet) ip(args ...string) {
	n.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		n.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func (n *nsNet) clusterIP(i int) string { return fmt.Sprintf("10.213.%d.%d", n.oct, i+1) }
func (n *nsNet) mgmtIP(i int) string    { return fmt.Sprintf("10.214.%d.%d", n.oct, 4*i+2) }

// newNSNet makes the namespaces, links and PostgreSQL proxies of nodes
// nodes; everything is removed at the end of the test.
func newNSNet(t *testing.T, nodes int, dbURL string) *nsNet {
	t.Helper()
	n := &nsNet{t: t, tag: fmt.Sprintf("%04x", rand.IntN(1<<16)), oct: 10 + rand.IntN(240)}
	br := "ubr" + n.tag
	n.ip("link", "add", br, "type", "bridge")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", br).Run() })
	n.ip("link", "set", br, "up")
	pg, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	for i := range nodes {
		ns := fmt.Sprintf("unyo-p%s-%d", n.tag, i)
		n.ip("netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		n.ns = append(n.ns, ns)
		cl, mg := fmt.Sprintf("upc%s%d", n.tag, i), fmt.Sprintf("upm%s%d", n.tag, i)
		n.links = append(n.links, cl)
		n.ip("link", "add", cl, "type", "veth", "peer", "name", "eth0", "netns", ns)
		n.ip("link", "set", cl, "master", br)
		n.ip("link", "set", cl, "up")
		n.ip("-n", ns, "addr", "add", n.clusterIP(i)+"/24", "dev", "eth0")
		n.ip("-n", ns, "link", "set", "eth0", "up")
		n.ip("-n", ns, "link", "set", "lo", "up")
		n.ip("link", "add", mg, "type", "veth", "peer", "name", "m0", "netns", ns)
		n.ip("addr", "add", fmt.Sprintf("10.214.%d.%d/30", n.oct, 4*i+1), "dev", mg)
		n.ip("link", "set", mg, "up")
		n.ip("-n", ns, "addr", "add", n.mgmtIP(i)+"/30", "dev", "m0")
		n.ip("-n", ns, "link", "set", "m0", "up")
		px := testutil.NewProxyOn(t, fmt.Sprintf("10.214.%d.%d:0", n.oct, 4*i+1), pg.Host)
		u := *pg
		u.Host = px.Addr()
		n.pgURLs = append(n.pgURLs, u.String())
	}
	return n
}

// cut takes node i's cluster link down (heal: up again).
func (n *nsNet) cut(i int)  { n.ip("link", "set", n.links[i], "down") }
func (n *nsNet) heal(i int) { n.ip("link", "set", n.links[i], "up") }

// startNetnsThree starts three `unyo serve` nodes, one per namespace of a
// new nsNet, in one cluster (Raft, NATS routes, streams replicated to 3,
// one PostgreSQL ledger); extra is appended to every node's config.
func startNetnsThree(t *testing.T, extra string) (*threeNodes, *nsNet) {
	t.Helper()
	c := &threeNodes{t: t, dbURL: pgtest.NewDatabase(t)}
	n := newNSNet(t, 3, c.dbURL)
	const httpPort, raftPort, routePort = 8080, 7000, 6222 // each namespace has its own ports
	for i := range 3 {
		c.names = append(c.names, fmt.Sprintf("n%d", i))
		c.addrs = append(c.addrs, fmt.Sprintf("%s:%d", n.mgmtIP(i), httpPort))
	}
	for i := range 3 {
		dir := t.TempDir()
		var routes []string
		for j := range 3 {
			if j != i {
				routes = append(routes, fmt.Sprintf("%q", fmt.Sprintf("nats-route://%s:%d", n.clusterIP(j), routePort)))
			}
		}
		join := fmt.Sprintf("  bootstrap_join_token: %q\n", e2eJoinToken)
		if i > 0 {
			join = fmt.Sprintf("  join: [%q]\n  join_token: %q\n", fmt.Sprintf("http://%s:%d", n.clusterIP(0), httpPort), e2eJoinToken)
		}
		c.dirs = append(c.dirs, dir)
		cfg := fmt.Sprintf(`node:
  name: %s
  data_dir: %q
http:
  listen: "0.0.0.0:%d"
  insecure: true
  external_url: "http://%s:%d"
cluster:
  bind: "%s:%d"
%snats:
  embedded:
    cluster:
      name: unyo-netns
      listen: "%s:%d"
      routes: [%s]
  stream:
    replicas: 3
ledger:
  driver: postgres
  postgres:
    url: %q
log:
  level: debug
%s`, c.names[i], dir, httpPort, n.clusterIP(i), httpPort, n.clusterIP(i), raftPort, join,
			n.clusterIP(i), routePort, strings.Join(routes, ", "), n.pgURLs[i], extra)
		path := filepath.Join(dir, "unyo.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		c.cfgs = append(c.cfgs, path)
	}
	for i := range 3 {
		c.procs = append(c.procs, testutil.StartNetns(t, n.ns[i], c.cfgs[i], "http://"+c.addrs[i]))
	}
	for _, p := range c.procs {
		p.WaitReady(120 * time.Second)
	}
	return c, n
}

// answer is one request to the cut-off node and what it got.
type answer struct {
	what  string
	code  int // 0: no answer (transport error or the client's timeout)
	retry string
	body  string
	took  time.Duration
	err   error
}

// requestBound is how long any request may go unanswered: the spool's
// append timeout (5 s) or the 2 s wait for a leader, with room for a
// loaded machine. Past it, a request counts as hanging.
const requestBound = 20 * time.Second

func ask(what, method, u string, body any) answer {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, u, bytes.NewReader(b))
	if err != nil {
		return answer{what: what, err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testutil.AdminToken)
	hc := &http.Client{Timeout: requestBound}
	start := time.Now()
	resp, err := hc.Do(req)
	a := answer{what: what, took: time.Since(start), err: err}
	if err != nil {
		return a
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	a.code, a.retry, a.body = resp.StatusCode, resp.Header.Get("Retry-After"), string(rb)
	return a
}

// TestPartitionedNode: the leader of a three-node cluster, each node in a
// network namespace of its own, is cut off from its two peers (its cluster
// link taken down) while one of its local jobs runs. Every request to it
// is answered within its bound (events: 202 from the spool or a prompt
// 503; jobnet run of a jobnet with no live run: a prompt 503 naming the
// missing leader), nothing it
// accepted is lost after the link comes back, and the job that ran
// through the cut is recorded as run, ended normally, where it ran.
//
// Three nodes in namespaces take minutes on a loaded machine: the test
// runs with UNYO_TEST_PARTITION=1 (as root, with iproute2).
func TestPartitionedNode(t *testing.T) {
	if os.Getenv("UNYO_TEST_PARTITION") == "" {
		t.Skip("set UNYO_TEST_PARTITION=1 to run three nodes in network namespaces (root)")
	}
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 (ip) not installed: scripts/test-deps.sh")
	}
	c, n := startNetnsThree(t, `jobnets:
  - name: cut
    jobs:
      - {name: a, command: /bin/sh, args: ["-c", "sleep 5; echo ran through the cut"]}
  - name: other
    jobs:
      - {name: p, command: /bin/true}
`)
	ctx := context.Background()
	old := c.leader()
	lc, err := client.New("http://"+c.addrs[old], client.WithToken(testutil.AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	runID, err := lc.StartRun(ctx, "cut", nil)
	if err != nil {
		t.Fatalf("start the run on the leader: %v", err)
	}
	waitFor(t, "job a running on the leader", func() bool {
		r, err := lc.Run(ctx, runID)
		return err == nil && len(r.Jobs) > 0 && r.Jobs[0].State == string(runstate.Running)
	})

	base := "http://" + c.addrs[old]
	cut := time.Now()
	n.cut(old)
	t.Logf("cut %s (the leader) off from its peers", c.names[old])

	// Requests to the cut-off node while the job ends there.
	var (
		mu      sync.Mutex
		answers []answer
		sent    []string
	)
	record := func(a answer) {
		mu.Lock()
		answers = append(answers, a)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for k := 0; k < 20; k++ {
			ev := incident.Event{ID: fmt.Sprintf("cut-%d", k), Target: "app", Check: "cut", Severity: incident.Minor, Message: "sent to a node cut off"}
			a := ask("event "+ev.ID, http.MethodPost, base+"/api/v1/events", []incident.Event{ev})
			mu.Lock()
			sent = append(sent, ev.ID)
			mu.Unlock()
			record(a)
			time.Sleep(300 * time.Millisecond)
		}
	})
	wg.Go(func() {
		for k := 0; k < 3; k++ {
			record(ask("jobnet run", http.MethodPost, base+"/api/v1/jobnets/other/runs", map[string]any{}))
			time.Sleep(2 * time.Second)
		}
	})
	wg.Wait()
	waitFor(t, "the cut-off node to keep the job's end for the leader", func() bool {
		return strings.Contains(c.procs[old].Log(), "kept for the leader")
	})
	n.heal(old)
	t.Logf("healed after %s", time.Since(cut).Round(time.Millisecond))

	var accepted []string
	var slowest time.Duration
	for _, a := range answers {
		slowest = max(slowest, a.took)
		switch {
		case a.code == 0:
			t.Errorf("%s: no answer within %s: %v", a.what, requestBound, a.err)
		case strings.HasPrefix(a.what, "event"):
			switch a.code {
			case http.StatusAccepted:
				accepted = append(accepted, strings.TrimPrefix(a.what, "event "))
			case http.StatusServiceUnavailable:
				if a.retry == "" {
					t.Errorf("%s: 503 without Retry-After", a.what)
				}
			default:
				t.Errorf("%s: HTTP %d %s", a.what, a.code, a.body)
			}
		default: // jobnet run
			if a.code != http.StatusServiceUnavailable || !strings.Contains(a.body, "no leader") {
				t.Errorf("%s on the cut-off node: HTTP %d %s, want 503 naming no leader", a.what, a.code, a.body)
			}
		}
	}
	t.Logf("cut-off node: %d requests answered, slowest %s; %d of %d events accepted (202)", len(answers), slowest.Round(time.Millisecond), len(accepted), len(sent))
	if len(accepted) == 0 {
		t.Errorf("no event accepted by the cut-off node: its spool should take them")
	}

	// Nothing accepted is lost, nothing doubled.
	s, err := postgres.Open(ctx, c.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitFor(t, "every event the cut-off node accepted in the ledger", func() bool {
		for _, id := range accepted {
			if ok, _, err := s.EventApplied(ctx, id); err != nil || !ok {
				return false
			}
		}
		return true
	})
	var applied int64
	for _, id := range sent {
		if ok, _, _ := s.EventApplied(ctx, id); ok {
			applied++
		}
	}
	incs, err := s.Incidents(ctx, ledger.Filter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var count int64
	for _, i := range incs {
		if i.Check == "cut" {
			count += i.Count
		}
	}
	if count != applied {
		t.Errorf("the cut incidents count %d occurrences, %d of the events are in the ledger", count, applied)
	}

	// The job that ran through the cut is recorded as run, where it ran.
	var job ledger.JobRecord
	waitFor(t, "the job that ran through the cut recorded as ended", func() bool {
		for i := range c.procs {
			cl, err := client.New("http://"+c.addrs[i], client.WithToken(testutil.AdminToken))
			if err != nil {
				continue
			}
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			r, err := cl.Run(qctx, runID)
			cancel()
			if err == nil && len(r.Jobs) > 0 && r.Jobs[0].State == string(runstate.EndedNormal) {
				job = r.Jobs[0]
				return true
			}
		}
		return false
	})
	if (job.Where != c.names[old] && job.Where != "node:"+c.names[old]) || !strings.Contains(job.Output, "ran through the cut") {
		t.Errorf("job a: %+v, want ended-normal on %s with its output", job, c.names[old])
	}
}
