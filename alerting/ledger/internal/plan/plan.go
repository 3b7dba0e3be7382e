// Package plan holds the ledger rules that both stores apply: given a batch
// of events, the incidents already active for their dedup keys and the event
// IDs already in the ledger, it computes every change in order — incidents to
// create and update, timeline entries to append, event rows to record — so
// that the SQLite and PostgreSQL stores differ only in how they load and
// write rows, never in what an event means.
//
// It has no I/O and keeps no state between calls.
package plan

import (
	"fmt"
	"maps"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
)

// Precision is the resolution at which every ledger time is stored.
const Precision = time.Microsecond

// Time returns t in UTC truncated to the ledger's precision.
func Time(t time.Time) time.Time { return t.UTC().Truncate(Precision) }

// Prepare returns normalized copies of evs (see incident.Event.Normalize)
// with times in UTC truncated to Precision, or the first validation error,
// naming the event's position.
func Prepare(evs []incident.Event, now time.Time) ([]incident.Event, error) {
	out := make([]incident.Event, len(evs))
	for i, e := range evs {
		e.Normalize(now)
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("event %d (%q): %w", i, e.ID, err)
		}
		e.Time = Time(e.Time)
		e.Received = Time(e.Received)
		e.Labels = maps.Clone(e.Labels)
		out[i] = e
	}
	return out, nil
}

// Incident is an incident as a store holds it: the incident and the sequence
// number of its last timeline entry.
type Incident struct {
	incident.Incident
	LastSeq int
}

// EventRow is an event to record as applied, with the incident it attached
// to (0 for none).
type EventRow struct {
	incident.Event
	IncidentID int64
}

// Result is what a batch does to the ledger.
type Result struct {
	// Changes has one entry per input event, in input order.
	Changes []incident.Change
	// Events are the events to record: the first occurrence of every ID
	// not applied before, in input order.
	Events []EventRow
	// Created are new incidents, in the order they opened. Until SetIDs is
	// called their IDs are temporary (negative).
	Created []*Incident
	// Updated are incidents that existed before the batch and changed: active
	// ones, and resolved ones marked recovered (see Apply).
	Updated []*Incident
	// Entries are the timeline entries to append, in order.
	Entries []incident.Entry
}

// Keys returns the distinct dedup keys of the events of evs whose IDs are
// not in applied: the active incidents a store must load (and lock) before
// calling Apply. evs must come from Prepare.
func Keys(evs []incident.Event, applied map[string]int64) []string {
	seen := make(map[string]bool)
	var keys []string
	for _, e := range evs {
		if _, dup := applied[e.ID]; dup || seen[e.DedupKey] {
			continue
		}
		seen[e.DedupKey] = true
		keys = append(keys, e.DedupKey)
	}
	return keys
}

// Inactive returns the keys among keys with no incident in active: the ones
// whose newest resolved or closed incident a store must load (the prev
// argument of Apply).
func Inactive(keys []string, active map[string]*Incident) []string {
	var out []string
	for _, k := range keys {
		if active[k] == nil {
			out = append(out, k)
		}
	}
	return out
}

// StillFailing reports whether p, the newest incident of its dedup key and
// no longer active, was resolved by an operator while its fault was still
// reported (no ok event since): a problem for the key is then the same fault
// recurring after a manual resolve.
func StillFailing(p *Incident) bool {
	return p != nil && !p.State.Active() && p.ResolvedAt != nil && !p.Recovered
}

// RecurComment is the comment of the "opened" entry of an incident that
// recurs after a manual resolve of incident id.
func RecurComment(id int64) string {
	return fmt.Sprintf("recurred: still failing after manual resolve of incident %d", id)
}

// Apply computes the effect of evs (from Prepare), in order. applied maps the
// IDs among evs that the ledger already holds to their incident (0 for none);
// active maps a dedup key to its active incident; prev maps a key with no
// active incident to its newest (resolved or closed) one, may be nil, and may
// lack keys. Apply updates the incidents in active and prev in place and adds
// the ones it opens to active; now is the ledger's clock (opened_at).
//
// The manual-resolve rule: an incident resolved while its fault was still
// reported (StillFailing) is followed, for a problem of its key, by a new
// incident whose "opened" entry says so (RecurComment); an ok event for the
// key after the resolve marks the resolved incident recovered (no timeline
// entry: it is no longer active), so a later problem is a new fault.
func Apply(evs []incident.Event, applied map[string]int64, active, prev map[string]*Incident, now time.Time) *Result {
	now = Time(now)
	r := &Result{Changes: make([]incident.Change, 0, len(evs))}
	seen := make(map[string]int64, len(evs)) // event ID → incident, within this batch
	updated := make(map[int64]bool)
	var tmp int64
	for _, e := range evs {
		if id, ok := applied[e.ID]; ok {
			r.Changes = append(r.Changes, incident.Change{EventID: e.ID, IncidentID: id, Kind: incident.ChangeDuplicate})
			continue
		}
		if id, ok := seen[e.ID]; ok {
			r.Changes = append(r.Changes, incident.Change{EventID: e.ID, IncidentID: id, Kind: incident.ChangeDuplicate})
			continue
		}
		inc := active[e.DedupKey]
		ch := incident.Change{EventID: e.ID}
		touch := func() {
			if inc.ID > 0 && !updated[inc.ID] {
				updated[inc.ID] = true
				r.Updated = append(r.Updated, inc)
			}
		}
		switch {
		case e.Status == incident.Problem && inc == nil:
			tmp--
			inc = &Incident{Incident: incident.Incident{
				ID:        tmp,
				DedupKey:  e.DedupKey,
				Source:    e.Source,
				Target:    e.Target,
				Check:     e.Check,
				Severity:  e.Severity,
				State:     incident.Open,
				Message:   e.Message,
				Runbook:   e.Runbook,
				Labels:    maps.Clone(e.Labels),
				Count:     1,
				FirstSeen: e.Time,
				LastSeen:  e.Time,
				OpenedAt:  now,
			}}
			active[e.DedupKey] = inc
			r.Created = append(r.Created, inc)
			comment := ""
			if p := prev[e.DedupKey]; StillFailing(p) {
				comment = RecurComment(p.ID)
			}
			r.entry(inc, e.Time, incident.KindOpened, e.Source, comment, e)
			ch.Kind = incident.ChangeOpened
		case e.Status == incident.Problem:
			ch.Kind = incident.ChangeOccurrence
			inc.Count++
			if e.Time.After(inc.LastSeen) {
				inc.LastSeen = e.Time
			}
			if e.Time.Before(inc.FirstSeen) {
				inc.FirstSeen = e.Time
			}
			if e.Message != "" {
				inc.Message = e.Message
			}
			if inc.Runbook == "" {
				inc.Runbook = e.Runbook
			}
			if inc.Recovered {
				inc.Recovered = false
				inc.RecoveredAt = nil
				r.entry(inc, e.Time, incident.KindRecurred, e.Source, "", e)
				ch.Kind = incident.ChangeRecurred
			}
			if e.Severity.Rank() > inc.Severity.Rank() {
				from := inc.Severity
				inc.Severity = e.Severity
				r.entry(inc, e.Time, incident.KindEscalated, e.Source, fmt.Sprintf("severity raised from %s to %s", from, e.Severity), e)
			}
			touch()
		case inc == nil: // ok, nothing active
			ch.Kind = incident.ChangeNoop
			if p := prev[e.DedupKey]; StillFailing(p) {
				at := e.Time
				p.Recovered, p.RecoveredAt = true, &at
				if !updated[p.ID] {
					updated[p.ID] = true
					r.Updated = append(r.Updated, p)
				}
			}
		case inc.Recovered: // ok, already recovered
			ch.Kind = incident.ChangeNoop
		default: // ok
			ch.Kind = incident.ChangeRecovered
			at := e.Time
			inc.Recovered = true
			inc.RecoveredAt = &at
			r.entry(inc, e.Time, incident.KindRecovered, e.Source, e.Message, e)
			touch()
		}
		if inc != nil {
			ch.IncidentID = inc.ID
		}
		seen[e.ID] = ch.IncidentID
		r.Changes = append(r.Changes, ch)
		r.Events = append(r.Events, EventRow{Event: e, IncidentID: ch.IncidentID})
	}
	return r
}

// entry appends an entry; with an event, its receive time is kept beside
// at when they differ.
func (r *Result) entry(inc *Incident, at time.Time, k incident.Kind, by, comment string, ev ...incident.Event) {
	inc.LastSeq++
	var received *time.Time
	if len(ev) > 0 && !ev[0].Received.IsZero() && !ev[0].Received.Equal(at) {
		rt := ev[0].Received
		received = &rt
	}
	r.Entries = append(r.Entries, incident.Entry{
		Received:   received,
		IncidentID: inc.ID,
		Seq:        inc.LastSeq,
		At:         at,
		Kind:       k,
		By:         by,
		Comment:    comment,
		Severity:   inc.Severity,
		State:      inc.State,
	})
}

// SetIDs replaces the temporary IDs of created incidents with the ones the
// store assigned: ids[i] belongs to r.Created[i].
func (r *Result) SetIDs(ids []int64) {
	m := make(map[int64]int64, len(ids))
	for i, inc := range r.Created {
		m[inc.ID] = ids[i]
		inc.ID = ids[i]
	}
	fix := func(id *int64) {
		if v, ok := m[*id]; ok {
			*id = v
		}
	}
	for i := range r.Changes {
		fix(&r.Changes[i].IncidentID)
	}
	for i := range r.Events {
		fix(&r.Events[i].IncidentID)
	}
	for i := range r.Entries {
		fix(&r.Entries[i].IncidentID)
	}
}

// Transition applies an operator action to inc in place and returns the
// timeline entry to append. On error inc is unchanged. A zero a.At means now.
func Transition(inc *Incident, a incident.Action, now time.Time) (incident.Entry, error) {
	if a.By == "" {
		return incident.Entry{}, &incident.FieldError{Field: "by", Msg: "required"}
	}
	if a.Kind == incident.KindComment && a.Comment == "" {
		return incident.Entry{}, &incident.FieldError{Field: "comment", Msg: "required"}
	}
	switch a.Kind {
	case incident.KindAcknowledged, incident.KindResolved, incident.KindClosed, incident.KindComment:
	default:
		return incident.Entry{}, fmt.Errorf("%w: %q is not an operator action", incident.ErrInvalidTransition, a.Kind)
	}
	next, err := incident.Next(inc.State, a.Kind)
	if err != nil {
		return incident.Entry{}, err
	}
	at := a.At
	if at.IsZero() {
		at = now
	}
	at = Time(at)
	switch a.Kind {
	case incident.KindAcknowledged:
		inc.AckedAt, inc.AckedBy = &at, a.By
		if inc.Owner == "" {
			inc.Owner = a.By
		}
	case incident.KindResolved:
		inc.ResolvedAt, inc.ResolvedBy = &at, a.By
	case incident.KindClosed:
		inc.ClosedAt, inc.ClosedBy = &at, a.By
	}
	inc.State = next
	inc.LastSeq++
	return incident.Entry{
		IncidentID: inc.ID,
		Seq:        inc.LastSeq,
		At:         at,
		Kind:       a.Kind,
		By:         a.By,
		Comment:    a.Comment,
		Severity:   inc.Severity,
		State:      next,
	}, nil
}
