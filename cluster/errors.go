package cluster

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Sentinel errors. Callers test them with errors.Is; the package wraps them
// with a short prefix and %w.
var (
	// ErrInvalidOptions is returned by New when Options fail validation.
	ErrInvalidOptions = errors.New("cluster: invalid options")
	// ErrNotStarted is returned by operations that need a running node.
	ErrNotStarted = errors.New("cluster: node not started")
	// ErrStopped is returned once Stop has been called; a stopped Node
	// cannot be started again (build a new one on the same DataDir).
	ErrStopped = errors.New("cluster: node stopped")
	// ErrNoLeader is returned when no leader is known (an election is in
	// progress, or this node is cut off from the majority).
	ErrNoLeader = errors.New("cluster: no leader")
	// ErrNoQuorum is returned, at once, by a request that needs the
	// leader on a node that has had none for longer than
	// Options.NoLeaderWait: it is cut off from the majority (or the
	// majority is down). It also matches ErrNoLeader.
	ErrNoQuorum = errors.New("no leader: this node cannot reach a quorum")
	// ErrUnknownCommand is the result of applying a command whose type the
	// state machine does not know. It never panics the FSM.
	ErrUnknownCommand = errors.New("cluster: unknown command type")
	// ErrUnsupportedVersion is the result of applying a command envelope
	// with a newer version than this build understands.
	ErrUnsupportedVersion = errors.New("cluster: unsupported command version")
	// ErrBadCommand is the result of applying a command whose payload does
	// not decode or fails validation.
	ErrBadCommand = errors.New("cluster: bad command")
	// ErrStaleConfig is the result of applying a configuration whose
	// version is not newer than the active one.
	ErrStaleConfig = errors.New("cluster: configuration version not newer than active")
	// ErrUnknownMember is returned when an operation names a node that is
	// not a member.
	ErrUnknownMember = errors.New("cluster: unknown member")
)

// ErrNotLeader is raft.ErrNotLeader, re-exported so callers need not
// import raft. ApplyLocal, Join, Leave and TransferLeadership return a
// *NotLeaderError that matches it with errors.Is.
var ErrNotLeader = raft.ErrNotLeader

// NotLeaderError says this node is not the leader and, when known, who is,
// so the caller can forward the request to Leader.APIAddr.
type NotLeaderError struct {
	Leader LeaderInfo
}

func (e *NotLeaderError) Error() string {
	if e.Leader.ID == "" {
		return "cluster: not the leader; no leader known"
	}
	return fmt.Sprintf("cluster: not the leader; leader is %s (api %q)", e.Leader.ID, e.Leader.APIAddr)
}

// Unwrap makes errors.Is(err, ErrNotLeader) true; with no known leader it
// also matches ErrNoLeader.
func (e *NotLeaderError) Unwrap() []error {
	if e.Leader.ID == "" {
		return []error{raft.ErrNotLeader, ErrNoLeader}
	}
	return []error{raft.ErrNotLeader}
}

// noQuorumError is ErrNoQuorum with how long the node has been without a
// leader.
type noQuorumError struct {
	node    string
	without time.Duration
}

func (e *noQuorumError) Error() string {
	return fmt.Sprintf("%s (node %s has had no leader for %s)", ErrNoQuorum, e.node, e.without.Round(100*time.Millisecond))
}

func (e *noQuorumError) Unwrap() []error { return []error{ErrNoQuorum, ErrNoLeader} }
