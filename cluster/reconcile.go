package cluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// liveness is the leader's view of which followers are up. Raft tells the
// leader when heartbeats to a follower fail (FailedHeartbeatObservation,
// carrying the last successful contact) and when they resume. A follower
// is not live once its heartbeats are failing and it has not been heard
// from for the liveness timeout. Everything resets when this node becomes
// leader: followers start out live, as of that moment.
type liveness struct {
	self        string
	timeout     time.Duration
	stableAfter time.Duration

	mu          sync.Mutex
	leaderSince time.Time
	peers       map[string]*peerLiveness
}

type peerLiveness struct {
	failing     bool
	lastContact time.Time
	liveSince   time.Time
}

func newLiveness(self string, timeout, stableAfter time.Duration) *liveness {
	return &liveness{self: self, timeout: timeout, stableAfter: stableAfter, peers: map[string]*peerLiveness{}}
}

func (l *liveness) reset(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.leaderSince = now
	l.peers = map[string]*peerLiveness{}
}

func (l *liveness) peer(id string) *peerLiveness {
	p, ok := l.peers[id]
	if !ok {
		p = &peerLiveness{lastContact: l.leaderSince, liveSince: l.leaderSince}
		l.peers[id] = p
	}
	return p
}

func (l *liveness) failed(id string, lastContact, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.peer(id)
	p.failing = true
	if lastContact.After(p.lastContact) {
		p.lastContact = lastContact
	}
}

func (l *liveness) resumed(id string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.peer(id)
	if !p.liveAt(now, l.timeout) {
		p.liveSince = now // it was down: stability starts over
	}
	p.failing = false
	p.lastContact = now
}

// forget drops what is known about a peer added to or removed from the
// Raft configuration; a re-added peer starts live and unstable.
func (l *liveness) forget(id string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.peers[id] = &peerLiveness{lastContact: now, liveSince: now}
}

func (p *peerLiveness) liveAt(now time.Time, timeout time.Duration) bool {
	return !p.failing || now.Sub(p.lastContact) < timeout
}

// status reports whether id is live now and whether it has been live for
// stableAfter. The leader itself is always live.
func (l *liveness) status(id string, now time.Time) (live, stable bool, lastContact time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if id == l.self {
		return true, now.Sub(l.leaderSince) >= l.stableAfter, now
	}
	p, ok := l.peers[id]
	if !ok {
		return true, now.Sub(l.leaderSince) >= l.stableAfter, time.Time{}
	}
	live = p.liveAt(now, l.timeout)
	if !p.failing {
		lastContact = time.Time{} // heartbeats fine; raft does not say when exactly
	} else {
		lastContact = p.lastContact
	}
	return live, live && now.Sub(p.liveSince) >= l.stableAfter, lastContact
}

// reconcileLoop re-plans the target assignment while this node is leader:
// every ReconcileInterval, and at once when woken by a leadership change,
// a heartbeat failure or recovery, a membership change or a state change.
func (n *Node) reconcileLoop(ctx context.Context) {
	defer n.wg.Done()
	t := time.NewTicker(n.opts.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.kick:
		}
		if !n.IsLeader() {
			continue
		}
		if err := n.reconcile(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("reconcile", "err", err)
		}
	}
}

// reconcile runs one round: make the member records match the Raft
// configuration, then move targets per Plan. Leader only.
func (n *Node) reconcile(ctx context.Context) error {
	r, err := n.running()
	if err != nil {
		return err
	}
	// Read the state before the configuration: a member recorded by Join
	// is then always in the configuration read next, so it is never
	// mistaken for a removed one.
	st := n.fsm.core()
	cf := r.GetConfiguration()
	if err := cf.Error(); err != nil {
		return fmt.Errorf("get configuration: %w", err)
	}
	servers := map[string]raft.Server{}
	for _, s := range cf.Configuration().Servers {
		servers[string(s.ID)] = s
	}

	// Member records follow the Raft configuration.
	for id, s := range servers {
		m, ok := st.Members[id]
		switch {
		case id == n.opts.NodeID:
			want := Member{ID: id, RaftAddr: string(s.Address), Site: n.opts.Site, APIAddr: n.opts.APIAddr, JoinedAt: m.JoinedAt}
			if ok && want == m {
				continue
			}
			if _, err := n.applyTyped(ctx, CmdMemberUpsert, want); err != nil {
				return fmt.Errorf("record self: %w", err)
			}
		case !ok || m.RaftAddr != string(s.Address):
			if _, err := n.applyTyped(ctx, CmdMemberEnsure, Member{ID: id, RaftAddr: string(s.Address)}); err != nil {
				return fmt.Errorf("record member %s: %w", id, err)
			}
		}
	}
	for id := range st.Members {
		if _, ok := servers[id]; !ok {
			if _, err := n.applyTyped(ctx, CmdMemberRemove, MemberRemove{ID: id}); err != nil {
				return fmt.Errorf("forget member %s: %w", id, err)
			}
		}
	}
	if err := n.ensureOwnCredential(ctx); err != nil {
		return err
	}
	st = n.fsm.core()
	if len(st.Targets) == 0 {
		return nil
	}

	now := time.Now()
	in := PlanInput{Current: st.Targets, Stable: map[string]bool{}, MaxRebalance: max(n.opts.MaxRebalance, 0)}
	for _, m := range n.fsm.members() {
		s, ok := servers[m.ID]
		if !ok || s.Suffrage != raft.Voter {
			continue
		}
		live, stable, _ := n.live.status(m.ID, now)
		if live {
			in.Live = append(in.Live, m)
		}
		if stable {
			in.Stable[m.ID] = true
		}
	}
	moves := Plan(in)
	if len(moves) == 0 {
		return nil
	}
	if _, err := n.applyTyped(ctx, CmdAssignUpdate, AssignUpdate{Moves: moves}); err != nil {
		return fmt.Errorf("assign %d targets: %w", len(moves), err)
	}
	n.metrics.reassignments.Add(float64(len(moves)))
	from := map[string]int{}
	for _, m := range moves {
		from[m.From]++
	}
	n.log.Info("targets reassigned", "moves", len(moves), "from", from)
	return nil
}

// applyTyped proposes a built-in command locally (leader only).
func (n *Node) applyTyped(ctx context.Context, typ string, payload any) (Result, error) {
	cmd, err := NewCommand(typ, payload)
	if err != nil {
		return Result{}, err
	}
	return n.ApplyLocal(ctx, cmd)
}
