package target

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
)

// Status of a check.
type Status string

// Statuses.
const (
	Unknown Status = "unknown" // no verdict yet
	Up      Status = "up"
	Down    Status = "down"
	// Unreachable: the check fails while its target's liveness check
	// (ping) is down; recorded, never paged: the target's down incident
	// is the one fault.
	Unreachable Status = "unreachable"
)

// Result is the outcome of one check run.
type Result struct {
	Time     time.Time          `json:"time"`
	OK       bool               `json:"ok"`
	Duration time.Duration      `json:"duration"`
	Message  string             `json:"message,omitempty"` // why it failed, or a summary
	Values   map[string]float64 `json:"values,omitempty"`  // e.g. rtt_avg_seconds, loss_percent
}

// History sizes of a State.
type History struct {
	Recent   int // last results of any kind (default 20)
	Failures int // last failed results (default 50), kept independently
}

func (h *History) defaults() {
	if h.Recent <= 0 {
		h.Recent = 20
	}
	if h.Failures <= 0 {
		h.Failures = 50
	}
}

// StateOptions describe one (target, check).
type StateOptions struct {
	Target    string
	Check     string
	Source    string            // event source: ping, snmp, tcp, http, postgres, process
	DownAfter int               // consecutive failures before down (default 1)
	Severity  incident.Severity // of the problem event (default critical)
	Runbook   string
	Labels    map[string]string // copied into events
	History   History
	// InitialOK emits an ok event when the first verdict is up. A node
	// that takes over a target from another cannot know whether an
	// incident is open for it; the ok closes one that is (the ledger
	// ignores an ok without an open incident).
	InitialOK bool
}

// State tracks one (target, check). Safe for concurrent use.
type State struct {
	opts StateOptions

	mu       sync.Mutex
	status   Status
	since    time.Time
	fails    int
	failedAt time.Time // time of the first failure of the current run of failures
	recent   ring
	failures ring
	newID    func() string
}

// NewState returns a State in status Unknown.
func NewState(o StateOptions) *State {
	if o.DownAfter < 1 {
		o.DownAfter = 1
	}
	if o.Severity == "" {
		o.Severity = incident.Critical
	}
	o.History.defaults()
	return &State{opts: o, status: Unknown, recent: newRing(o.History.Recent), failures: newRing(o.History.Failures), newID: incident.NewID}
}

// SetDownAfter changes the failure count needed for down (config reload).
func (s *State) SetDownAfter(n int) {
	s.mu.Lock()
	s.opts.DownAfter = max(n, 1)
	s.mu.Unlock()
}

// SetLabels replaces the labels copied into events.
func (s *State) SetLabels(l map[string]string) {
	s.mu.Lock()
	s.opts.Labels = maps.Clone(l)
	s.mu.Unlock()
}

// Record adds a result and returns the event of the state change it
// causes, or nil.
func (s *State) Record(r Result) *incident.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := keep(r)
	s.recent.push(kept)
	if r.OK {
		s.fails, s.failedAt = 0, time.Time{}
		if s.status == Up {
			return nil
		}
		prev := s.status
		s.status, s.since = Up, r.Time
		if prev == Down || s.opts.InitialOK {
			msg := fmt.Sprintf("%s %s is up", s.opts.Target, s.opts.Check)
			if r.Message != "" {
				msg += ": " + r.Message
			}
			return s.event(incident.OK, incident.Info, msg, r.Time)
		}
		return nil
	}
	s.failures.push(kept)
	if s.fails == 0 {
		s.failedAt = r.Time
	}
	s.fails++
	if s.status == Down || s.fails < s.opts.DownAfter {
		return nil
	}
	s.status, s.since = Down, r.Time
	msg := fmt.Sprintf("%s %s is down after %d failed checks: %s", s.opts.Target, s.opts.Check, s.fails, r.Message)
	return s.event(incident.Problem, s.opts.Severity, msg, r.Time)
}

func (s *State) event(st incident.Status, sev incident.Severity, msg string, at time.Time) *incident.Event {
	if len(msg) > incident.MaxMessageLen {
		msg = msg[:incident.MaxMessageLen]
	}
	ev := &incident.Event{
		ID: s.newID(), Source: s.opts.Source, Target: s.opts.Target, Check: s.opts.Check,
		Severity: sev, Status: st, DedupKey: s.opts.Target + "/" + s.opts.Check,
		Message: strings.ToValidUTF8(msg, "?"), Time: at, Runbook: s.opts.Runbook, Labels: maps.Clone(s.opts.Labels),
	}
	return ev
}

// RecordUnreachable records a failed result of a check whose target is
// not reachable: its liveness check is down (down true), or failing and not
// yet confirmed (down false). The failure is kept in the history and
// counted, but never raises a problem: a host that is down pages once, for
// its liveness check. When down, the status becomes Unreachable (a check
// already down stays down: its incident is open). When the target answers
// again, the next result is recorded as usual: a check that still fails
// then goes down at once if DownAfter failures were counted meanwhile.
func (s *State) RecordUnreachable(r Result, why string, down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if why != "" {
		r.Message = "unreachable: " + why + ": " + r.Message
	}
	kept := keep(r)
	s.recent.push(kept)
	s.failures.push(kept)
	if s.fails == 0 {
		s.failedAt = r.Time
	}
	s.fails++
	if down && s.status != Down && s.status != Unreachable {
		s.status, s.since = Unreachable, r.Time
	}
}

// Rearm forgets a down verdict, as a restart of the node does: the state
// goes back to Unknown with no failures counted, so a problem that is still
// there is raised again once confirmed (DownAfter failed checks), and a
// check found up reports ok (with InitialOK). It is how a manual resolve of
// the check's incident is applied: a fault still present recurs at the next
// checks instead of staying silent until the node restarts. It reports
// whether the state was down.
func (s *State) Rearm() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status != Down {
		return false
	}
	s.status, s.fails, s.failedAt = Unknown, 0, time.Time{}
	return true
}

// Status returns the current status and since when.
func (s *State) Status() (Status, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status, s.since
}

// FailingSince returns the time of the first of the consecutive failures
// (zero when the last result was ok).
func (s *State) FailingSince() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failedAt
}

// Liveness returns the status, the count of consecutive failures and the
// time of the last result (zero before the first).
func (s *State) Liveness() (st Status, fails int, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.recent.buf); n > 0 {
		last = s.recent.buf[(s.recent.next+n-1)%n].time
	}
	return s.status, s.fails, last
}

// Snapshot is what a console shows for one check.
type Snapshot struct {
	Target              string    `json:"target"`
	Check               string    `json:"check"`
	Status              Status    `json:"status"`
	Since               time.Time `json:"since"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	DownAfter           int       `json:"down_after"`
	Last                *Result   `json:"last,omitempty"`
	LastFailure         *Result   `json:"last_failure,omitempty"` // why the last failed check failed
	Recent              []Result  `json:"recent,omitempty"`       // oldest first
	Failures            []Result  `json:"failures,omitempty"`     // oldest first
}

// Snapshot copies the state for display.
func (s *State) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := Snapshot{
		Target: s.opts.Target, Check: s.opts.Check, Status: s.status, Since: s.since,
		ConsecutiveFailures: s.fails, DownAfter: s.opts.DownAfter,
		Recent: s.recent.list(), Failures: s.failures.list(),
	}
	if n := len(snap.Recent); n > 0 {
		snap.Last = &snap.Recent[n-1]
	}
	if n := len(snap.Failures); n > 0 {
		snap.LastFailure = &snap.Failures[n-1]
	}
	return snap
}

// kept is a Result as a ring keeps it: its values in a slice rather than
// a map. A two-value map is 256 bytes in two objects, a slice of them 48
// bytes in one: 100,000 ping targets with 20 results each held 512 MB
// and 4 million objects in maps, all of it for the garbage collector to
// mark; their values now take about 100 MB.
type kept struct {
	time     time.Time
	duration time.Duration
	message  string
	values   []namedValue
	ok       bool
}

type namedValue struct {
	name  string
	value float64
}

func keep(r Result) kept {
	k := kept{time: r.Time, duration: r.Duration, message: r.Message, ok: r.OK}
	if len(r.Values) > 0 {
		k.values = make([]namedValue, 0, len(r.Values))
		for n, v := range r.Values {
			k.values = append(k.values, namedValue{n, v})
		}
	}
	return k
}

func (k *kept) result() Result {
	r := Result{Time: k.time, OK: k.ok, Duration: k.duration, Message: k.message}
	if len(k.values) > 0 {
		r.Values = make(map[string]float64, len(k.values))
		for _, v := range k.values {
			r.Values[v.name] = v.value
		}
	}
	return r
}

// ring keeps the last cap results; it grows on demand, so a check that
// never fails costs nothing for its failure history.
type ring struct {
	buf  []kept
	cap  int
	next int
}

func newRing(n int) ring { return ring{cap: n} }

func (r *ring) push(x kept) {
	if len(r.buf) < r.cap {
		if len(r.buf) == cap(r.buf) {
			// Grow to at most cap (append would overshoot it).
			r.buf = slices.Grow(r.buf, min(max(4, 2*len(r.buf)), r.cap)-len(r.buf))
		}
		r.buf = append(r.buf, x)
		return
	}
	r.buf[r.next] = x
	r.next = (r.next + 1) % r.cap
}

// list returns the kept results, oldest first, as Results of their own.
func (r *ring) list() []Result {
	out := make([]Result, 0, len(r.buf))
	for i := range r.buf {
		out = append(out, r.buf[(r.next+i)%len(r.buf)].result())
	}
	return out
}

// Tracker holds the States of many checks, keyed "<target>/<check>".
type Tracker struct {
	mu     sync.RWMutex
	states map[string]*State
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker { return &Tracker{states: map[string]*State{}} }

// Get returns the state of target/check, or nil.
func (t *Tracker) Get(target, check string) *State {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.states[target+"/"+check]
}

// Ensure returns the state of o.Target/o.Check, creating it with o.
func (t *Tracker) Ensure(o StateOptions) *State {
	key := o.Target + "/" + o.Check
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.states[key]; s != nil {
		return s
	}
	s := NewState(o)
	t.states[key] = s
	return s
}

// Rearm rearms the state whose dedup key (<target>/<check>) is key (see
// State.Rearm); it reports whether one was down.
func (t *Tracker) Rearm(key string) bool {
	t.mu.RLock()
	s := t.states[key]
	t.mu.RUnlock()
	return s != nil && s.Rearm()
}

// Delete forgets target/check.
func (t *Tracker) Delete(target, check string) {
	t.mu.Lock()
	delete(t.states, target+"/"+check)
	t.mu.Unlock()
}

// Snapshots lists every state (of one target when target is not empty),
// sorted by target and check.
func (t *Tracker) Snapshots(target string) []Snapshot {
	t.mu.RLock()
	list := make([]*State, 0, len(t.states))
	for _, s := range t.states {
		if target == "" || s.opts.Target == target {
			list = append(list, s)
		}
	}
	t.mu.RUnlock()
	out := make([]Snapshot, len(list))
	for i, s := range list {
		out[i] = s.Snapshot()
	}
	slices.SortFunc(out, func(a, b Snapshot) int {
		if c := strings.Compare(a.Target, b.Target); c != 0 {
			return c
		}
		return strings.Compare(a.Check, b.Check)
	})
	return out
}
