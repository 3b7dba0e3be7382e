package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/unyo-ops/unyo/jobnet/runstate"
	"github.com/unyo-ops/unyo/rollout/fleetstate"
)

// FSM is the replicated state machine. Every member applies the same
// committed log entries in the same order and so holds the same State.
//
// Rules for whoever adds to it:
//
//   - Apply is deterministic. It reads only the log entry and the current
//     state: no clocks, no randomness, no I/O, no map-iteration order that
//     leaks into the result, no logging that changes behaviour. The time a
//     command happened is in the command (Command.At, stamped by the
//     proposer); the FSM never calls time.Now.
//   - Apply never panics on input. An undecodable entry, an unknown command
//     type or an invalid payload is an error result returned to the
//     proposer (ErrBadCommand, ErrUnknownCommand) and leaves the state
//     unchanged, identically on every member.
//   - Snapshot is cheap and does no I/O: it clones the state under the lock
//     (maps are copied; large immutable values such as the configuration
//     bytes are shared, never mutated in place). Persist, which runs
//     concurrently with further Apply calls, does the encoding and I/O.
//   - Restore replaces the whole state; it does not merge.
//   - Keep high-rate data out: probe results, samples and events go to NATS
//     and the ledger, not here. Raft holds what must agree cluster-wide and
//     survive a leader change.
//
// Adding a command type (for jobnet run state, escalation state, ...):
// add its state as a new field of State with an omitempty JSON tag (so
// older snapshots restore to the zero value), write a handler
// func(*State, time.Time, json.RawMessage) error, and add it to
// commandHandlers. A member that does not know a type rejects it with
// ErrUnknownCommand and would diverge from members that do, so propose a
// new type only once every member runs a build that knows it.
type FSM struct {
	mu    sync.RWMutex
	st    State
	index uint64 // last applied log index

	chMu    sync.Mutex
	changed chan struct{} // closed and replaced on every state change
}

// State is the replicated state. Read it through Node's accessors, which
// return copies.
type State struct {
	Config  ActiveConfig          `json:"config"`
	Members map[string]Member     `json:"members"`
	Targets map[string]Assignment `json:"targets"`
	// Jobnet is the job network's run state (cluster/jobnet_cmds.go).
	Jobnet *runstate.State `json:"jobnet,omitempty"`
	// Fleet is the agents' releases, rollouts and moves
	// (cluster/fleet_cmds.go).
	Fleet *fleetstate.State `json:"fleet,omitempty"`
	// JoinTokens are the live join tokens by id (hashes only;
	// credentials.go).
	JoinTokens map[string]JoinToken `json:"join_tokens,omitempty"`
	// Creds maps a member id to the SHA-256 of its member credential.
	Creds map[string]string `json:"member_creds,omitempty"`
}

// ActiveConfig is the configuration every member runs.
type ActiveConfig struct {
	Version   int64     `json:"version"`
	Hash      string    `json:"hash,omitempty"`
	Data      []byte    `json:"data,omitempty"`
	AppliedAt time.Time `json:"applied_at,omitzero"`
	AppliedBy string    `json:"applied_by,omitempty"`
}

// Member is a node of the cluster as recorded in the replicated state.
type Member struct {
	ID       string    `json:"id"`
	RaftAddr string    `json:"raft_addr"`
	Site     string    `json:"site,omitempty"`
	APIAddr  string    `json:"api_addr,omitempty"`
	JoinedAt time.Time `json:"joined_at,omitzero"`
}

// Target is something a monitor node checks, with the site it lives at.
type Target struct {
	Name string `json:"name"`
	Site string `json:"site,omitempty"`
}

// Assignment is a target's site and owner ("" while unassigned).
type Assignment struct {
	Site  string    `json:"site,omitempty"`
	Node  string    `json:"node,omitempty"`
	Since time.Time `json:"since,omitzero"`
}

// applyResult is what FSM.Apply returns to the proposer's ApplyFuture.
type applyResult struct {
	err error
}

type commandHandler func(st *State, at time.Time, payload json.RawMessage) error

// commandHandlers is the registry of command types. Keep it explicit: one
// line per type, no init() registration.
var commandHandlers = map[string]commandHandler{
	CmdConfigSet:    applyConfigSet,
	CmdMemberUpsert: applyMemberUpsert,
	CmdMemberEnsure: applyMemberEnsure,
	CmdMemberRemove: applyMemberRemove,
	CmdTargetsSet:   applyTargetsSet,
	CmdAssignUpdate: applyAssignUpdate,
	CmdJobnetOp:     applyJobnetOp,    // jobnet_cmds.go
	CmdFleetOp:      applyFleetOp,     // fleet_cmds.go
	CmdTokenCreate:  applyTokenCreate, // credentials.go
	CmdTokenRevoke:  applyTokenRevoke,
	CmdMemberCred:   applyMemberCred,
}

// NewFSM returns an empty state machine.
func NewFSM() *FSM {
	return &FSM{st: emptyState(), changed: make(chan struct{})}
}

func emptyState() State {
	return State{Members: map[string]Member{}, Targets: map[string]Assignment{}}
}

// Apply implements raft.FSM.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return &applyResult{}
	}
	env, err := decodeCommand(l.Data)
	if err != nil {
		f.setIndex(l.Index)
		return &applyResult{err: err}
	}
	h, ok := commandHandlers[env.Type]
	if !ok {
		f.setIndex(l.Index)
		return &applyResult{err: fmt.Errorf("%w: %q", ErrUnknownCommand, env.Type)}
	}
	f.mu.Lock()
	// Handlers work on a scratch copy only when they can fail half-way;
	// each handler here validates fully before mutating, so they mutate in
	// place and leave the state untouched on error.
	err = safeApply(h, &f.st, env.At, env.Payload)
	f.index = l.Index
	f.mu.Unlock()
	if err == nil {
		f.signal()
	}
	return &applyResult{err: err}
}

// safeApply turns a handler panic into an error result. Handlers must not
// panic; this is a last line of defence so one bad entry cannot crash
// every member at once.
func safeApply(h commandHandler, st *State, at time.Time, p json.RawMessage) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: handler panic: %v", ErrBadCommand, r)
		}
	}()
	return h(st, at, p)
}

func (f *FSM) setIndex(i uint64) {
	f.mu.Lock()
	f.index = i
	f.mu.Unlock()
}

func (f *FSM) signal() {
	f.chMu.Lock()
	close(f.changed)
	f.changed = make(chan struct{})
	f.chMu.Unlock()
}

// Changed returns a channel closed at the next state change.
func (f *FSM) Changed() <-chan struct{} {
	f.chMu.Lock()
	defer f.chMu.Unlock()
	return f.changed
}

// Snapshot implements raft.FSM. It only clones; Persist does the I/O.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &fsmSnapshot{st: f.st.clone(), index: f.index}, nil
}

// Restore implements raft.FSM: it replaces the state with the snapshot's.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var snap snapshotFile
	if err := json.NewDecoder(rc).Decode(&snap); err != nil {
		return fmt.Errorf("cluster: restore snapshot: %w", err)
	}
	if snap.Format != snapshotFormat {
		return fmt.Errorf("cluster: restore snapshot: format %d, this build reads %d", snap.Format, snapshotFormat)
	}
	st := snap.State
	if st.Members == nil {
		st.Members = map[string]Member{}
	}
	if st.Targets == nil {
		st.Targets = map[string]Assignment{}
	}
	f.mu.Lock()
	f.st = st
	// The state is the snapshot's, so the last entry applied is the
	// snapshot's (0 in a snapshot from before the index was kept). A
	// member that catches up by a snapshot alone would otherwise report
	// the index of before its restart, or 0, however current its state.
	f.index = snap.Index
	f.mu.Unlock()
	f.signal()
	return nil
}

const snapshotFormat = 1

type snapshotFile struct {
	Format int   `json:"format"`
	State  State `json:"state"`
	// Index is the last log entry applied to State (AppliedIndex).
	Index uint64 `json:"index,omitempty"`
}

type fsmSnapshot struct {
	st    State
	index uint64
}

// Persist implements raft.FSMSnapshot.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	err := json.NewEncoder(sink).Encode(snapshotFile{Format: snapshotFormat, State: s.st, Index: s.index})
	if err != nil {
		return errors.Join(fmt.Errorf("cluster: persist snapshot: %w", err), sink.Cancel())
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *fsmSnapshot) Release() {}

func (s State) clone() State {
	return State{Config: s.Config, Members: maps.Clone(s.Members), Targets: maps.Clone(s.Targets), Jobnet: s.Jobnet.Clone(),
		Fleet:      s.Fleet.Clone(),
		JoinTokens: maps.Clone(s.JoinTokens), Creds: maps.Clone(s.Creds)}
}

// --- reads ---------------------------------------------------------------

// State returns a copy of the current state.
func (f *FSM) State() State {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.clone()
}

// core returns a copy of the state without the job network's runs, for
// the node's own loops (metrics, reconcile, status), which run on every
// change and must not copy every live run each time.
func (f *FSM) core() State {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return State{Config: f.st.Config, Members: maps.Clone(f.st.Members), Targets: maps.Clone(f.st.Targets)}
}

// AppliedIndex returns the index of the last log entry applied.
func (f *FSM) AppliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.index
}

func (f *FSM) config() ActiveConfig {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Config
}

func (f *FSM) member(id string) (Member, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	m, ok := f.st.Members[id]
	return m, ok
}

func (f *FSM) members() []Member {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := slices.Collect(maps.Values(f.st.Members))
	slices.SortFunc(out, func(a, b Member) int { return cmpString(a.ID, b.ID) })
	return out
}

func (f *FSM) assignedTo(id string) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []string
	for name, a := range f.st.Targets {
		if a.Node == id {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (f *FSM) assignments() map[string]string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[string]string, len(f.st.Targets))
	for name, a := range f.st.Targets {
		out[name] = a.Node
	}
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// --- handlers ------------------------------------------------------------
// Each validates everything before it mutates anything.

func decodePayload(p json.RawMessage, v any) error {
	if len(p) == 0 {
		return fmt.Errorf("%w: empty payload", ErrBadCommand)
	}
	if err := json.Unmarshal(p, v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	return nil
}

func applyConfigSet(st *State, at time.Time, p json.RawMessage) error {
	var c ConfigSet
	if err := decodePayload(p, &c); err != nil {
		return err
	}
	if c.Hash != ConfigHash(c.Data) {
		return fmt.Errorf("%w: config hash %q does not match its data", ErrBadCommand, c.Hash)
	}
	cur := st.Config
	if c.Version == cur.Version && c.Hash == cur.Hash {
		return nil // a retried proposal: already active
	}
	if cur.Hash != "" && c.Version <= cur.Version {
		return fmt.Errorf("%w: version %d, active %d", ErrStaleConfig, c.Version, cur.Version)
	}
	st.Config = ActiveConfig{Version: c.Version, Hash: c.Hash, Data: c.Data, AppliedAt: at, AppliedBy: c.By}
	return nil
}

func applyMemberUpsert(st *State, at time.Time, p json.RawMessage) error {
	var mu memberUpsert
	if err := decodePayload(p, &mu); err != nil {
		return err
	}
	m := mu.Member
	if m.ID == "" || m.RaftAddr == "" {
		return fmt.Errorf("%w: member needs id and raft_addr", ErrBadCommand)
	}
	if mu.CredHash != "" && !validHash(mu.CredHash) {
		return fmt.Errorf("%w: member credential hash: want 64 hex digits", ErrBadCommand)
	}
	if mu.CredHash != "" {
		if st.Creds == nil {
			st.Creds = map[string]string{}
		}
		st.Creds[m.ID] = mu.CredHash
	}
	if old, ok := st.Members[m.ID]; ok && !old.JoinedAt.IsZero() {
		m.JoinedAt = old.JoinedAt
	}
	if m.JoinedAt.IsZero() {
		m.JoinedAt = at
	}
	st.Members[m.ID] = m
	return nil
}

func applyMemberEnsure(st *State, at time.Time, p json.RawMessage) error {
	var m Member
	if err := decodePayload(p, &m); err != nil {
		return err
	}
	if m.ID == "" || m.RaftAddr == "" {
		return fmt.Errorf("%w: member needs id and raft_addr", ErrBadCommand)
	}
	if old, ok := st.Members[m.ID]; ok {
		old.RaftAddr = m.RaftAddr
		st.Members[m.ID] = old
		return nil
	}
	if m.JoinedAt.IsZero() {
		m.JoinedAt = at
	}
	st.Members[m.ID] = m
	return nil
}

func applyMemberRemove(st *State, at time.Time, p json.RawMessage) error {
	var r MemberRemove
	if err := decodePayload(p, &r); err != nil {
		return err
	}
	delete(st.Creds, r.ID)
	if _, ok := st.Members[r.ID]; !ok {
		return nil
	}
	delete(st.Members, r.ID)
	for name, a := range st.Targets {
		if a.Node == r.ID {
			st.Targets[name] = Assignment{Site: a.Site, Since: at}
		}
	}
	return nil
}

func applyTargetsSet(st *State, at time.Time, p json.RawMessage) error {
	var ts TargetsSet
	if err := decodePayload(p, &ts); err != nil {
		return err
	}
	next := make(map[string]Assignment, len(ts.Targets))
	for _, t := range ts.Targets {
		if t.Name == "" {
			return fmt.Errorf("%w: target with empty name", ErrBadCommand)
		}
		if _, dup := next[t.Name]; dup {
			return fmt.Errorf("%w: target %q listed twice", ErrBadCommand, t.Name)
		}
		a, ok := st.Targets[t.Name]
		if !ok {
			a = Assignment{Since: at}
		}
		a.Site = t.Site
		next[t.Name] = a
	}
	st.Targets = next
	return nil
}

func applyAssignUpdate(st *State, at time.Time, p json.RawMessage) error {
	var u AssignUpdate
	if err := decodePayload(p, &u); err != nil {
		return err
	}
	for _, m := range u.Moves {
		a, ok := st.Targets[m.Target]
		if !ok || a.Node != m.From {
			continue // target gone or moved since the plan was made
		}
		if _, ok := st.Members[m.Node]; m.Node != "" && !ok {
			continue // not a member (any more)
		}
		a.Node, a.Since = m.Node, at
		st.Targets[m.Target] = a
	}
	return nil
}
