package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// CommandVersion is the envelope version this build writes and the highest
// it reads. Bump it only for an incompatible change of the envelope itself;
// new command types do not need a bump.
const CommandVersion = 1

// Command types known to this build. Each is handled by one entry of
// commandHandlers in fsm.go.
const (
	// CmdConfigSet replaces the active configuration. Payload: ConfigSet.
	CmdConfigSet = "config.set"
	// CmdMemberUpsert records or updates a member. Payload: Member.
	CmdMemberUpsert = "member.upsert"
	// CmdMemberEnsure records a member if it has no record yet, and
	// otherwise only updates its Raft address. The leader uses it for
	// voters that have no record (a Join cut short). Payload: Member.
	CmdMemberEnsure = "member.ensure"
	// CmdMemberRemove forgets a member. Payload: MemberRemove.
	CmdMemberRemove = "member.remove"
	// CmdTargetsSet replaces the set of targets to assign. Payload: TargetsSet.
	CmdTargetsSet = "targets.set"
	// CmdAssignUpdate moves targets between members. Payload: AssignUpdate.
	CmdAssignUpdate = "assign.update"
)

// Command is what a caller proposes to the replicated state machine: a type
// and a JSON payload. The proposing leader stamps At (the only clock the
// state machine ever sees) and wraps it in a versioned envelope.
type Command struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
	// At is the proposer's wall-clock time. Zero means "stamp it when
	// proposing"; the FSM uses it for JoinedAt, AppliedAt and the like.
	At time.Time `json:"at,omitzero"`
}

// NewCommand marshals payload into a Command of the given type.
func NewCommand(typ string, payload any) (Command, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return Command{}, fmt.Errorf("cluster: encode %s payload: %w", typ, err)
	}
	return Command{Type: typ, Payload: b}, nil
}

// envelope is the bytes stored in a Raft log entry.
type envelope struct {
	V       int             `json:"v"`
	Type    string          `json:"type"`
	At      time.Time       `json:"at"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func encodeCommand(c Command) ([]byte, error) {
	return json.Marshal(envelope{V: CommandVersion, Type: c.Type, At: c.At.UTC(), Payload: c.Payload})
}

func decodeCommand(b []byte) (envelope, error) {
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return e, fmt.Errorf("%w: envelope: %v", ErrBadCommand, err)
	}
	if e.V < 1 || e.V > CommandVersion {
		return e, fmt.Errorf("%w: %d (this build reads up to %d)", ErrUnsupportedVersion, e.V, CommandVersion)
	}
	return e, nil
}

// ConfigSet is the payload of CmdConfigSet.
type ConfigSet struct {
	Version int64  `json:"version"`
	Data    []byte `json:"data"`
	// Hash must be ConfigHash(Data); SetConfig fills it in. The FSM checks
	// it so a corrupted or hand-built command is rejected.
	Hash string `json:"hash"`
	// By names who applied it (a node id or an operator), for the record.
	By string `json:"by,omitempty"`
}

// ConfigHash returns the content hash recorded with a configuration:
// "sha256:" and the hex digest of data.
func ConfigHash(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// MemberRemove is the payload of CmdMemberRemove.
type MemberRemove struct {
	ID string `json:"id"`
}

// TargetsSet is the payload of CmdTargetsSet: the full list of targets.
// Targets that keep their name keep their owner; removed ones are dropped;
// new ones start unassigned until the leader's reconcile loop places them.
type TargetsSet struct {
	Targets []Target `json:"targets"`
}

// AssignUpdate is the payload of CmdAssignUpdate.
type AssignUpdate struct {
	Moves []Move `json:"moves"`
}

// Move assigns Target to Node ("" unassigns). From is the owner the
// proposer saw; when the FSM's owner differs the move is skipped, so a
// stale plan from an old leader never overrides a newer one.
type Move struct {
	Target string `json:"target"`
	From   string `json:"from,omitempty"`
	Node   string `json:"node"`
}
