package ledger

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
)

// ErrConflict: an optimistic write lost — the escalation's version moved on,
// or a notification's claim was taken over by another owner. Reload and
// decide again.
var ErrConflict = errors.New("ledger: conflicting update")

// ErrFenced: a claim carried a fence lower than one already seen — the
// claimer was deposed (a newer leader has claimed since) and must not send.
var ErrFenced = errors.New("ledger: fenced out by a newer leader")

// EscalationStore is the durable state of escalation, notification,
// maintenance windows and fault reports. It is an optional interface: a
// Store that implements it (both stores in this module do) can run the
// escalator. Every method is safe for concurrent use.
//
// Rules every implementation keeps (ledgertest.RunEscalation checks them):
//   - One Escalation per incident. StartEscalation inserts it once; a second
//     call returns the stored one, unchanged, and false.
//   - UpdateEscalation is a compare-and-set on Version: it writes only if
//     the stored version equals e.Version, bumps it, and in the same
//     transaction inserts the notifications (a key that exists is left as it
//     is: keys are deterministic, so a step computed twice is stored once)
//     and appends the notes to the incident's timeline. Otherwise it changes
//     nothing and returns ErrConflict. This is the fence that keeps two
//     escalators (an old and a new leader) from both advancing one step.
//   - ClaimNotifications leases pending notifications whose NotBefore has
//     come, a whole group at a time (every pending notification with the
//     same GroupKey, due or not), to owner until the lease ends; a leased
//     notification is not claimed again until its lease has run out or its
//     owner releases it (ReleaseNotifications).
//   - Claims are fenced: the store keeps the highest Claim.Fence it has
//     seen (in a cluster, the Raft term of the leader that claimed) and, in
//     the same transaction as the claim, refuses a lower one with ErrFenced
//     and claims nothing. Once a new leader has claimed, a deposed one can
//     never claim again. Claim.Takeover overrides the check and lowers
//     the fence (a rebuilt cluster whose terms started again).
//   - FinishNotifications records one attempt on claimed notifications and
//     appends one timeline entry per incident (notified or notify-failed);
//     notifications no longer claimed by owner are left alone.
//   - Timeline entries appended here (notes, notifications, reports) go to
//     the outbox like any other and never change an incident's state.
type EscalationStore interface {
	StartEscalation(ctx context.Context, e Escalation) (Escalation, bool, error)
	// Escalation returns the incident's escalation, or an error wrapping
	// incident.ErrNotFound.
	Escalation(ctx context.Context, incidentID int64) (Escalation, error)
	// DueEscalations returns up to limit escalations with NextAt at or
	// before now, earliest first.
	DueEscalations(ctx context.Context, now time.Time, limit int) ([]Escalation, error)
	UpdateEscalation(ctx context.Context, e Escalation, ns []Notification, notes []Note) (Escalation, error)

	ClaimNotifications(ctx context.Context, c Claim) ([]Notification, error)
	FinishNotifications(ctx context.Context, keys []string, owner string, a Attempt) error
	// ReleaseNotifications ends owner's claim on notifications it will not
	// send (it is stopping), so the next owner need not wait for the lease.
	ReleaseNotifications(ctx context.Context, keys []string, owner string) error
	// Fence returns the highest claim fence seen and who claimed with it.
	Fence(ctx context.Context) (int64, string, error)
	// CancelNotifications cancels the incident's pending notifications of
	// the given kinds (all kinds when none given) and returns how many.
	CancelNotifications(ctx context.Context, incidentID int64, kinds ...string) (int, error)
	// Notifications returns the incident's notifications, oldest first.
	Notifications(ctx context.Context, incidentID int64) ([]Notification, error)

	// Note appends a system entry (incident.SystemKinds) to the timeline.
	Note(ctx context.Context, incidentID int64, n Note) (incident.Entry, error)

	AddMaintenance(ctx context.Context, m Maintenance) (Maintenance, error)
	// Maintenances returns every window, by id.
	Maintenances(ctx context.Context) ([]Maintenance, error)
	// EndMaintenance ends a window now (at); ending an ended window again
	// changes nothing. Unknown ids give an error wrapping
	// incident.ErrNotFound.
	EndMaintenance(ctx context.Context, id int64, by string, at time.Time) (Maintenance, error)

	// SetReport writes (or rewrites) the fault report of a resolved or
	// closed incident and appends a "reported" entry; other states give an
	// error wrapping incident.ErrInvalidTransition.
	SetReport(ctx context.Context, r Report) (Report, incident.Entry, error)
	// Report returns the incident's fault report, or an error wrapping
	// incident.ErrNotFound.
	Report(ctx context.Context, incidentID int64) (Report, error)
}

// EscalationState says what an escalation is doing.
type EscalationState string

// Escalation states.
const (
	// EscActive: steps run when NextAt comes.
	EscActive EscalationState = "active"
	// EscAcknowledged: stopped by an acknowledgement; NextAt, if set, is
	// when the acknowledgement times out and escalation starts over.
	EscAcknowledged EscalationState = "acknowledged"
	// EscSuppressed: not notifying (Reason says why: maintenance, parent
	// down, outside the policy's window, recovered); NextAt is when to look
	// again.
	EscSuppressed EscalationState = "suppressed"
	// EscDone: resolved, closed, or every step and repeat has run.
	EscDone EscalationState = "done"
)

// Escalation is the durable state of one incident's escalation.
type Escalation struct {
	IncidentID int64 `json:"incident_id"`
	// Policy names the policy chosen when the incident opened; Snapshot is
	// that policy as it was then (JSON), so a config change never alters a
	// running escalation.
	Policy   string          `json:"policy"`
	Snapshot json.RawMessage `json:"snapshot"`
	State    EscalationState `json:"state"`
	Reason   string          `json:"reason,omitempty"`
	// Cycle counts restarts (an acknowledgement that timed out); Repeat is
	// the current pass over the steps; Step the index of the next step.
	Cycle  int `json:"cycle"`
	Repeat int `json:"repeat"`
	Step   int `json:"step"`
	// Level is the highest step number (1-based) that has run.
	Level int `json:"level"`
	// NextAt is when the escalator looks at it next (nil: only a
	// transition wakes it).
	NextAt *time.Time `json:"next_at,omitempty"`
	// LastSeq is the seq of the last transition applied, so a redelivered
	// transition is applied once.
	LastSeq int `json:"last_seq"`
	// Flap detection: state changes counted since FlapSince.
	Flaps     int        `json:"flaps"`
	FlapSince *time.Time `json:"flap_since,omitempty"`
	Flapping  bool       `json:"flapping"`
	Version   int64      `json:"version"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// NotificationState is where a notification stands.
type NotificationState string

// Notification states.
const (
	NotifyPending   NotificationState = "pending"
	NotifySent      NotificationState = "sent"
	NotifyFailed    NotificationState = "failed" // gave up
	NotifyCancelled NotificationState = "cancelled"
)

// Notification is one message to send on one channel to one destination,
// recorded before it is sent. Key is deterministic (incident, cycle, repeat,
// step, channel, destination), so computing a step twice records it once.
type Notification struct {
	Key        string `json:"key"`
	IncidentID int64  `json:"incident_id"`
	// GroupKey gathers notifications sent as one message (storm control).
	GroupKey string `json:"group_key"`
	// Kind is "problem", "recovery", "flapping" or "reminder".
	Kind        string `json:"kind"`
	Channel     string `json:"channel"`
	Destination string `json:"destination,omitempty"`
	Role        string `json:"role,omitempty"`
	// Level is the step number (1-based) that sent it; 0 for notices.
	Level      int               `json:"level"`
	State      NotificationState `json:"state"`
	Attempts   int               `json:"attempts"`
	NotBefore  time.Time         `json:"not_before"`
	ClaimedBy  string            `json:"claimed_by,omitempty"`
	ClaimUntil *time.Time        `json:"claim_until,omitempty"`
	LastError  string            `json:"last_error,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
	SentAt     *time.Time        `json:"sent_at,omitempty"`
}

// Claim asks ClaimNotifications for due notifications.
type Claim struct {
	// Now decides what is due and when the lease ends.
	Now   time.Time
	Owner string
	// Fence is the claimer's leadership term; lower than the highest seen
	// gives ErrFenced.
	Fence int64
	// Takeover claims even below the highest fence seen, and makes Fence
	// the highest. Only for a claimer that has just proven it is the one
	// leader (a quorum confirmed it), whose term is lower only because the
	// cluster was rebuilt, or a single node with no terms at all.
	Takeover bool
	Lease    time.Duration
	// MaxGroups bounds how many groups are claimed (default 64).
	MaxGroups int
}

// Attempt is the outcome of one try at sending claimed notifications.
type Attempt struct {
	At time.Time
	// Err is empty when the message was delivered.
	Err string
	// RetryAt is when to try again after a failure; zero gives up.
	RetryAt time.Time
	// By and Comment go into the timeline entry.
	By      string
	Comment string
}

// Note is a system timeline entry to append.
type Note struct {
	IncidentID int64
	Kind       incident.Kind
	By         string
	Comment    string
	At         time.Time
}

// Maintenance scopes.
const (
	ScopeTarget = "target" // Match is a target name or glob (path.Match)
	ScopeTag    = "tag"    // Match is label=value
	ScopeSite   = "site"   // Match is the value of the "site" label
)

// Maintenance is a planned stop: during it faults in scope are recorded
// but not notified. One-off windows have Start and End; recurring ones a
// Cron schedule of starts (in TimeZone), each lasting Duration, from Start
// until End (zero: forever).
type Maintenance struct {
	ID        int64         `json:"id"`
	Name      string        `json:"name"`
	Scope     string        `json:"scope"`
	Match     string        `json:"match"`
	Start     time.Time     `json:"start"`
	End       *time.Time    `json:"end,omitempty"`
	Cron      string        `json:"cron,omitempty"`
	Duration  time.Duration `json:"duration,omitempty"`
	TimeZone  string        `json:"time_zone,omitempty"`
	Comment   string        `json:"comment,omitempty"`
	CreatedBy string        `json:"created_by"`
	CreatedAt time.Time     `json:"created_at"`
	EndedAt   *time.Time    `json:"ended_at,omitempty"`
	EndedBy   string        `json:"ended_by,omitempty"`
}

// Report is an incident's fault report (障害報告書).
type Report struct {
	IncidentID int64     `json:"incident_id"`
	Cause      string    `json:"cause"`
	Action     string    `json:"action"`
	Prevention string    `json:"prevention"`
	ReportedBy string    `json:"reported_by"`
	Role       string    `json:"role"`
	At         time.Time `json:"at"`
}

// Validate checks a window before it is stored and returns a
// *incident.FieldError naming the first bad field.
func (m *Maintenance) Validate() error {
	fe := func(f, msg string) error { return &incident.FieldError{Field: f, Msg: msg} }
	switch {
	case m.Name == "" || len(m.Name) > incident.MaxFieldLen:
		return fe("name", "required, at most 256 bytes")
	case m.Scope != ScopeTarget && m.Scope != ScopeTag && m.Scope != ScopeSite:
		return fe("scope", "want target, tag or site")
	case m.Match == "" || len(m.Match) > incident.MaxFieldLen:
		return fe("match", "required, at most 256 bytes")
	case m.Start.IsZero():
		return fe("start", "required")
	case m.CreatedBy == "":
		return fe("created_by", "required")
	case len(m.Comment) > incident.MaxMessageLen:
		return fe("comment", "longer than 8192 bytes")
	}
	if m.Cron == "" {
		if m.End == nil || !m.End.After(m.Start) {
			return fe("end", "required after start for a one-off window")
		}
		if m.Duration != 0 {
			return fe("duration", "only for a recurring window (with cron)")
		}
	} else if m.Duration <= 0 {
		return fe("duration", "required for a recurring window")
	} else if m.End != nil && !m.End.After(m.Start) {
		return fe("end", "must be after start")
	}
	return nil
}

// Validate checks a report before it is stored.
func (r *Report) Validate() error {
	fe := func(f, msg string) error { return &incident.FieldError{Field: f, Msg: msg} }
	for _, f := range []struct{ name, v string }{{"cause", r.Cause}, {"action", r.Action}, {"prevention", r.Prevention}} {
		if len(f.v) > incident.MaxMessageLen {
			return fe(f.name, "longer than 8192 bytes")
		}
	}
	switch {
	case r.Cause == "":
		return fe("cause", "required")
	case r.ReportedBy == "" || len(r.ReportedBy) > incident.MaxFieldLen:
		return fe("reported_by", "required, at most 256 bytes")
	case len(r.Role) > incident.MaxFieldLen:
		return fe("role", "at most 256 bytes")
	}
	return nil
}

// SortNotifications orders notifications by group, then creation time, then key.
func SortNotifications(ns []Notification) {
	slices.SortFunc(ns, func(a, b Notification) int {
		return cmp.Or(cmp.Compare(a.GroupKey, b.GroupKey), a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Key, b.Key))
	})
}
