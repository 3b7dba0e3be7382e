package ledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/unyo-ops/unyo/alerting/incident"
)

// Errors a Store returns besides incident.ErrNotFound and
// incident.ErrInvalidTransition.
var (
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("ledger store closed")
	// ErrUnavailable: the store could not be reached or opened (yet).
	ErrUnavailable = errors.New("ledger store unavailable")
	// ErrNotOpen: the store is still opening and no attempt to open it has
	// failed yet. It wraps ErrUnavailable. A component that meets it at
	// start-up logs it at debug at most: the node reports the opening
	// itself, and a failed open is reported as ErrUnavailable.
	ErrNotOpen = fmt.Errorf("%w: not open yet", ErrUnavailable)
)

// Filter selects incidents for Incidents. Zero values select everything.
type Filter struct {
	States []incident.State
	Target string
	// Limit caps the number of incidents returned (0 means 1000).
	Limit int
	// BeforeID returns only incidents with a smaller id (paging newest first).
	BeforeID int64
}

// Store is the fault ledger. Every method is safe for concurrent use.
//
// Rules every implementation keeps (the conformance suite checks them):
//   - ApplyEvents applies the batch in one transaction, in order. An event
//     whose ID was applied before changes nothing and reports
//     ChangeDuplicate, so redelivery after a crash is harmless.
//   - A problem event opens an incident, or adds an occurrence to the active
//     (open or acknowledged) incident with the same dedup key: count+1,
//     last_seen, message; severity is raised (never lowered) with an
//     "escalated" entry. A problem event on a recovered active incident
//     clears recovery with a "recurred" entry.
//   - An ok event marks the active incident for its key recovered (a
//     "recovered" entry); with none it is a noop. It is still recorded as
//     applied.
//   - Manual resolve of a fault still reported: when the newest incident of
//     a key was resolved (or closed) by an operator while not recovered, a
//     problem event for the key opens a new incident whose "opened" entry
//     reads "recurred: still failing after manual resolve of incident N";
//     an ok event in between marks the resolved incident recovered (no
//     entry), and a later problem is a new fault.
//   - Every state change and every operator action appends one timeline entry;
//     entries are never edited. Entries are the outbox: Pending returns those
//     not yet marked published, oldest first.
type Store interface {
	ApplyEvents(ctx context.Context, evs []incident.Event) ([]incident.Change, error)
	Incident(ctx context.Context, id int64) (incident.Incident, error)
	Incidents(ctx context.Context, f Filter) ([]incident.Incident, error)
	Timeline(ctx context.Context, id int64) ([]incident.Entry, error)
	// Transition applies an operator action; it returns incident.ErrNotFound
	// or an error wrapping incident.ErrInvalidTransition and changes nothing
	// on error.
	Transition(ctx context.Context, id int64, a incident.Action) (incident.Incident, incident.Entry, error)
	// EventApplied reports whether an event with this ID is in the ledger, and
	// the incident it was attached to (0 for none).
	EventApplied(ctx context.Context, eventID string) (bool, int64, error)
	// EventCount returns how many distinct events the ledger holds.
	EventCount(ctx context.Context) (int64, error)
	// Pending returns up to limit timeline entries not yet published.
	Pending(ctx context.Context, limit int) ([]incident.Entry, error)
	// MarkPublished marks entries as published.
	MarkPublished(ctx context.Context, keys []EntryKey) error
	// Ping reports whether the store can serve requests now.
	Ping(ctx context.Context) error
	Close() error
}

// EntryKey identifies one timeline entry.
type EntryKey struct {
	IncidentID int64
	Seq        int
}
