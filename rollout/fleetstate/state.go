package fleetstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"
)

// Release modes: what an agent may do while a release is the newest for
// its platform.
const (
	// ModeMandatory: an agent not on the release runs no job until it has
	// updated.
	ModeMandatory = "mandatory"
	// ModeOptional: agents run jobs and are told an update waits.
	ModeOptional = "optional"
	// ModeRefuse: no agent starts a job (e.g. during the server's own
	// upgrade).
	ModeRefuse = "refuse"
)

// Agent update states. queued → downloading → verifying → swapped →
// watching → done, or rolled-back (the new binary did not heartbeat
// within the watch period, or did not start) or failed.
const (
	StateQueued      = "queued"
	StateDownloading = "downloading"
	StateVerifying   = "verifying"
	StateSwapped     = "swapped"
	StateWatching    = "watching"
	StateDone        = "done"
	StateRolledBack  = "rolled-back"
	StateFailed      = "failed"
)

// Rollout statuses.
const (
	StatusRunning = "running"
	StatusPaused  = "paused"
	StatusHalted  = "halted" // a failure stopped it (ContinueOnFailure unset)
	StatusDone    = "done"
)

// Log levels of a rollout's log: a warning lets the update go on, an
// error stops it.
const (
	LevelInfo    = "info"
	LevelWarning = "warning"
	LevelError   = "error"
)

// Move states.
const (
	MovePending = "pending"
	MoveMoved   = "moved"
)

// Errors of Apply; the node maps them to HTTP answers.
var (
	ErrBadOp    = errors.New("fleet: bad operation")
	ErrNotFound = errors.New("fleet: not found")
	ErrState    = errors.New("fleet: not possible in the current state")
	ErrLimit    = errors.New("fleet: update limit reached")
)

// Limits of the replicated state.
const (
	maxLog       = 1000 // log entries kept per rollout (oldest dropped)
	maxRollouts  = 50   // finished rollouts kept
	maxAgents    = 100_000
	maxTextBytes = 1024 // a message, error or reason
)

// Release is a version of the agent binary for one platform. The binary
// itself is in the bus's object store under its SHA-256; this is its
// record.
type Release struct {
	Version  string `json:"version"`
	Platform string `json:"platform"` // GOOS/GOARCH
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"` // hex
	// Signature is the minisign signature file's text.
	Signature string    `json:"signature"`
	Mode      string    `json:"mode"`
	Message   string    `json:"message,omitempty"`
	AddedAt   time.Time `json:"added_at"`
	AddedBy   string    `json:"added_by"`
	// Seq orders releases by when they were added.
	Seq int64 `json:"seq"`
}

// Key is the release's key in State.Releases.
func (r Release) Key() string { return ReleaseKey(r.Version, r.Platform) }

// ReleaseKey is "VERSION PLATFORM".
func ReleaseKey(version, platform string) string { return version + " " + platform }

// LogEntry is one line of a rollout's log.
type LogEntry struct {
	At    time.Time `json:"at"`
	Level string    `json:"level"`
	Agent string    `json:"agent,omitempty"`
	Msg   string    `json:"msg"`
}

// Rollout is one release going out to agents.
type Rollout struct {
	ID       string `json:"id"`
	Version  string `json:"version"`
	Platform string `json:"platform"`
	// Canary agents go first, alone; then waves of Wave agents (0: all
	// the rest at once), each wave started when the one before ended.
	Canary int `json:"canary"`
	Wave   int `json:"wave"`
	// MaxConcurrent agents update at once (downloading to watching).
	MaxConcurrent     int  `json:"max_concurrent"`
	ContinueOnFailure bool `json:"continue_on_failure,omitempty"`
	// Full: agents download the whole binary (no differential update
	// from the chunks of the binary they run).
	Full bool `json:"full,omitempty"`
	// Watch is how long an agent's new binary has, from the swap, to
	// heartbeat; Lease how long an agent may go without progress while
	// downloading or verifying.
	Watch time.Duration `json:"watch"`
	Lease time.Duration `json:"lease"`
	// Order is the agents in the order they are taken: the canaries, then
	// the rest in the random order the proposer drew.
	Order     []string   `json:"order"`
	Status    string     `json:"status"`
	By        string     `json:"by"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   time.Time  `json:"ended_at,omitzero"`
	Log       []LogEntry `json:"log,omitempty"`
}

// WaveOf is the wave of the agent at position i of Order (0: canaries).
func (r *Rollout) WaveOf(i int) int {
	if i < r.Canary {
		return 0
	}
	if r.Wave <= 0 {
		return 1
	}
	return 1 + (i-r.Canary)/r.Wave
}

// AgentUpdate is one agent's record in a rollout.
type AgentUpdate struct {
	Agent    string    `json:"agent"`
	Rollout  string    `json:"rollout"`
	State    string    `json:"state"`
	Progress int       `json:"progress"` // percent, while downloading
	From     string    `json:"from,omitempty"`
	To       string    `json:"to"`
	Ready    bool      `json:"ready,omitempty"` // the agent is online and asked for its turn
	Since    time.Time `json:"since"`
	Deadline time.Time `json:"deadline,omitzero"`
	Warnings int       `json:"warnings,omitempty"`
	Err      string    `json:"error,omitempty"`
}

// Active reports whether the update holds one of the rollout's slots.
func (u AgentUpdate) Active() bool { return Active(u.State) }

// Active reports whether state holds an update slot.
func Active(state string) bool {
	switch state {
	case StateDownloading, StateVerifying, StateSwapped, StateWatching:
		return true
	}
	return false
}

// Terminal reports whether state is an end.
func Terminal(state string) bool {
	return state == StateDone || state == StateRolledBack || state == StateFailed
}

// Level is how the update reads: normal, abnormal (warnings, going on) or
// failed.
func (u AgentUpdate) Level() string {
	switch {
	case u.State == StateFailed || u.State == StateRolledBack:
		return "failed"
	case u.Warnings > 0:
		return "abnormal"
	}
	return "normal"
}

// AgentInfo is what an agent last reported that matters cluster-wide.
type AgentInfo struct {
	Version  string    `json:"version"`
	Platform string    `json:"platform"`
	Since    time.Time `json:"since"`
}

// Move is an agent's re-homing to another cluster.
type Move struct {
	Agent string `json:"agent"`
	// To is the new cluster's NATS URL(s); TrustKeys its task-signing
	// public keys (PEM), which the agent trusts because this cluster,
	// which it already trusts, signs the order.
	To          string    `json:"to"`
	TrustKeys   string    `json:"trust_keys"`
	State       string    `json:"state"`
	RequestedAt time.Time `json:"requested_at"`
	By          string    `json:"by"`
	MovedAt     time.Time `json:"moved_at,omitzero"`
	// Reason is why it has not moved yet (the agent's last report).
	Reason string `json:"reason,omitempty"`
}

// Decommission records that this cluster was retired.
type Decommission struct {
	At     time.Time `json:"at"`
	By     string    `json:"by"`
	Waiver string    `json:"waiver,omitempty"`
	// Left are the agents that had not moved (with a waiver).
	Left []string `json:"left,omitempty"`
}

// State is the replicated update, rollout and re-homing state. Apply is
// deterministic: it reads only the op and the state, and the time is the
// op's (stamped by the proposer).
type State struct {
	Releases map[string]Release     `json:"releases,omitempty"`
	Rollouts map[string]*Rollout    `json:"rollouts,omitempty"`
	Current  string                 `json:"current,omitempty"` // live rollout id (running, paused, halted)
	Updates  map[string]AgentUpdate `json:"updates,omitempty"` // agent → its record in the current or last rollout
	Agents   map[string]AgentInfo   `json:"agents,omitempty"`
	Moves    map[string]Move        `json:"moves,omitempty"`
	Decom    *Decommission          `json:"decommission,omitempty"`
	Seq      int64                  `json:"seq,omitempty"`
}

// New returns an empty state.
func New() *State { return &State{} }

// Clone copies the state deeply enough that Apply on either leaves the
// other unchanged.
func (s *State) Clone() *State {
	if s == nil {
		return nil
	}
	c := *s
	c.Releases = maps.Clone(s.Releases)
	c.Updates = maps.Clone(s.Updates)
	c.Agents = maps.Clone(s.Agents)
	c.Moves = maps.Clone(s.Moves)
	if s.Rollouts != nil {
		c.Rollouts = make(map[string]*Rollout, len(s.Rollouts))
		for k, r := range s.Rollouts {
			rc := *r
			rc.Order = slices.Clone(r.Order)
			rc.Log = slices.Clone(r.Log)
			c.Rollouts[k] = &rc
		}
	}
	if s.Decom != nil {
		d := *s.Decom
		c.Decom = &d
	}
	return &c
}

// Op kinds.
const (
	OpReleaseAdd    = "release.add"
	OpReleaseSet    = "release.set"
	OpRolloutStart  = "rollout.start"
	OpRolloutPause  = "rollout.pause"
	OpRolloutResume = "rollout.resume"
	OpGrant         = "rollout.grant"
	OpExpire        = "rollout.expire"
	OpReport        = "agent.report"
	OpMoveStart     = "move.start"
	OpDecommission  = "decommission"
)

// Op is one change of State.
type Op struct {
	Kind string `json:"kind"`
	By   string `json:"by,omitempty"`

	Release  *Release `json:"release,omitempty"`  // release.add
	Rollout  *Rollout `json:"rollout,omitempty"`  // rollout.start
	ID       string   `json:"id,omitempty"`       // pause, resume, grant, expire
	Agent    string   `json:"agent,omitempty"`    // grant, expire, report
	Version  string   `json:"version,omitempty"`  // release.set, report
	Platform string   `json:"platform,omitempty"` // release.set, report
	Mode     string   `json:"mode,omitempty"`     // release.set
	Message  string   `json:"message,omitempty"`  // release.set; report: a warning or error
	State    string   `json:"state,omitempty"`    // report
	Progress int      `json:"progress,omitempty"` // report
	Reason   string   `json:"reason,omitempty"`   // expire; report (move)
	Agents   []string `json:"agents,omitempty"`   // move.start
	Move     *Move    `json:"move,omitempty"`     // move.start (To, TrustKeys)
	Waiver   string   `json:"waiver,omitempty"`   // decommission
	Left     []string `json:"left,omitempty"`     // decommission: the not-moved list the proposer saw
}

// Agent report states beyond the update states: the agent's new binary
// committed its trial, or it moved.
const (
	ReportIdle       = "idle"
	ReportCommitted  = "committed"
	ReportMoved      = "moved"
	ReportMoveFailed = "move-failed"
)

var (
	// NameRE is an agent name (bus.AgentNameRE).
	NameRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)
	versionRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)
	platformRE = regexp.MustCompile(`^[a-z0-9]{1,16}/[a-z0-9]{1,16}$`)
	// SHA256RE is a hex SHA-256.
	SHA256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ValidVersion checks a version string.
func ValidVersion(v string) error {
	if !versionRE.MatchString(v) {
		return fmt.Errorf("version %q: want 1 to 64 of A-Z a-z 0-9 . _ + - (starting with a letter or digit)", v)
	}
	return nil
}

// ValidPlatform checks a GOOS/GOARCH platform.
func ValidPlatform(p string) error {
	if !platformRE.MatchString(p) {
		return fmt.Errorf("platform %q: want GOOS/GOARCH, e.g. linux/amd64", p)
	}
	return nil
}

// ValidMode checks a release mode.
func ValidMode(m string) error {
	switch m {
	case ModeMandatory, ModeOptional, ModeRefuse:
		return nil
	}
	return fmt.Errorf("mode %q: want mandatory, optional or refuse", m)
}

// Decode reads and validates an op.
func Decode(b []byte) (Op, error) {
	var op Op
	if err := json.Unmarshal(b, &op); err != nil {
		return op, fmt.Errorf("%w: %v", ErrBadOp, err)
	}
	return op, op.Validate()
}

func text(field, s string) error {
	if len(s) > maxTextBytes {
		return fmt.Errorf("%w: %s: longer than %d bytes", ErrBadOp, field, maxTextBytes)
	}
	return nil
}

// Validate checks an op's fields (not against the state).
func (op Op) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrBadOp, op.Kind, fmt.Sprintf(format, args...))
	}
	for f, s := range map[string]string{"message": op.Message, "reason": op.Reason, "waiver": op.Waiver, "by": op.By} {
		if err := text(f, s); err != nil {
			return err
		}
	}
	switch op.Kind {
	case OpReleaseAdd:
		r := op.Release
		if r == nil {
			return bad("no release")
		}
		if err := errors.Join(ValidVersion(r.Version), ValidPlatform(r.Platform), ValidMode(r.Mode)); err != nil {
			return bad("%v", err)
		}
		if !SHA256RE.MatchString(r.SHA256) || r.Size <= 0 || r.Signature == "" || len(r.Signature) > 4096 {
			return bad("sha256, size and signature required")
		}
		return text("message", r.Message)
	case OpReleaseSet:
		return errors.Join(ValidVersion(op.Version), ValidPlatform(op.Platform), ValidMode(op.Mode))
	case OpRolloutStart:
		r := op.Rollout
		if r == nil || r.ID == "" || len(r.ID) > 64 {
			return bad("rollout id required")
		}
		if err := errors.Join(ValidVersion(r.Version), ValidPlatform(r.Platform)); err != nil {
			return bad("%v", err)
		}
		if r.MaxConcurrent < 1 || r.Canary < 0 || r.Wave < 0 || r.Watch <= 0 || r.Lease <= 0 {
			return bad("max_concurrent ≥ 1, canary ≥ 0, wave ≥ 0, watch > 0, lease > 0")
		}
		if len(r.Order) > maxAgents {
			return bad("more than %d agents", maxAgents)
		}
		seen := map[string]bool{}
		for _, a := range r.Order {
			if !NameRE.MatchString(a) || seen[a] {
				return bad("agent %q: bad or repeated name", a)
			}
			seen[a] = true
		}
	case OpRolloutPause, OpRolloutResume:
		if op.ID == "" {
			return bad("id required")
		}
	case OpGrant, OpExpire:
		if op.ID == "" || !NameRE.MatchString(op.Agent) {
			return bad("id and agent required")
		}
	case OpReport:
		if !NameRE.MatchString(op.Agent) {
			return bad("agent %q", op.Agent)
		}
		if op.Version != "" {
			if err := ValidVersion(op.Version); err != nil {
				return bad("%v", err)
			}
		}
		if op.Platform != "" {
			if err := ValidPlatform(op.Platform); err != nil {
				return bad("%v", err)
			}
		}
		switch op.State {
		case "", ReportIdle, StateQueued, StateDownloading, StateVerifying, StateSwapped, StateWatching,
			ReportCommitted, StateRolledBack, StateFailed, ReportMoved, ReportMoveFailed:
		default:
			return bad("state %q", op.State)
		}
		if op.Progress < 0 || op.Progress > 100 {
			return bad("progress %d", op.Progress)
		}
	case OpMoveStart:
		if op.Move == nil || op.Move.To == "" || len(op.Move.To) > 1024 || op.Move.TrustKeys == "" || len(op.Move.TrustKeys) > 64<<10 {
			return bad("to and trust keys required")
		}
		if len(op.Agents) == 0 || len(op.Agents) > maxAgents {
			return bad("1 to %d agents", maxAgents)
		}
		for _, a := range op.Agents {
			if !NameRE.MatchString(a) {
				return bad("agent %q", a)
			}
		}
	case OpDecommission:
	default:
		return fmt.Errorf("%w: unknown op %q", ErrBadOp, op.Kind)
	}
	return nil
}

// Apply applies op at time at. It validates before it mutates: an error
// leaves the state unchanged.
func (s *State) Apply(at time.Time, op Op) error {
	if err := op.Validate(); err != nil {
		return err
	}
	switch op.Kind {
	case OpReleaseAdd:
		return s.addRelease(at, op)
	case OpReleaseSet:
		r, ok := s.Releases[ReleaseKey(op.Version, op.Platform)]
		if !ok {
			return fmt.Errorf("%w: release %s for %s", ErrNotFound, op.Version, op.Platform)
		}
		r.Mode, r.Message = op.Mode, op.Message
		s.Releases[r.Key()] = r
		return nil
	case OpRolloutStart:
		return s.startRollout(at, op)
	case OpRolloutPause, OpRolloutResume:
		return s.pauseResume(at, op)
	case OpGrant:
		return s.grant(at, op)
	case OpExpire:
		return s.expire(at, op)
	case OpReport:
		return s.report(at, op)
	case OpMoveStart:
		if s.Moves == nil {
			s.Moves = map[string]Move{}
		}
		for _, a := range op.Agents {
			if m, ok := s.Moves[a]; ok && m.State == MoveMoved {
				continue
			}
			s.Moves[a] = Move{Agent: a, To: op.Move.To, TrustKeys: op.Move.TrustKeys, State: MovePending,
				RequestedAt: at, By: op.By}
		}
		return nil
	case OpDecommission:
		if s.Decom != nil {
			return fmt.Errorf("%w: decommissioned already at %s by %s", ErrState, s.Decom.At.Format(time.RFC3339), s.Decom.By)
		}
		left := slices.Clone(op.Left)
		for a, m := range s.Moves {
			if m.State != MoveMoved && !slices.Contains(left, a) {
				left = append(left, a)
			}
		}
		slices.Sort(left)
		if len(left) > 0 && op.Waiver == "" {
			return fmt.Errorf("%w: %d agents have not moved (unyo agents not-moved); give --waiver REASON to decommission anyway", ErrState, len(left))
		}
		s.Decom = &Decommission{At: at, By: op.By, Waiver: op.Waiver, Left: left}
		return nil
	}
	return fmt.Errorf("%w: unknown op %q", ErrBadOp, op.Kind)
}

func (s *State) addRelease(at time.Time, op Op) error {
	r := *op.Release
	if old, ok := s.Releases[r.Key()]; ok {
		if old.SHA256 == r.SHA256 {
			return nil // a retried add
		}
		return fmt.Errorf("%w: release %s for %s exists with another binary", ErrState, r.Version, r.Platform)
	}
	if s.Releases == nil {
		s.Releases = map[string]Release{}
	}
	s.Seq++
	r.Seq, r.AddedAt, r.AddedBy = s.Seq, at, op.By
	s.Releases[r.Key()] = r
	return nil
}

// Newest is the newest release for platform (by the order added).
func (s *State) Newest(platform string) (Release, bool) {
	var best Release
	ok := false
	for _, r := range s.Releases {
		if r.Platform == platform && (!ok || r.Seq > best.Seq) {
			best, ok = r, true
		}
	}
	return best, ok
}

// Live is the live rollout (running, paused or halted), nil when none.
func (s *State) Live() *Rollout {
	if s.Current == "" {
		return nil
	}
	return s.Rollouts[s.Current]
}

func (r *Rollout) log(at time.Time, level, agent, format string, args ...any) {
	r.Log = append(r.Log, LogEntry{At: at, Level: level, Agent: agent, Msg: fmt.Sprintf(format, args...)})
	if len(r.Log) > maxLog {
		r.Log = slices.Delete(r.Log, 0, len(r.Log)-maxLog)
	}
}

func (s *State) startRollout(at time.Time, op Op) error {
	if l := s.Live(); l != nil {
		return fmt.Errorf("%w: rollout %s is %s; it must end first", ErrState, l.ID, l.Status)
	}
	in := op.Rollout
	if _, ok := s.Rollouts[in.ID]; ok {
		return fmt.Errorf("%w: rollout %s exists", ErrState, in.ID)
	}
	if _, ok := s.Releases[ReleaseKey(in.Version, in.Platform)]; !ok {
		return fmt.Errorf("%w: release %s for %s", ErrNotFound, in.Version, in.Platform)
	}
	r := *in
	r.Order = slices.Clone(in.Order)
	r.Log = nil
	r.Status, r.By, r.StartedAt, r.EndedAt = StatusRunning, op.By, at, time.Time{}
	if r.Canary > len(r.Order) {
		r.Canary = len(r.Order)
	}
	if s.Rollouts == nil {
		s.Rollouts = map[string]*Rollout{}
	}
	if s.Updates == nil {
		s.Updates = map[string]AgentUpdate{}
	}
	s.pruneRollouts()
	s.Rollouts[r.ID] = &r
	s.Current = r.ID
	r.log(at, LevelInfo, "", "rollout of %s (%s) to %d agents started by %s: %d canaries, waves of %d, at most %d at once",
		r.Version, r.Platform, len(r.Order), op.By, r.Canary, r.Wave, r.MaxConcurrent)
	for _, a := range r.Order {
		u := AgentUpdate{Agent: a, Rollout: r.ID, State: StateQueued, To: r.Version, Since: at}
		if info, ok := s.Agents[a]; ok {
			u.From = info.Version
			if info.Version == r.Version {
				u.State = StateDone
				r.log(at, LevelInfo, a, "already runs %s", r.Version)
			}
		}
		s.Updates[a] = u
	}
	s.settle(at, &r)
	return nil
}

// pruneRollouts drops the oldest finished rollouts beyond maxRollouts.
func (s *State) pruneRollouts() {
	if len(s.Rollouts) < maxRollouts {
		return
	}
	var done []*Rollout
	for _, r := range s.Rollouts {
		if r.Status == StatusDone {
			done = append(done, r)
		}
	}
	slices.SortFunc(done, func(a, b *Rollout) int { return a.StartedAt.Compare(b.StartedAt) })
	for _, r := range done[:max(0, len(s.Rollouts)-maxRollouts+1)] {
		delete(s.Rollouts, r.ID)
	}
}

func (s *State) pauseResume(at time.Time, op Op) error {
	r := s.Rollouts[op.ID]
	if r == nil {
		return fmt.Errorf("%w: rollout %s", ErrNotFound, op.ID)
	}
	switch {
	case op.Kind == OpRolloutPause && r.Status == StatusRunning:
		r.Status = StatusPaused
		r.log(at, LevelInfo, "", "paused by %s", op.By)
	case op.Kind == OpRolloutResume && (r.Status == StatusPaused || r.Status == StatusHalted):
		r.Status = StatusRunning
		r.log(at, LevelInfo, "", "resumed by %s", op.By)
		s.settle(at, r)
	default:
		return fmt.Errorf("%w: rollout %s is %s", ErrState, r.ID, r.Status)
	}
	return nil
}

// Counts are the rollout's agents by state.
func (s *State) Counts(r *Rollout) map[string]int {
	c := map[string]int{}
	for _, a := range r.Order {
		if u, ok := s.Updates[a]; ok && u.Rollout == r.ID {
			c[u.State]++
		}
	}
	return c
}

// ActiveCount is how many agents update now, cluster-wide.
func (s *State) ActiveCount() int {
	n := 0
	for _, u := range s.Updates {
		if u.Active() {
			n++
		}
	}
	return n
}

// CurrentWave is the lowest wave with an agent not ended (-1: none).
func (s *State) CurrentWave(r *Rollout) int {
	for i, a := range r.Order {
		if u := s.Updates[a]; u.Rollout == r.ID && !Terminal(u.State) {
			return r.WaveOf(i)
		}
	}
	return -1
}

// Grantable lists the agents the leader may grant a slot to now, in
// order, at most as many as there are free slots.
func (s *State) Grantable() []string {
	r := s.Live()
	if r == nil || r.Status != StatusRunning {
		return nil
	}
	free := r.MaxConcurrent - s.ActiveCount()
	wave := s.CurrentWave(r)
	var out []string
	for i, a := range r.Order {
		if free <= 0 || r.WaveOf(i) > wave {
			break
		}
		if u := s.Updates[a]; u.Rollout == r.ID && u.State == StateQueued && u.Ready && r.WaveOf(i) == wave {
			out = append(out, a)
			free--
		}
	}
	return out
}

func (s *State) grant(at time.Time, op Op) error {
	r := s.Live()
	if r == nil || r.ID != op.ID {
		return fmt.Errorf("%w: rollout %s is not live", ErrState, op.ID)
	}
	if r.Status != StatusRunning {
		return fmt.Errorf("%w: rollout %s is %s", ErrState, r.ID, r.Status)
	}
	u, ok := s.Updates[op.Agent]
	if !ok || u.Rollout != r.ID || u.State != StateQueued {
		return fmt.Errorf("%w: agent %s is not queued in %s", ErrState, op.Agent, r.ID)
	}
	i := slices.Index(r.Order, op.Agent)
	if r.WaveOf(i) != s.CurrentWave(r) {
		return fmt.Errorf("%w: agent %s is not in the current wave", ErrState, op.Agent)
	}
	if s.ActiveCount() >= r.MaxConcurrent {
		return fmt.Errorf("%w: %d agents update already (at most %d)", ErrLimit, s.ActiveCount(), r.MaxConcurrent)
	}
	u.State, u.Since, u.Deadline, u.Progress = StateDownloading, at, at.Add(r.Lease), 0
	s.Updates[op.Agent] = u
	r.log(at, LevelInfo, op.Agent, "update slot granted (%d of %d in use)", s.ActiveCount(), r.MaxConcurrent)
	return nil
}

func (s *State) expire(at time.Time, op Op) error {
	r := s.Rollouts[op.ID]
	u, ok := s.Updates[op.Agent]
	if r == nil || !ok || u.Rollout != op.ID || !u.Active() {
		return fmt.Errorf("%w: agent %s holds no slot in %s", ErrState, op.Agent, op.ID)
	}
	if at.Before(u.Deadline) {
		return fmt.Errorf("%w: agent %s's deadline has not passed", ErrState, op.Agent)
	}
	if u.State == StateSwapped || u.State == StateWatching {
		s.end(at, r, u, StateRolledBack, fmt.Sprintf("the new binary did not heartbeat within the watch period (%s)", r.Watch))
	} else {
		s.end(at, r, u, StateFailed, fmt.Sprintf("no progress while %s for %s", u.State, r.Lease))
	}
	return nil
}

// end moves u to a terminal state and settles the rollout.
func (s *State) end(at time.Time, r *Rollout, u AgentUpdate, state, why string) {
	u.State, u.Since, u.Deadline = state, at, time.Time{}
	if state != StateDone {
		u.Err = Truncate(why)
	}
	s.Updates[u.Agent] = u
	switch state {
	case StateDone:
		r.log(at, LevelInfo, u.Agent, "updated to %s", r.Version)
	default:
		r.log(at, LevelError, u.Agent, "%s: %s", state, why)
		if !r.ContinueOnFailure && r.Status == StatusRunning {
			r.Status = StatusHalted
			r.log(at, LevelError, "", "halted on the first failure (%s); resume to go on", u.Agent)
		}
	}
	s.settle(at, r)
}

// settle ends the rollout when every agent has ended.
func (s *State) settle(at time.Time, r *Rollout) {
	for _, a := range r.Order {
		if u := s.Updates[a]; u.Rollout == r.ID && !Terminal(u.State) {
			return
		}
	}
	if r.Status == StatusDone {
		return
	}
	c := s.Counts(r)
	r.Status, r.EndedAt = StatusDone, at
	r.log(at, LevelInfo, "", "rollout ended: %d done, %d rolled back, %d failed", c[StateDone], c[StateRolledBack], c[StateFailed])
	if s.Current == r.ID {
		s.Current = ""
	}
}

// Truncate cuts s to the longest text the state keeps.
func Truncate(s string) string {
	if len(s) > maxTextBytes {
		return s[:maxTextBytes]
	}
	return s
}

// Order of the active states, for forward-only progress.
var activeRank = map[string]int{StateDownloading: 1, StateVerifying: 2, StateSwapped: 3, StateWatching: 4}

func (s *State) report(at time.Time, op Op) error {
	if s.Agents == nil {
		s.Agents = map[string]AgentInfo{}
	}
	info := s.Agents[op.Agent]
	if op.Version != "" && (op.Version != info.Version || op.Platform != info.Platform) {
		info = AgentInfo{Version: op.Version, Platform: op.Platform, Since: at}
		if len(s.Agents) >= maxAgents {
			if _, ok := s.Agents[op.Agent]; !ok {
				return fmt.Errorf("%w: more than %d agents", ErrLimit, maxAgents)
			}
		}
		s.Agents[op.Agent] = info
	}
	switch op.State {
	case ReportMoved, ReportMoveFailed:
		m, ok := s.Moves[op.Agent]
		if !ok || m.State == MoveMoved {
			return nil
		}
		if op.State == ReportMoved {
			m.State, m.MovedAt, m.Reason = MoveMoved, at, ""
		} else {
			m.Reason = Truncate(op.Reason)
		}
		s.Moves[op.Agent] = m
		return nil
	}
	u, ok := s.Updates[op.Agent]
	if !ok {
		return nil
	}
	r := s.Rollouts[u.Rollout]
	if r == nil || Terminal(u.State) {
		return nil
	}
	if op.Message != "" && op.State != StateFailed && op.State != StateRolledBack {
		u.Warnings++
		r.log(at, LevelWarning, op.Agent, "%s", op.Message)
	}
	switch {
	case u.State == StateQueued:
		if !u.Ready && op.Version != "" {
			u.Ready = true
			if op.Version == u.To {
				s.end(at, r, u, StateDone, "")
				return nil
			}
		}
	case op.State == StateFailed || op.State == StateRolledBack:
		why := op.Message
		if why == "" {
			why = "reported by the agent"
		}
		s.end(at, r, u, op.State, why)
		return nil
	case op.Version == u.To && op.State == ReportCommitted:
		s.end(at, r, u, StateDone, "")
		return nil
	case op.Version == u.To && u.State != StateWatching:
		// The new binary heartbeats: watched until it commits.
		u.State, u.Since, u.Deadline = StateWatching, at, at.Add(r.Watch)
		r.log(at, LevelInfo, op.Agent, "the new binary %s heartbeats", u.To)
	case activeRank[op.State] > activeRank[u.State] || (op.State == u.State && op.Progress > u.Progress):
		if op.State != u.State {
			r.log(at, LevelInfo, op.Agent, "%s", op.State)
		}
		u.State, u.Progress = op.State, op.Progress
		if op.State == StateSwapped {
			u.Deadline = at.Add(r.Watch)
		} else {
			u.Deadline = at.Add(r.Lease)
		}
	}
	s.Updates[op.Agent] = u
	return nil
}

// Changes reports whether a report op would change the state (so that a
// node proposes only those).
func (s *State) Changes(op Op) bool {
	c := s.Clone()
	if c.Apply(time.Time{}, op) != nil {
		return false
	}
	return !equalJSON(c, s)
}

func equalJSON(a, b *State) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
