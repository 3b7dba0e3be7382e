package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/monitor"
	"github.com/unyo-ops/unyo/monitor/target"
)

// ClusterOptions configure the node's Raft membership (package cluster).
// `unyo serve` always sets DataDir, so it always runs Raft; an embedding
// program or test that leaves DataDir empty runs without Raft and acts as
// its own leader.
type ClusterOptions struct {
	DataDir   string
	Site      string
	Bind      string // Raft transport host:port
	Advertise string // host:port other nodes dial (default: bound address)
	// APIAddr is the host:port other nodes reach this node's HTTP API on
	// (default: the bound HTTP address).
	APIAddr   string
	Bootstrap bool
	// Join lists API URLs of members to ask to add this node.
	Join        []string
	JoinTimeout time.Duration
	// JoinToken is the join token sent with the join request (`unyo
	// cluster token create` on a member).
	JoinToken string
	// BootstrapJoinToken, on the bootstrapping node, is recorded as a join
	// token valid for BootstrapJoinTokenTTL the first time it leads.
	BootstrapJoinToken    string
	BootstrapJoinTokenTTL time.Duration
	// TLS, if set, makes the Raft transport mutual TLS.
	TLS *tls.Config
	// HeartbeatTimeout, ElectionTimeout and LeaderLeaseTimeout are Raft's
	// failure detection (cluster.Options); zero: cluster's defaults.
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration
	// Tune adjusts the Raft options (tests shorten timeouts).
	Tune func(*cluster.Options)
}

// HTTP paths the cluster mounts on the node's listener.
const (
	// SelfPath answers this node's JoinRequest (members only).
	SelfPath = "/v1/cluster/self"
)

// newCluster creates the Raft node once the HTTP port is bound.
func (n *Node) newCluster() error {
	o := n.opts.Cluster
	if o.DataDir == "" {
		return nil
	}
	if o.Bootstrap {
		// The cluster secret key is born with the cluster (see
		// sharedconfig.go); a join gives it to the other members.
		if _, err := n.createSecretKey(); err != nil {
			return err
		}
	}
	api := o.APIAddr
	if api == "" {
		api = n.Addr()
	}
	co := cluster.Options{
		NodeID: n.opts.Name, Site: o.Site, BindAddr: o.Bind, AdvertiseAddr: o.Advertise,
		APIAddr: api, DataDir: o.DataDir, Bootstrap: o.Bootstrap, Joining: len(o.Join) > 0,
		Logger: n.opts.Logger, Registerer: n.opts.Registry,
		Forwarder: &cluster.HTTPForwarder{Client: n.peerClient(15 * time.Second), Scheme: n.scheme(),
			Credential: n.memberCredential},
		TransferLeadershipOnStop: true,
		TLS:                      o.TLS,
		ValidateConfig: func(data []byte) error {
			_, err := configs.Parse("<forwarded config>", data)
			return err
		},
		BootstrapJoinToken: o.BootstrapJoinToken, BootstrapJoinTokenTTL: o.BootstrapJoinTokenTTL,
		HeartbeatTimeout: o.HeartbeatTimeout, ElectionTimeout: o.ElectionTimeout, LeaderLeaseTimeout: o.LeaderLeaseTimeout,
	}
	if o.Tune != nil {
		o.Tune(&co)
	}
	r, err := cluster.New(co)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.raft = r
	n.keyReady = make(chan struct{})
	if _, err := r.SecretKey(); err == nil {
		close(n.keyReady)
	} else if len(o.Join) == 0 {
		// Nothing will bring the key: say so, and do not hold up the
		// shared configuration for it.
		n.log.Warn("no cluster secret key and nobody to join: copy "+cluster.SecretKeyFile+" from a member into "+o.DataDir, "err", err)
		close(n.keyReady)
	}
	return nil
}

// memberCredential is this node's member credential, sent on every
// member→member call ("" before it has one).
func (n *Node) memberCredential() string {
	if n.raft == nil {
		return ""
	}
	return n.raft.MemberCredential()
}

// memberRequest makes a member→member request carrying the credential.
func (n *Node) memberRequest(ctx context.Context, method, url string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c := n.memberCredential(); c != "" {
		req.Header.Set("Authorization", "Bearer "+c)
	}
	return req, nil
}

// Cluster returns the node's Raft member, nil when it runs without Raft.
func (n *Node) Cluster() *cluster.Node { return n.raft }

// IsLeader reports whether this node leads the cluster (always true
// without Raft).
func (n *Node) IsLeader() bool { return n.raft == nil || n.raft.IsLeader() }

// registerCluster registers the cluster routes on m, each with the action
// it performs (auth/actions.go): members call forward, self and recheck;
// a join token (or an admin) joins; an admin makes join tokens.
func (n *Node) registerCluster(m *auth.Mux) {
	if n.raft == nil {
		return
	}
	actor := func(r *http.Request) string { return auth.FromRequest(r).Actor() }
	m.Handle("POST "+cluster.ForwardPath, auth.ActionClusterInternal, n.raft.ForwardHandler())
	m.Handle("POST /v1/cluster/join", auth.ActionClusterJoin, n.raft.JoinHandler())
	m.Handle("POST /v1/cluster/leave", auth.ActionClusterLeave, n.raft.LeaveHandler())
	m.Handle("POST /v1/cluster/transfer-leadership", auth.ActionClusterTransfer, n.raft.TransferHandler())
	m.Handle("GET /v1/cluster/status", auth.ActionClusterRead, n.raft.StatusHandler())
	m.Handle("POST "+TokensPath, auth.ActionClusterToken, n.raft.TokenHandler(actor))
	m.Handle("GET "+TokensPath, auth.ActionClusterToken, n.raft.TokenListHandler())
	m.Handle("POST "+TokensPath+"/revoke", auth.ActionClusterToken, n.raft.TokenRevokeHandler())
	m.HandleFunc("GET "+SelfPath, auth.ActionClusterInternal, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(n.joinRequest())
	})
	m.HandleFunc("POST "+RecheckPath, auth.ActionClusterInternal, n.recheckHandler)
	m.HandleFunc("POST "+ConfigPath, auth.ActionClusterConfig, n.configHandler)
}

// TokensPath is where join tokens are made (POST), listed (GET) and
// revoked (POST …/revoke).
const TokensPath = "/v1/cluster/tokens"

func (n *Node) joinRequest() cluster.JoinRequest {
	api := n.opts.Cluster.APIAddr
	if api == "" {
		api = n.Addr()
	}
	return cluster.JoinRequest{NodeID: n.opts.Name, RaftAddr: n.raft.Addr(), Site: n.opts.Cluster.Site, APIAddr: api}
}

// startCluster starts Raft, the join loop and the followers of leadership
// and target assignment.
func (n *Node) startCluster(ctx context.Context) error {
	if n.raft == nil {
		return nil
	}
	if err := n.raft.Start(); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if len(n.opts.Cluster.Join) > 0 {
		n.bg.Add(1)
		go func() { defer n.bg.Done(); n.joinLoop(ctx) }()
	}
	n.bg.Add(3)
	go func() { defer n.bg.Done(); n.followLeadership(ctx) }()
	go func() { defer n.bg.Done(); n.followAssignments(ctx) }()
	go func() { defer n.bg.Done(); n.followConfig(ctx) }()
	return nil
}

func (n *Node) stopCluster() {
	if n.raft != nil {
		if err := n.raft.Stop(); err != nil {
			n.log.Warn("raft stop", "err", err)
		}
	}
}

// joinLoop asks the configured members, in turn, to add this node until
// one does or the join timeout passes.
func (n *Node) joinLoop(ctx context.Context) {
	o := n.opts.Cluster
	timeout := o.JoinTimeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	jr := n.joinRequest()
	body, _ := json.Marshal(jr)
	jr.KeyOnly = true
	keyBody, _ := json.Marshal(jr)
	hc := n.peerClient(10 * time.Second)
	if o.JoinToken == "" {
		n.log.Warn("cluster.join is set but cluster.join_token is not: the members will refuse the join")
	}
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		if slices.ContainsFunc(n.raft.Members(), func(m cluster.Member) bool { return m.ID == n.opts.Name }) && n.raft.InQuorum() {
			n.log.Info("cluster member", "leader", n.raft.Leader().ID)
			if _, err := n.raft.SecretKey(); err != nil {
				// A member from before join answers carried the key.
				n.log.Error("this member has no cluster secret key: copy "+cluster.SecretKeyFile+" from a member into the cluster data directory", "err", err)
				select {
				case <-n.keyReady:
				default:
					close(n.keyReady)
				}
			}
			return
		}
		var errs []error
		for _, u := range o.Join {
			// First the secret key (the Raft handshake needs it before
			// the leader adds this node), then the membership.
			ans, err := postJoin(ctx, hc, u, o.JoinToken, keyBody)
			if err == nil {
				err = n.storeJoinAnswer(ans)
			}
			if err == nil {
				ans, err = postJoin(ctx, hc, u, o.JoinToken, body)
			}
			if err == nil {
				err = n.storeJoinAnswer(ans)
			}
			if err == nil {
				n.log.Info("joined the cluster", "via", u)
				return
			}
			errs = append(errs, err)
		}
		n.log.Warn("cluster join failed; retrying", "retry_in", backoff, "err", errors.Join(errs...))
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		n.log.Error("cluster join gave up", "after", timeout)
	}
}

// storeJoinAnswer keeps the credential and the cluster secret key a
// member handed this node (before any shared config is applied: see
// followConfig).
func (n *Node) storeJoinAnswer(a cluster.JoinAnswer) error {
	if err := n.raft.SetSecretKey(a.SecretKey); err != nil {
		return fmt.Errorf("join answer: %w", err)
	}
	if a.Credential != "" {
		if err := n.raft.SetMemberCredential(a.Credential); err != nil {
			return fmt.Errorf("join answer: %w", err)
		}
	}
	select {
	case <-n.keyReady:
	default:
		close(n.keyReady)
	}
	return nil
}

// PostJoin asks the member at base (http(s)://host:port) to add the node
// described by req, proving the right with a join token, with hc (nil: a
// plain client with a 30 s timeout), and returns the answer (the node's
// member credential and the cluster secret key).
func PostJoin(ctx context.Context, hc *http.Client, base, token string, req cluster.JoinRequest) (cluster.JoinAnswer, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return cluster.JoinAnswer{}, err
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return postJoin(ctx, hc, base, token, body)
}

func postJoin(ctx context.Context, hc *http.Client, base, token string, body []byte) (cluster.JoinAnswer, error) {
	var ans cluster.JoinAnswer
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/v1/cluster/join", bytes.NewReader(body))
	if err != nil {
		return ans, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return ans, fmt.Errorf("join via %s: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return ans, fmt.Errorf("join via %s: HTTP %d: %s", base, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	var out struct {
		Join *cluster.JoinAnswer `json:"join"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil {
		return ans, fmt.Errorf("join via %s: answer: %w", base, err)
	}
	if out.Join == nil || len(out.Join.SecretKey) != cluster.SecretKeySize {
		return ans, fmt.Errorf("join via %s: the answer lacks the member credential or the secret key", base)
	}
	return *out.Join, nil
}

// followLeadership makes the leader (and only it) run escalation, and
// publishes the configured targets into the replicated assignment when
// this node becomes leader.
func (n *Node) followLeadership(ctx context.Context) {
	apply := func(leader bool) {
		if e := n.jobnetEngine(); e != nil && leader {
			e.Wake() // schedule now: a job due meanwhile starts at once
		}
		if n.esc != nil {
			n.esc.SetActive(leader)
		}
		if leader {
			n.seedConfig(ctx)
			n.publishTargets(ctx)
		}
		n.log.Info("leadership", "leader", leader)
	}
	apply(n.raft.IsLeader())
	for {
		select {
		case <-ctx.Done():
			return
		case l := <-n.raft.LeaderCh():
			apply(l)
		}
	}
}

// publishTargets writes the configured targets into the replicated state;
// the leader's reconcile loop assigns them to live members.
func (n *Node) publishTargets(ctx context.Context) {
	if n.mon == nil {
		return
	}
	targets := n.mon.targetList()
	ts := make([]cluster.Target, 0, len(targets))
	for _, t := range targets {
		ts = append(ts, cluster.Target{Name: t.Name, Site: t.Site})
	}
	for attempt := 0; ctx.Err() == nil && attempt < 20; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := n.raft.SetTargets(actx, ts)
		cancel()
		if err == nil {
			return
		}
		if !n.raft.IsLeader() {
			return // the next leader publishes
		}
		n.log.Warn("publish targets", "err", err)
		time.Sleep(250 * time.Millisecond)
	}
}

// followAssignments runs the checks of exactly the targets assigned to
// this node.
func (n *Node) followAssignments(ctx context.Context) {
	if n.mon == nil {
		return
	}
	watch := n.raft.WatchAssignments(ctx)
	var names []string
	for {
		select {
		case <-ctx.Done():
			return
		case ns, ok := <-watch:
			if !ok {
				return
			}
			names = ns
		case <-n.reassign:
			// targets reloaded: same assignment, new check settings
		}
		mine := make(map[string]bool, len(names))
		for _, name := range names {
			mine[name] = true
		}
		var ts []target.Target
		all := n.mon.targetList()
		for _, t := range all {
			if mine[t.Name] {
				ts = append(ts, t)
			}
		}
		if err := n.mon.sched.SetTargets(ts); err != nil {
			n.log.Error("assigned targets", "err", err)
			continue
		}
		n.log.Info("checking assigned targets", "targets", len(ts), "of", len(all))
	}
}

// checkSink is where the scheduler's events go: the bus, but only while
// this node is in the cluster's quorum, so a node cut off in a minority
// opens no incidents on its own (its targets move to the majority). It is
// a monitor.BatchSink: the ping checks' events of a turn go into the spool
// in one append (one fsync), not one each.
func (n *Node) checkSink() monitor.Sink {
	if n.opts.Cluster.DataDir == "" {
		return n.ingest.in
	}
	return clusterCheckSink{n}
}

type clusterCheckSink struct{ n *Node }

var _ monitor.BatchSink = clusterCheckSink{}

func (s clusterCheckSink) Publish(ctx context.Context, ev incident.Event) error {
	return s.PublishBatch(ctx, []incident.Event{ev})
}

func (s clusterCheckSink) PublishBatch(ctx context.Context, evs []incident.Event) error {
	n := s.n
	if n.raft != nil && !n.raft.InQuorum() {
		n.withheld.Add(float64(len(evs)))
		return errNoQuorum
	}
	out := make([]incident.Event, 0, len(evs))
	for _, ev := range evs {
		ev = n.confirm(ctx, ev)
		if ev.Source == "ping" && ev.Check == "ping" && ev.Status == incident.OK && n.raft != nil {
			out = append(out, n.pathOK(ev))
		}
		out = append(out, ev)
	}
	return n.ingest.in.PublishBatch(ctx, out)
}

// errNoQuorum: this node is not in the cluster's quorum.
var errNoQuorum = errors.New("not in the cluster quorum: event withheld")

// clusterReady is the /readyz check for Raft.
func (n *Node) clusterReady(context.Context) error {
	if n.raft == nil || n.raft.InQuorum() {
		return nil
	}
	return fmt.Errorf("not in quorum (state %s, leader %q)", n.raft.Status().State, n.raft.Leader().ID)
}

// clusterCounters is the state the cluster wiring keeps.
type clusterCounters struct {
	// withheld counts check events not published because this node was
	// outside the quorum (unyo_node_check_events_withheld_total).
	withheld prometheus.Counter
	reassign chan struct{} // reload → followAssignments
	// keyReady is closed once the cluster secret key is in the data
	// directory (at once on the bootstrapping node, after the join answer
	// on a joiner); shared config waits for it.
	keyReady chan struct{}
}
