package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Result is the outcome of a command applied through Raft.
type Result struct {
	// Index is the Raft log index the command was committed at.
	Index uint64 `json:"index"`
	// Credential is the member credential minted by an OpJoin (shown to
	// the joiner once).
	Credential string `json:"credential,omitempty"`
	// Token is the join token made by an OpToken (shown once).
	Token *CreatedToken `json:"token,omitempty"`
}

// Request operations a follower forwards to the leader.
const (
	OpApply    = "apply"
	OpJoin     = "join"
	OpLeave    = "leave"
	OpTransfer = "transfer-leadership"
	OpToken    = "token" // make a join token (credentials.go)
)

// Request is an operation forwarded from a follower to the leader. The
// leader runs it with Node.Handle.
type Request struct {
	Op      string   `json:"op"`
	Command *Command `json:"command,omitempty"` // OpApply
	// NodeID: the node joining or leaving; for OpTransfer the node to hand
	// leadership to ("" = any).
	NodeID   string `json:"node_id,omitempty"`
	RaftAddr string `json:"raft_addr,omitempty"` // OpJoin
	Site     string `json:"site,omitempty"`      // OpJoin
	APIAddr  string `json:"api_addr,omitempty"`  // OpJoin
	// TTL is a new join token's lifetime (OpToken).
	TTL time.Duration `json:"ttl,omitempty"`
	// By names who asked (OpToken), for the record.
	By string `json:"by,omitempty"`
}

// Forwarder sends a Request to the leader (at leader.APIAddr) and returns
// the leader's answer. hashicorp/raft has no forwarding of its own; the
// node implements this over its HTTP API (HTTPForwarder in httpapi.go is a
// ready one) and the leader's side calls Node.Handle.
//
// Forward must return errors that keep their meaning across the wire: a
// leader that is no longer leader answers with a *NotLeaderError, command
// rejections with ErrStaleConfig, ErrBadCommand, ErrUnknownCommand
// (errors.Is must work on the result). Requests are idempotent, so a
// Forwarder may retry.
type Forwarder interface {
	Forward(ctx context.Context, leader LeaderInfo, req Request) (Result, error)
}

func (n *Node) notLeader() error {
	return &NotLeaderError{Leader: n.Leader()}
}

// ApplyLocal proposes cmd on this node. On a follower it returns a
// *NotLeaderError (errors.Is(err, ErrNotLeader)) naming the leader and its
// API address so the caller can forward. A command the state machine
// rejects returns its error (ErrStaleConfig, ErrBadCommand, ...); the
// command still occupies a log index.
func (n *Node) ApplyLocal(ctx context.Context, cmd Command) (Result, error) {
	r, err := n.running()
	if err != nil {
		return Result{}, err
	}
	if r.State() != raft.Leader {
		return Result{}, n.notLeader()
	}
	if cmd.At.IsZero() {
		cmd.At = time.Now().UTC()
	}
	data, err := encodeCommand(cmd)
	if err != nil {
		return Result{}, fmt.Errorf("cluster: encode command: %w", err)
	}
	ctx, cancel := n.withTimeout(ctx)
	defer cancel()
	timeout := n.opts.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	start := time.Now()
	f := r.Apply(data, timeout)
	if err := waitFuture(ctx, f); err != nil {
		n.metrics.applies.WithLabelValues(cmd.Type, "error").Inc()
		if errors.Is(err, raft.ErrNotLeader) {
			return Result{}, n.notLeader()
		}
		return Result{}, fmt.Errorf("cluster: apply %s: %w", cmd.Type, err)
	}
	n.metrics.applyDuration.WithLabelValues(cmd.Type).Observe(time.Since(start).Seconds())
	res := Result{Index: f.Index()}
	if ar, ok := f.Response().(*applyResult); ok && ar.err != nil {
		n.metrics.applies.WithLabelValues(cmd.Type, "rejected").Inc()
		return res, ar.err
	}
	n.metrics.applies.WithLabelValues(cmd.Type, "ok").Inc()
	return res, nil
}

func (n *Node) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, n.opts.ApplyTimeout, fmt.Errorf("cluster: no commit within %v", n.opts.ApplyTimeout))
}

// waitFuture waits for f or ctx. Raft resolves every future on commit,
// leadership loss or shutdown, so the helper goroutine does not outlive
// the Raft instance.
func waitFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// retryable reports whether a request may be sent again, here or to a new
// leader: there was no leader, or leadership moved. All built-in commands
// are idempotent, so a retry after ErrLeadershipLost (where the first try
// may have committed) is safe; new command types must keep that promise.
func retryable(err error) bool {
	return errors.Is(err, raft.ErrNotLeader) || errors.Is(err, ErrNoLeader) ||
		errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress) ||
		errors.Is(err, raft.ErrEnqueueTimeout)
}

// do runs req here if this node is leader, else forwards it to the leader
// through Options.Forwarder, retrying while leadership is in flux until
// ctx ends (or ApplyTimeout, when ctx has no deadline).
func (n *Node) do(ctx context.Context, req Request) (Result, error) {
	ctx, cancel := n.withTimeout(ctx)
	defer cancel()
	backoff := 20 * time.Millisecond
	for {
		if without := n.leaderless(); without >= n.opts.NoLeaderWait {
			return Result{}, &noQuorumError{node: n.opts.NodeID, without: without}
		}
		res, err := n.Handle(ctx, req)
		var nl *NotLeaderError
		if errors.As(err, &nl) && nl.Leader.ID != "" && nl.Leader.ID != n.opts.NodeID {
			if n.opts.Forwarder == nil {
				return res, err // the caller forwards
			}
			if nl.Leader.APIAddr == "" {
				err = fmt.Errorf("%w: leader %s has no API address recorded", err, nl.Leader.ID)
			} else {
				res, err = n.opts.Forwarder.Forward(ctx, nl.Leader, req)
			}
		}
		// A node that has just joined may forward before its credential
		// (in the join answer) is stored: wait for it like for a leader.
		waitCred := errors.Is(err, ErrBadCredential) && n.MemberCredential() == ""
		if err == nil || !(retryable(err) || waitCred) {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("%w (gave up: %v)", err, context.Cause(ctx))
		case <-n.stoppedCh():
			return res, errors.Join(err, ErrStopped)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 250*time.Millisecond)
	}
}

// leaderless is how long this node has been without a leader it hears
// from: 0 while it leads or follows a leader that reached it within
// NoLeaderWait; else the time since it last heard from one (or since
// Start, when it never has).
func (n *Node) leaderless() time.Duration {
	r, err := n.running()
	if err != nil {
		return 0 // Handle answers ErrNotStarted / ErrStopped
	}
	if r.State() == raft.Leader {
		return 0
	}
	last := r.LastContact()
	n.mu.Lock()
	if last.Before(n.startedAt) {
		last = n.startedAt
	}
	n.mu.Unlock()
	if _, id := r.LeaderWithID(); id != "" && time.Since(last) < n.opts.NoLeaderWait {
		return 0
	}
	return time.Since(last)
}

// Handle runs req on this node without forwarding; on a follower it
// returns a *NotLeaderError. The leader's HTTP endpoint for forwarded
// requests calls it.
func (n *Node) Handle(ctx context.Context, req Request) (Result, error) {
	switch req.Op {
	case OpApply:
		if req.Command == nil {
			return Result{}, fmt.Errorf("%w: apply without command", ErrBadCommand)
		}
		return n.ApplyLocal(ctx, *req.Command)
	case OpJoin:
		return n.joinLocal(ctx, req)
	case OpLeave:
		return n.leaveLocal(ctx, req.NodeID)
	case OpTransfer:
		return Result{}, n.transferLocal(ctx, req.NodeID)
	case OpToken:
		return n.tokenLocal(ctx, req)
	}
	return Result{}, fmt.Errorf("%w: unknown op %q", ErrBadCommand, req.Op)
}

// Apply proposes cmd through Raft on whichever node is leader: here, or
// forwarded through Options.Forwarder. It retries while there is no
// leader or leadership moves, until ctx ends (ApplyTimeout if ctx has no
// deadline). Without a Forwarder, a follower returns the *NotLeaderError.
func (n *Node) Apply(ctx context.Context, cmd Command) (Result, error) {
	if cmd.At.IsZero() {
		cmd.At = time.Now().UTC()
	}
	return n.do(ctx, Request{Op: OpApply, Command: &cmd})
}

// SetConfig makes data the active configuration at version, which must be
// newer than the active one (ErrStaleConfig otherwise; the same version
// and data again is a no-op). Every member, including ones that join
// later, sees it through WatchConfig.
func (n *Node) SetConfig(ctx context.Context, version int64, data []byte) (Result, error) {
	return n.SetConfigBy(ctx, version, data, n.opts.NodeID)
}

// SetConfigBy is SetConfig recording by as who applied it (the
// authenticated actor of the request).
func (n *Node) SetConfigBy(ctx context.Context, version int64, data []byte, by string) (Result, error) {
	cmd, err := NewCommand(CmdConfigSet, ConfigSet{Version: version, Data: data, Hash: ConfigHash(data), By: by})
	if err != nil {
		return Result{}, err
	}
	return n.Apply(ctx, cmd)
}

// SetTargets replaces the set of targets to assign. The leader places new
// targets within one reconcile round.
func (n *Node) SetTargets(ctx context.Context, targets []Target) (Result, error) {
	cmd, err := NewCommand(CmdTargetsSet, TargetsSet{Targets: targets})
	if err != nil {
		return Result{}, err
	}
	return n.Apply(ctx, cmd)
}

// Barrier waits until every command committed before it has been applied
// to this node's state. Leader only (a *NotLeaderError elsewhere). A new
// leader calls it, for example, before reading state to schedule from.
func (n *Node) Barrier(ctx context.Context) error {
	r, err := n.running()
	if err != nil {
		return err
	}
	if r.State() != raft.Leader {
		return n.notLeader()
	}
	ctx, cancel := n.withTimeout(ctx)
	defer cancel()
	if err := waitFuture(ctx, r.Barrier(n.opts.ApplyTimeout)); err != nil {
		return n.leaderErr(fmt.Errorf("cluster: barrier: %w", err))
	}
	return nil
}
