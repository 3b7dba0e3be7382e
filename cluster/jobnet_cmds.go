package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/unyo-ops/unyo/jobnet/runstate"
)

// CmdJobnetOp changes the job network's run state (State.Jobnet).
// Payload: runstate.Op. The state machine is runstate.State.Apply, which
// is deterministic and validates before it mutates; its rejections
// (runstate.ErrFired, ErrState, ...) come back to the proposer as the
// command's result. Ops are idempotent in effect: a retried fire or start
// is rejected, not applied twice.
const CmdJobnetOp = "jobnet.op"

func applyJobnetOp(st *State, at time.Time, p json.RawMessage) error {
	if len(p) == 0 {
		return fmt.Errorf("%w: empty payload", ErrBadCommand)
	}
	op, err := runstate.Decode(p)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	if st.Jobnet == nil {
		st.Jobnet = runstate.New()
	}
	return st.Jobnet.Apply(at, op)
}

// ProposeJobnet commits op through Raft (forwarded to the leader when
// this node is a follower and a Forwarder is set).
func (n *Node) ProposeJobnet(ctx context.Context, op runstate.Op) error {
	cmd, err := NewCommand(CmdJobnetOp, op)
	if err != nil {
		return err
	}
	_, err = n.Apply(ctx, cmd)
	return err
}

// JobnetView calls fn with this node's copy of the job network state
// under the state machine's read lock: fn must not keep or change it.
// It is never nil.
func (n *Node) JobnetView(fn func(st *runstate.State)) {
	n.fsm.mu.RLock()
	defer n.fsm.mu.RUnlock()
	st := n.fsm.st.Jobnet
	if st == nil {
		st = runstate.New()
	}
	fn(st)
}

// Changed returns a channel closed at the next change of the replicated
// state.
func (n *Node) Changed() <-chan struct{} { return n.fsm.Changed() }
