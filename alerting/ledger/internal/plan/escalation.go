package plan

import (
	"errors"
	"fmt"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

// The escalation rules both stores apply (ledger.EscalationStore): what a
// note, a claim's fence, a notification and an attempt mean. The stores
// differ only in the SQL that reads and writes the rows.

// DefaultMaxGroups is the number of notification groups a claim takes
// when the claim names none.
const DefaultMaxGroups = 64

// CheckNote returns the error for a note that may not be appended: only
// system kinds (and the fault report) are notes, and they name who wrote
// them.
func CheckNote(n ledger.Note) error {
	if !n.Kind.IsSystem() && n.Kind != incident.KindReported {
		return fmt.Errorf("%w: %q is not a system entry", incident.ErrInvalidTransition, n.Kind)
	}
	if n.By == "" {
		return &incident.FieldError{Field: "by", Msg: "required"}
	}
	return nil
}

// NoteEntry is the timeline entry of note n, given the incident's new
// last_seq and its state and severity (a note changes neither). A zero
// n.At is now.
func NoteEntry(n ledger.Note, seq int, state, sev string, now time.Time) incident.Entry {
	return incident.Entry{IncidentID: n.IncidentID, Seq: seq, At: Time(OrNow(n.At, now)), Kind: n.Kind, By: n.By,
		Comment: n.Comment, Severity: incident.Severity(sev), State: incident.State(state)}
}

// NoIncident is the error of a note on an incident that does not exist.
func NoIncident(id int64) error { return fmt.Errorf("incident %d: %w", id, incident.ErrNotFound) }

// Conflict is the error of an update of escalation version v that is no
// longer current.
func Conflict(v int64) error { return fmt.Errorf("version %d: %w", v, ledger.ErrConflict) }

// Fence decides a claim against the highest fence recorded (found false:
// none yet): ErrFenced when a lower fence claims without Takeover; else
// whether c must be recorded as the highest (false when it already is).
func Fence(c ledger.Claim, fence int64, owner string, found bool) (record bool, err error) {
	switch {
	case !found:
		return true, nil
	case c.Fence < fence && !c.Takeover:
		return false, fmt.Errorf("claim by %s with fence %d, but %s claimed with %d: %w", c.Owner, c.Fence, owner, fence, ledger.ErrFenced)
	case c.Fence == fence && owner == c.Owner:
		return false, nil
	}
	return true, nil
}

// CheckNotification returns the error for a notification that may not be
// recorded: it needs its key and its channel.
func CheckNotification(n ledger.Notification) error {
	if n.Key == "" || n.Channel == "" {
		return &incident.FieldError{Field: "key", Msg: "notification without key or channel"}
	}
	return nil
}

// NotBefore is when a new notification may first be sent (a zero
// NotBefore is now).
func NotBefore(n ledger.Notification, now time.Time) time.Time { return OrNow(n.NotBefore, now) }

// Outcome is what an attempt does to the notifications it finishes.
type Outcome int

// Outcomes of an attempt.
const (
	Sent   Outcome = iota // state sent, sent_at = the attempt's time
	Retry                 // still pending, not_before = RetryAt, last_error
	Failed                // state failed, last_error
)

// AttemptOutcome says what attempt a does, and the kind of the timeline
// note written on each incident it touched.
func AttemptOutcome(a ledger.Attempt) (Outcome, incident.Kind) {
	switch {
	case a.Err == "":
		return Sent, incident.KindNotified
	case !a.RetryAt.IsZero():
		return Retry, incident.KindNotifyFailed
	}
	return Failed, incident.KindNotifyFailed
}

// Distinct returns ids without repeats, in first-seen order.
func Distinct(ids []int64) []int64 {
	seen := make(map[int64]bool, len(ids))
	var out []int64
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// OrNow is t, or now when t is zero.
func OrNow(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// Domain reports whether err is one of the ledger's own answers (not
// found, invalid transition, version conflict, fenced, a field error), which
// a store returns as it is (prefixed) rather than as a store failure.
func Domain(err error) bool {
	var fe *incident.FieldError
	return errors.Is(err, incident.ErrNotFound) || errors.Is(err, incident.ErrInvalidTransition) ||
		errors.Is(err, ledger.ErrConflict) || errors.Is(err, ledger.ErrFenced) || errors.As(err, &fe)
}
