package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/unyo-ops/unyo/rollout/fleetstate"
)

// CmdFleetOp changes the agents' release, rollout and re-homing state
// (State.Fleet). Payload: fleetstate.Op. The state machine is
// fleetstate.State.Apply, deterministic and validating before it mutates;
// its refusals (fleetstate.ErrState, ErrLimit, ...) come back to the
// proposer. The update limit is enforced there, so a slot is granted by
// the log, never by a leader's memory, and survives a leader change.
const CmdFleetOp = "fleet.op"

func applyFleetOp(st *State, at time.Time, p json.RawMessage) error {
	if len(p) == 0 {
		return fmt.Errorf("%w: empty payload", ErrBadCommand)
	}
	op, err := fleetstate.Decode(p)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	if st.Fleet == nil {
		st.Fleet = fleetstate.New()
	}
	return st.Fleet.Apply(at, op)
}

// ProposeFleet commits op through Raft (forwarded to the leader when this
// node is a follower and a Forwarder is set).
func (n *Node) ProposeFleet(ctx context.Context, op fleetstate.Op) error {
	cmd, err := NewCommand(CmdFleetOp, op)
	if err != nil {
		return err
	}
	_, err = n.Apply(ctx, cmd)
	return err
}

// FleetView calls fn with this node's copy of the fleet state under the
// state machine's read lock: fn must not keep or change it. It is never
// nil.
func (n *Node) FleetView(fn func(st *fleetstate.State)) {
	n.fsm.mu.RLock()
	defer n.fsm.mu.RUnlock()
	st := n.fsm.st.Fleet
	if st == nil {
		st = fleetstate.New()
	}
	fn(st)
}
