package incident

import (
	"errors"
	"fmt"
	"time"
)

// State of an incident. The lifecycle is open → acknowledged → resolved →
// closed; resolve is also allowed straight from open.
type State string

// Incident states.
const (
	Open         State = "open"
	Acknowledged State = "acknowledged"
	Resolved     State = "resolved"
	Closed       State = "closed"
)

// States lists every state in lifecycle order.
var States = []State{Open, Acknowledged, Resolved, Closed}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// Active reports whether an incident in state s still collects occurrences
// of its dedup key (open or acknowledged).
func (s State) Active() bool { return s == Open || s == Acknowledged }

// Kind names a timeline entry, and the bus subject its transition is
// published on (unyo.incident.<kind>).
type Kind string

// Timeline entry kinds.
const (
	KindOpened       Kind = "opened"       // first problem event for a dedup key
	KindRecovered    Kind = "recovered"    // an ok event arrived for the key
	KindRecurred     Kind = "recurred"     // a problem event after recovery, while still active
	KindEscalated    Kind = "escalated"    // severity raised by a later occurrence
	KindAcknowledged Kind = "acknowledged" // operator took ownership
	KindResolved     Kind = "resolved"     // operator resolved
	KindClosed       Kind = "closed"       // operator closed after resolution
	KindComment      Kind = "comment"      // free text, no state change
)

// System timeline kinds: written by the platform (escalation, notifiers,
// fault reports), never by an operator action, and never changing the state.
const (
	KindStep         Kind = "step"          // an escalation step ran (or was re-triggered)
	KindNotified     Kind = "notified"      // a notification was delivered
	KindNotifyFailed Kind = "notify-failed" // a notification attempt failed
	KindSuppressed   Kind = "suppressed"    // not notified: maintenance, parent down, off window
	KindFlapping     Kind = "flapping"      // the check changed state too often
	KindReported     Kind = "reported"      // the fault report was written
)

// Kinds lists every timeline kind.
var Kinds = []Kind{KindOpened, KindRecovered, KindRecurred, KindEscalated, KindAcknowledged, KindResolved, KindClosed, KindComment,
	KindStep, KindNotified, KindNotifyFailed, KindSuppressed, KindFlapping, KindReported}

// SystemKinds lists the kinds Note accepts (see ledger.EscalationStore).
var SystemKinds = []Kind{KindStep, KindNotified, KindNotifyFailed, KindSuppressed, KindFlapping}

// IsSystem reports whether k is one of SystemKinds.
func (k Kind) IsSystem() bool {
	for _, v := range SystemKinds {
		if k == v {
			return true
		}
	}
	return false
}

// Incident is one fault in the ledger: every problem event with the same
// dedup key while it is active adds an occurrence to it.
type Incident struct {
	ID          int64             `json:"id"`
	DedupKey    string            `json:"dedup_key"`
	Source      string            `json:"source"`
	Target      string            `json:"target"`
	Check       string            `json:"check"`
	Severity    Severity          `json:"severity"`
	State       State             `json:"state"`
	Message     string            `json:"message"`
	Runbook     string            `json:"runbook,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Count       int64             `json:"count"`
	FirstSeen   time.Time         `json:"first_seen"`
	LastSeen    time.Time         `json:"last_seen"`
	OpenedAt    time.Time         `json:"opened_at"`
	Recovered   bool              `json:"recovered"`
	RecoveredAt *time.Time        `json:"recovered_at,omitempty"`
	AckedAt     *time.Time        `json:"acknowledged_at,omitempty"`
	AckedBy     string            `json:"acknowledged_by,omitempty"`
	ResolvedAt  *time.Time        `json:"resolved_at,omitempty"`
	ResolvedBy  string            `json:"resolved_by,omitempty"`
	ClosedAt    *time.Time        `json:"closed_at,omitempty"`
	ClosedBy    string            `json:"closed_by,omitempty"`
	Owner       string            `json:"owner,omitempty"`
}

// Entry is one line of an incident's timeline. Entries are append-only:
// never edited, never deleted while the incident exists.
type Entry struct {
	IncidentID int64     `json:"incident_id"`
	Seq        int       `json:"seq"`
	At         time.Time `json:"at"`
	// Received is when the event behind this entry was received, set only
	// when it differs from At (the source's time): the timeline shows both.
	Received *time.Time `json:"received_at,omitempty"`
	Kind     Kind       `json:"kind"`
	By       string     `json:"by"`
	Comment  string     `json:"comment,omitempty"`
	Severity Severity   `json:"severity,omitempty"`
	State    State      `json:"state"` // the incident's state after this entry
}

// TrustedAt is the time to count the entry at: At, unless the source's
// time is ahead of when the event was received (a clock running fast must
// not move a fault into the future, where it hides downtime).
func (e Entry) TrustedAt() time.Time {
	if e.Received != nil && e.Received.Before(e.At) {
		return *e.Received
	}
	return e.At
}

// Action is an operator's request to move an incident.
type Action struct {
	Kind    Kind // KindAcknowledged, KindResolved, KindClosed or KindComment
	By      string
	Comment string
	At      time.Time
}

// Errors returned by Next and by stores.
var (
	// ErrInvalidTransition: the action is not allowed from the current state.
	ErrInvalidTransition = errors.New("invalid transition")
	// ErrNotFound: no incident with that id.
	ErrNotFound = errors.New("incident not found")
)

// Next returns the state an incident moves to when action k is applied in
// state s, or an error wrapping ErrInvalidTransition.
func Next(s State, k Kind) (State, error) {
	switch {
	case k == KindComment:
		return s, nil
	case k == KindAcknowledged && s == Open:
		return Acknowledged, nil
	case k == KindResolved && (s == Open || s == Acknowledged):
		return Resolved, nil
	case k == KindClosed && s == Resolved:
		return Closed, nil
	}
	return s, fmt.Errorf("%w: cannot %s an incident that is %s", ErrInvalidTransition, verb(k), s)
}

func verb(k Kind) string {
	switch k {
	case KindAcknowledged:
		return "acknowledge"
	case KindResolved:
		return "resolve"
	case KindClosed:
		return "close"
	}
	return string(k)
}

// ChangeKind says what applying one event did to the ledger.
type ChangeKind string

// Change kinds.
const (
	ChangeOpened     ChangeKind = "opened"     // a new incident
	ChangeOccurrence ChangeKind = "occurrence" // counted on an active incident
	ChangeRecovered  ChangeKind = "recovered"  // ok event recovered an active incident
	ChangeRecurred   ChangeKind = "recurred"   // problem after recovery, same incident
	ChangeNoop       ChangeKind = "noop"       // ok event with no active incident, or already recovered
	ChangeDuplicate  ChangeKind = "duplicate"  // this event ID was applied before; nothing changed
)

// Change is the outcome of applying one event.
type Change struct {
	EventID    string     `json:"event_id"`
	IncidentID int64      `json:"incident_id,omitempty"`
	Kind       ChangeKind `json:"kind"`
}
