package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// Join adds a node to the cluster as a voter and records its member
// record (site, API address). It runs on the leader; on a follower it is
// forwarded through Options.Forwarder, or returns a *NotLeaderError.
// Joining again with the same id and address is a no-op apart from
// updating the record; a new address for a known id replaces the old one.
//
// The joining node itself starts with Bootstrap false and an empty data
// directory, and asks any member (usually over the node's HTTP API) to
// call Join for it.
func (n *Node) Join(ctx context.Context, nodeID, raftAddr, site, apiAddr string) error {
	_, err := n.JoinMember(ctx, JoinRequest{NodeID: nodeID, RaftAddr: raftAddr, Site: site, APIAddr: apiAddr})
	return err
}

// JoinMember is Join returning the member credential the leader minted
// for the node (see credentials.go): the joiner's only copy.
func (n *Node) JoinMember(ctx context.Context, jr JoinRequest) (credential string, err error) {
	if err := jr.validate(false); err != nil {
		return "", err
	}
	res, err := n.do(ctx, Request{Op: OpJoin, NodeID: jr.NodeID, RaftAddr: jr.RaftAddr, Site: jr.Site, APIAddr: jr.APIAddr})
	return res.Credential, err
}

func (n *Node) joinLocal(ctx context.Context, req Request) (Result, error) {
	r, err := n.running()
	if err != nil {
		return Result{}, err
	}
	if r.State() != raft.Leader {
		return Result{}, n.notLeader()
	}
	id, addr := raft.ServerID(req.NodeID), raft.ServerAddress(req.RaftAddr)
	cf := r.GetConfiguration()
	if err := cf.Error(); err != nil {
		return Result{}, fmt.Errorf("cluster: join %s: %w", id, err)
	}
	present := false
	for _, s := range cf.Configuration().Servers {
		switch {
		case s.ID == id && s.Address == addr && s.Suffrage == raft.Voter:
			present = true
		case s.ID == id || s.Address == addr:
			// Same id at a new address, or a new id at an old address:
			// the old entry goes first (a rebuilt node, a reused address).
			n.log.Info("replacing server entry", "old_id", s.ID, "old_addr", s.Address, "id", id, "addr", addr)
			if err := waitFuture(ctx, r.RemoveServer(s.ID, 0, n.opts.ApplyTimeout)); err != nil {
				return Result{}, n.leaderErr(fmt.Errorf("cluster: join %s: remove old entry %s: %w", id, s.ID, err))
			}
		}
	}
	if !present {
		if err := n.probePeerTLS(ctx, addr); err != nil {
			return Result{}, fmt.Errorf("%w: join %s: %w", ErrBadCommand, id, err)
		}
		if err := waitFuture(ctx, r.AddVoter(id, addr, 0, n.opts.ApplyTimeout)); err != nil {
			return Result{}, n.leaderErr(fmt.Errorf("cluster: join %s: add voter: %w", id, err))
		}
		n.log.Info("member joined", "id", id, "addr", addr, "site", req.Site)
	}
	jr := JoinRequest{NodeID: req.NodeID, RaftAddr: req.RaftAddr, Site: req.Site, APIAddr: req.APIAddr}
	if err := jr.validate(false); err != nil {
		return Result{}, err
	}
	cred, err := newSecret(MemberCredPrefix)
	if err != nil {
		return Result{}, err
	}
	res, err := n.applyTyped(ctx, CmdMemberUpsert, memberUpsert{
		Member:   Member{ID: req.NodeID, RaftAddr: req.RaftAddr, Site: req.Site, APIAddr: req.APIAddr},
		CredHash: HashCredential(cred),
	})
	if err != nil {
		return res, err
	}
	res.Credential = cred
	return res, nil
}

// leaderErr turns raft's not-leader into a *NotLeaderError with a hint.
func (n *Node) leaderErr(err error) error {
	if errors.Is(err, raft.ErrNotLeader) {
		return errors.Join(err, n.notLeader())
	}
	return err
}

// Leave removes a node from the cluster (Raft configuration and member
// record); its targets move to the others. The removed node's Raft shuts
// itself down; the node should then Stop it. Leaving the leader first
// hands leadership to another voter. Runs on the leader; forwarded like
// Join.
func (n *Node) Leave(ctx context.Context, nodeID string) error {
	if nodeID == "" {
		return fmt.Errorf("%w: leave needs a node id", ErrBadCommand)
	}
	_, err := n.do(ctx, Request{Op: OpLeave, NodeID: nodeID})
	return err
}

func (n *Node) leaveLocal(ctx context.Context, nodeID string) (Result, error) {
	r, err := n.running()
	if err != nil {
		return Result{}, err
	}
	if r.State() != raft.Leader {
		return Result{}, n.notLeader()
	}
	if nodeID == n.opts.NodeID && voters(r) > 1 {
		// Hand leadership on; the caller's retry loop then forwards the
		// leave to the new leader.
		if err := waitFuture(ctx, r.LeadershipTransfer()); err != nil {
			return Result{}, fmt.Errorf("cluster: leave %s: transfer leadership: %w", nodeID, err)
		}
		return Result{}, &NotLeaderError{}
	}
	cf := r.GetConfiguration()
	if err := cf.Error(); err != nil {
		return Result{}, fmt.Errorf("cluster: leave %s: %w", nodeID, err)
	}
	inRaft := slices.ContainsFunc(cf.Configuration().Servers, func(s raft.Server) bool { return string(s.ID) == nodeID })
	_, recorded := n.fsm.member(nodeID)
	if !inRaft && !recorded {
		return Result{}, fmt.Errorf("%w: %q", ErrUnknownMember, nodeID)
	}
	if inRaft {
		if err := waitFuture(ctx, r.RemoveServer(raft.ServerID(nodeID), 0, n.opts.ApplyTimeout)); err != nil {
			return Result{}, n.leaderErr(fmt.Errorf("cluster: leave %s: remove server: %w", nodeID, err))
		}
		n.log.Info("member left", "id", nodeID)
	}
	if nodeID == n.opts.NodeID {
		return Result{}, nil // removed the last voter, ourselves; nothing more can commit
	}
	return n.applyTyped(ctx, CmdMemberRemove, MemberRemove{ID: nodeID})
}

// TransferLeadership hands leadership to node to, or to the most
// up-to-date other voter when to is empty, and waits for the hand-over.
// Runs on the leader; forwarded like Join.
func (n *Node) TransferLeadership(ctx context.Context, to string) error {
	_, err := n.do(ctx, Request{Op: OpTransfer, NodeID: to})
	return err
}

func (n *Node) transferLocal(ctx context.Context, to string) error {
	r, err := n.running()
	if err != nil {
		return err
	}
	if r.State() != raft.Leader {
		return n.notLeader()
	}
	if to == n.opts.NodeID {
		return nil
	}
	var f raft.Future
	if to == "" {
		f = r.LeadershipTransfer()
	} else {
		cf := r.GetConfiguration()
		if err := cf.Error(); err != nil {
			return fmt.Errorf("cluster: transfer leadership: %w", err)
		}
		i := slices.IndexFunc(cf.Configuration().Servers, func(s raft.Server) bool { return string(s.ID) == to })
		if i < 0 {
			return fmt.Errorf("%w: %q", ErrUnknownMember, to)
		}
		s := cf.Configuration().Servers[i]
		f = r.LeadershipTransferToServer(s.ID, s.Address)
	}
	if err := waitFuture(ctx, f); err != nil {
		return fmt.Errorf("cluster: transfer leadership to %q: %w", to, err)
	}
	return nil
}

// Status is this node's view of the cluster, for `unyo cluster status`.
type Status struct {
	NodeID string `json:"node_id"`
	Site   string `json:"site,omitempty"`
	Addr   string `json:"raft_addr"`
	State  string `json:"state"` // Leader, Follower, Candidate, Shutdown
	// InQuorum: see Node.InQuorum.
	InQuorum bool       `json:"in_quorum"`
	Leader   LeaderInfo `json:"leader"`
	Term     uint64     `json:"term"`
	// LastContact is when this follower last heard from the leader (zero
	// on the leader, or never); LastContactMS is how long ago, -1 if never.
	LastContact   time.Time      `json:"last_contact,omitzero"`
	LastContactMS int64          `json:"last_contact_ms"`
	LastIndex     uint64         `json:"last_index"`
	CommitIndex   uint64         `json:"commit_index"`
	AppliedIndex  uint64         `json:"applied_index"`
	Config        ConfigStatus   `json:"config"`
	Members       []MemberStatus `json:"members"`
	Targets       int            `json:"targets"`
	Unassigned    int            `json:"unassigned"`
}

// ConfigStatus summarises the active configuration.
type ConfigStatus struct {
	Version   int64     `json:"version"`
	Hash      string    `json:"hash,omitempty"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
	AppliedBy string    `json:"applied_by,omitempty"`
}

// MemberStatus is one member in Status.
type MemberStatus struct {
	Member
	Voter  bool `json:"voter"`
	Leader bool `json:"leader"`
	// Live is known only on the leader (nil elsewhere): false once the
	// leader has not heard from the member for the liveness timeout.
	Live *bool `json:"live,omitempty"`
	// LastContact is set on the leader while heartbeats to the member fail.
	LastContact     time.Time `json:"last_contact,omitzero"`
	AssignedTargets int       `json:"assigned_targets"`
}

// Status reports this node's view of the cluster. Membership liveness is
// only known on the leader; ask the leader for the full picture.
func (n *Node) Status() Status {
	st := Status{NodeID: n.opts.NodeID, Site: n.opts.Site, Addr: n.Addr(), State: raft.Shutdown.String(), LastContactMS: -1}
	s := n.fsm.core()
	st.AppliedIndex = n.fsm.AppliedIndex()
	st.Config = ConfigStatus{Version: s.Config.Version, Hash: s.Config.Hash, AppliedAt: s.Config.AppliedAt, AppliedBy: s.Config.AppliedBy}
	counts := map[string]int{}
	for _, a := range s.Targets {
		counts[a.Node]++
	}
	st.Targets, st.Unassigned = len(s.Targets), counts[""]

	r, err := n.running()
	var servers []raft.Server
	isLeader := false
	if err == nil {
		st.State = r.State().String()
		st.InQuorum = n.InQuorum()
		isLeader = r.State() == raft.Leader
		st.Leader = n.Leader()
		st.Term = r.CurrentTerm()
		st.LastIndex, st.CommitIndex = r.LastIndex(), r.CommitIndex()
		if !isLeader {
			if lc := r.LastContact(); !lc.IsZero() {
				st.LastContact, st.LastContactMS = lc, time.Since(lc).Milliseconds()
			}
		}
		if cf := r.GetConfiguration(); cf.Error() == nil {
			servers = cf.Configuration().Servers
		}
	}
	seen := map[string]bool{}
	now := time.Now()
	add := func(m Member, voter bool) {
		ms := MemberStatus{Member: m, Voter: voter, Leader: m.ID == st.Leader.ID, AssignedTargets: counts[m.ID]}
		if isLeader {
			live, _, lc := n.live.status(m.ID, now)
			ms.Live, ms.LastContact = &live, lc
		}
		st.Members = append(st.Members, ms)
		seen[m.ID] = true
	}
	for _, sv := range servers {
		m, ok := s.Members[string(sv.ID)]
		if !ok {
			m = Member{ID: string(sv.ID), RaftAddr: string(sv.Address)}
		}
		add(m, sv.Suffrage == raft.Voter)
	}
	for id, m := range s.Members {
		if !seen[id] {
			add(m, false)
		}
	}
	slices.SortFunc(st.Members, func(a, b MemberStatus) int { return cmpString(a.ID, b.ID) })
	return st
}

// probePeerTLS, with cluster TLS, dials a joiner's Raft address and checks
// that it presents a certificate this cluster trusts before it becomes a
// voter: a joiner with a valid join token but another CA's certificate
// could never take part, yet as a voter it would raise the quorum and let
// one more failure stop the cluster.
func (n *Node) probePeerTLS(ctx context.Context, addr raft.ServerAddress) error {
	if n.opts.TLS == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d := &tls.Dialer{Config: n.opts.TLS.Clone()}
	c, err := d.DialContext(ctx, "tcp", string(addr))
	if err != nil {
		return fmt.Errorf("its Raft address %s did not present a certificate this cluster trusts: %w", addr, err)
	}
	return c.Close()
}
