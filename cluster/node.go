package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// Node is one member of the cluster: a Raft instance over raft-wal and file
// snapshots in Options.DataDir, the replicated FSM, and (while leader) the
// loop that keeps the target assignment current.
//
// Lifecycle: New opens storage and binds the transport; Start starts Raft
// and the background loops; Stop tears down in reverse order. Start and Stop
// are idempotent; a stopped Node stays stopped.
type Node struct {
	opts    Options
	log     *slog.Logger // component=cluster
	base    *slog.Logger // node= only: Raft's loggers add their own component
	fsm     *FSM
	wal     *wal.WAL
	walMeta *metadb.BoltMetaDB
	snaps   *raft.FileSnapshotStore
	trans   raft.Transport
	metrics *metrics
	unreg   func()

	live *liveness
	kick chan struct{} // wakes the reconcile loop

	credMu sync.Mutex
	cred   string // this node's member credential (credentials.go)
	key    []byte // the cluster secret key, once known

	leaderCh chan bool     // public, latest value wins
	done     chan struct{} // closed when Stop begins
	stopDone chan struct{} // closed when Stop has finished

	// restored: the restore marker being acted on (restore.go); nil
	// without one or once done.
	restored *RestoreMarker

	mu        sync.Mutex
	started   bool
	startedAt time.Time
	stopped   bool
	raft      *raft.Raft
	notifyCh  chan bool
	obsCh     chan raft.Observation
	observer  *raft.Observer
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// New validates opts, opens the Raft log, stable store and snapshot store
// in opts.DataDir and binds the Raft transport. On error everything opened
// so far is closed again.
func New(opts Options) (_ *Node, err error) {
	opts.setDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	n := &Node{
		opts:     opts,
		base:     opts.Logger.With("node", opts.NodeID),
		fsm:      NewFSM(),
		metrics:  newMetrics(),
		kick:     make(chan struct{}, 1),
		leaderCh: make(chan bool, 1),
		done:     make(chan struct{}),
		stopDone: make(chan struct{}),
	}
	n.log = n.base.With("component", "cluster")
	n.live = newLiveness(opts.NodeID, opts.LivenessTimeout, opts.StableAfter)

	if n.cred, err = loadMemberCredential(opts.DataDir); err != nil {
		return nil, err
	}
	if opts.Bootstrap {
		if n.key, err = EnsureSecretKey(opts.DataDir); err != nil {
			return nil, err
		}
	} else if k, err := ReadSecretKey(opts.DataDir); err == nil {
		n.key = k
	}

	var undo []func()
	defer func() {
		if err != nil {
			for _, f := range slices.Backward(undo) {
				f()
			}
		}
	}()

	if n.unreg, err = n.metrics.register(opts.Registerer); err != nil {
		return nil, err
	}
	undo = append(undo, n.unreg)

	if err := n.openStorage(); err != nil {
		return nil, err
	}
	undo = append(undo, func() { _ = n.closeWAL() })
	if err := n.applyRestoreMarker(); err != nil {
		return nil, err
	}

	if opts.Transport != nil {
		n.trans = opts.Transport
	} else {
		n.trans, err = newTCPTransport(opts, n.base, n.secretKey)
		if err != nil {
			return nil, err
		}
	}
	undo = append(undo, func() { closeTransport(n.trans) })
	return n, nil
}

// openStorage opens the Raft log and stable store (raft-wal in
// DataDir/wal) and the snapshot store (DataDir/snapshots).
func (n *Node) openStorage() error {
	opts := n.opts
	walDir := filepath.Join(opts.DataDir, "wal")
	if err := os.MkdirAll(walDir, 0o750); err != nil {
		return fmt.Errorf("cluster: data dir: %w", err)
	}
	segSize := opts.WALSegmentSize
	if segSize == 0 {
		segSize = wal.DefaultSegmentSize
	}
	// raft-wal v0.4.0's WAL.Close does not close its meta database (a
	// bbolt file holding a flock), so reopening the directory in the same
	// process would hang. Own the meta store and close it after the WAL.
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(walDir,
		wal.WithLogger(newHCLogger(n.base.With("component", "raft-wal"), "raft-wal")),
		wal.WithMetaStore(meta),
		wal.WithSegmentSize(segSize))
	if err != nil {
		_ = meta.Close()
		return fmt.Errorf("cluster: open raft log %s: %w", walDir, err)
	}
	n.wal, n.walMeta = w, meta
	n.snaps, err = raft.NewFileSnapshotStoreWithLogger(opts.DataDir, opts.SnapshotRetain,
		newHCLogger(n.base.With("component", "raft-snapshot"), "raft-snapshot"))
	if err != nil {
		return fmt.Errorf("cluster: open snapshot store in %s: %w", opts.DataDir, err)
	}
	return nil
}

func (n *Node) closeWAL() error {
	return errors.Join(n.wal.Close(), n.walMeta.Close())
}

func closeTransport(t raft.Transport) {
	if c, ok := t.(raft.WithClose); ok {
		_ = c.Close()
	}
}

// Addr returns the Raft address other nodes use to reach this one (with
// the real port when BindAddr asked for port 0).
func (n *Node) Addr() string { return string(n.trans.LocalAddr()) }

// ID returns the node id.
func (n *Node) ID() string { return n.opts.NodeID }

// Start starts Raft and the background loops. With Options.Bootstrap and
// an empty DataDir it first makes this node a one-member cluster.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return ErrStopped
	}
	if n.started {
		return nil
	}
	n.notifyCh = make(chan bool, 4)
	n.startedAt = time.Now()
	conf := n.opts.raftConfig(n.base)
	conf.NotifyCh = n.notifyCh

	if n.restored != nil && n.restored.Mode == RestoreNewCluster {
		if err := n.recoverCluster(conf); err != nil {
			return err
		}
	}
	if n.opts.Bootstrap && n.restored == nil {
		has, err := raft.HasExistingState(n.wal, n.wal, n.snaps)
		if err != nil {
			return fmt.Errorf("cluster: check existing state: %w", err)
		}
		if !has {
			err := raft.BootstrapCluster(conf, n.wal, n.wal, n.snaps, n.trans, raft.Configuration{
				Servers: []raft.Server{{Suffrage: raft.Voter, ID: conf.LocalID, Address: n.trans.LocalAddr()}},
			})
			if err != nil {
				return fmt.Errorf("cluster: bootstrap: %w", err)
			}
			n.log.Info("bootstrapped one-member cluster", "addr", n.Addr())
		}
	}
	r, err := raft.NewRaft(conf, n.fsm, n.wal, n.wal, n.snaps, n.trans)
	if err != nil {
		return fmt.Errorf("cluster: start raft: %w", err)
	}
	n.raft = r
	n.obsCh = make(chan raft.Observation, 1024)
	n.observer = raft.NewObserver(n.obsCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation, raft.PeerObservation, raft.LeaderObservation:
			return true
		}
		return false
	})
	r.RegisterObserver(n.observer)

	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.wg.Add(4)
	go n.leadershipLoop(ctx)
	go n.observeLoop(ctx)
	go n.stateLoop(ctx)
	go n.reconcileLoop(ctx)
	n.started = true
	n.log.Info("cluster node started", "addr", n.Addr(), "site", n.opts.Site)
	return nil
}

// Stop stops Raft and the loops and closes storage. It does not leave the
// cluster: the other members see this node as failed until it comes back
// or is removed with Leave. With Options.TransferLeadershipOnStop a leader
// first hands leadership on. Stop is idempotent.
func (n *Node) Stop() error {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		<-n.stopDone
		return nil
	}
	n.stopped = true
	close(n.done)
	started, r := n.started, n.raft
	n.mu.Unlock()
	defer close(n.stopDone)

	// Not under n.mu: the loops being waited for take it.
	var errs []error
	if started {
		if n.opts.TransferLeadershipOnStop && r.State() == raft.Leader && voters(r) > 1 {
			if err := r.LeadershipTransfer().Error(); err != nil {
				n.log.Warn("leadership transfer before stop failed", "err", err)
			}
		}
		r.DeregisterObserver(n.observer)
		if err := r.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("cluster: raft shutdown: %w", err))
		}
		n.cancel()
		n.wg.Wait()
		n.metrics.isLeader.Set(0)
	}
	// raft closes the transport on shutdown; closing twice is harmless.
	closeTransport(n.trans)
	if err := n.closeWAL(); err != nil {
		errs = append(errs, fmt.Errorf("cluster: close raft log: %w", err))
	}
	n.unreg()
	n.log.Info("cluster node stopped")
	return errors.Join(errs...)
}

func voters(r *raft.Raft) int {
	f := r.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	c := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			c++
		}
	}
	return c
}

// running returns the Raft instance, or ErrNotStarted / ErrStopped.
func (n *Node) running() (*raft.Raft, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.stopped:
		return nil, ErrStopped
	case !n.started:
		return nil, ErrNotStarted
	}
	return n.raft, nil
}

// Raft returns the underlying Raft instance (nil before Start), for
// diagnostics and tests. Changing membership through it bypasses the
// replicated member records; use Join and Leave.
func (n *Node) Raft() *raft.Raft {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.raft
}

// --- background loops ------------------------------------------------------

func (n *Node) leadershipLoop(ctx context.Context) {
	defer n.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case leader := <-n.notifyCh:
			if leader {
				n.live.reset(time.Now())
				n.metrics.isLeader.Set(1)
				n.log.Info("became leader")
				n.wake()
			} else {
				n.metrics.isLeader.Set(0)
				n.log.Info("lost leadership")
			}
			// Latest value wins: drop an unread one.
			select {
			case <-n.leaderCh:
			default:
			}
			n.leaderCh <- leader
		}
	}
}

func (n *Node) observeLoop(ctx context.Context) {
	defer n.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-n.obsCh:
			now := time.Now()
			switch d := o.Data.(type) {
			case raft.FailedHeartbeatObservation:
				n.live.failed(string(d.PeerID), d.LastContact, now)
			case raft.ResumedHeartbeatObservation:
				n.live.resumed(string(d.PeerID), now)
			case raft.PeerObservation:
				n.live.forget(string(d.Peer.ID), now)
			}
			n.wake()
		}
	}
}

// stateLoop follows FSM changes for the metrics and the reconcile loop.
func (n *Node) stateLoop(ctx context.Context) {
	defer n.wg.Done()
	for {
		ch := n.fsm.Changed()
		st := n.fsm.core()
		n.metrics.members.Set(float64(len(st.Members)))
		mine := 0
		for _, a := range st.Targets {
			if a.Node == n.opts.NodeID {
				mine++
			}
		}
		n.metrics.targets.Set(float64(mine))
		n.wake()
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
}

func (n *Node) wake() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// --- reads -------------------------------------------------------------------

// IsLeader reports whether this node is the Raft leader now.
func (n *Node) IsLeader() bool {
	r, err := n.running()
	return err == nil && r.State() == raft.Leader
}

// Term is the Raft term this node is in (0 before Start). A leader's term
// is higher than that of every leader before it, so it fences the work of
// a deposed one (see alerting/escalation).
func (n *Node) Term() uint64 {
	r, err := n.running()
	if err != nil {
		return 0
	}
	return r.CurrentTerm()
}

// VerifyLeader confirms with a majority that this node is still the
// leader; an error means it is not (or could not tell).
func (n *Node) VerifyLeader(ctx context.Context) error {
	r, err := n.running()
	if err != nil {
		return err
	}
	f := r.VerifyLeader()
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("cluster: verify leader: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cluster: verify leader: %w", context.Cause(ctx))
	}
}

// InQuorum reports whether this node is part of a working majority: it
// is the leader, or a follower that heard from a leader within
// LivenessTimeout. A node cut off in a minority turns false within about
// that long; by then the majority's leader has moved its targets away, so
// the node's monitor should stop raising incidents for its (stale)
// assignment. Good for /readyz.
func (n *Node) InQuorum() bool {
	r, err := n.running()
	if err != nil {
		return false
	}
	switch r.State() {
	case raft.Leader:
		return true
	case raft.Follower:
		_, id := r.LeaderWithID()
		return id != "" && time.Since(r.LastContact()) < n.opts.LivenessTimeout
	}
	return false
}

// LeaderCh delivers true when this node becomes leader and false when it
// stops being leader. It has one slot and the latest value wins, so a slow
// reader sees the current state, not every transition. Meant for one
// reader (the node's scheduler); use IsLeader to poll.
func (n *Node) LeaderCh() <-chan bool { return n.leaderCh }

// LeaderInfo names the leader and how to reach it.
type LeaderInfo struct {
	ID       string `json:"id,omitempty"`
	RaftAddr string `json:"raft_addr,omitempty"`
	// APIAddr comes from the leader's member record; empty if it has none.
	APIAddr string `json:"api_addr,omitempty"`
}

// Leader returns the current leader as this node knows it; zero if none.
func (n *Node) Leader() LeaderInfo {
	r, err := n.running()
	if err != nil {
		return LeaderInfo{}
	}
	addr, id := r.LeaderWithID()
	if id == "" {
		return LeaderInfo{}
	}
	li := LeaderInfo{ID: string(id), RaftAddr: string(addr)}
	if m, ok := n.fsm.member(li.ID); ok {
		li.APIAddr = m.APIAddr
	}
	if li.ID == n.opts.NodeID && li.APIAddr == "" {
		li.APIAddr = n.opts.APIAddr
	}
	return li
}

// Config returns the active configuration as applied on this node.
func (n *Node) Config() ActiveConfig { return n.fsm.config() }

// Members returns the replicated member records, sorted by id.
func (n *Node) Members() []Member { return n.fsm.members() }

// AssignedTo returns the targets assigned to nodeID, sorted.
func (n *Node) AssignedTo(nodeID string) []string { return n.fsm.assignedTo(nodeID) }

// Assignments returns target → node id ("" while unassigned).
func (n *Node) Assignments() map[string]string { return n.fsm.assignments() }

// State returns a copy of the whole replicated state as applied here.
func (n *Node) State() State { return n.fsm.State() }

// AppliedIndex returns the last log index applied to this node's FSM.
func (n *Node) AppliedIndex() uint64 { return n.fsm.AppliedIndex() }

// WatchAssignments sends the targets assigned to this node now, and again
// each time that set changes, until ctx ends or the node stops. The channel
// holds one value and the latest wins, so a slow reader skips intermediate
// sets but always ends on the current one. The monitor diffs successive
// sets to start and stop checks.
func (n *Node) WatchAssignments(ctx context.Context) <-chan []string {
	self := n.opts.NodeID
	return watch(ctx, n, func() []string { return n.fsm.assignedTo(self) }, slices.Equal[[]string])
}

// WatchConfig sends the active configuration now and again each time it
// changes (by version or hash), like WatchAssignments. A node applies a
// configuration it receives this way; it does not re-propose it.
func (n *Node) WatchConfig(ctx context.Context) <-chan ActiveConfig {
	return watch(ctx, n, n.fsm.config, func(a, b ActiveConfig) bool { return a.Version == b.Version && a.Hash == b.Hash })
}

func watch[T any](ctx context.Context, n *Node, get func() T, equal func(a, b T) bool) <-chan T {
	out := make(chan T, 1)
	n.mu.Lock()
	stopped := n.stopped
	n.mu.Unlock()
	if stopped {
		close(out)
		return out
	}
	go func() {
		defer close(out)
		var last T
		first := true
		for {
			ch := n.fsm.Changed()
			cur := get()
			if first || !equal(cur, last) {
				first, last = false, cur
				for sent := false; !sent; {
					select {
					case out <- cur:
						sent = true
					default:
						select {
						case <-out:
						default:
						}
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-ch:
			case <-n.stoppedCh():
				return
			}
		}
	}()
	return out
}

func (n *Node) stoppedCh() <-chan struct{} { return n.done }
