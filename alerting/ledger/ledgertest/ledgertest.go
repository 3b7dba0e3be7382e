package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

// T0 is the time of the first event in every scenario. It has nanoseconds so
// that the suite checks stores truncate to microseconds.
var T0 = time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)

// Run runs the conformance suite. open must return a new, empty store for
// each call and arrange for it to be closed in t.Cleanup; closing it twice
// must be harmless.
func Run(t *testing.T, open func(t *testing.T) ledger.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s ledger.Store)
	}{
		{"OpenOnFirstProblem", testOpen},
		{"OccurrenceCounting", testOccurrences},
		{"SeverityRaisedNeverLowered", testEscalation},
		{"Recovered", testRecovered},
		{"Recurred", testRecurred},
		{"OKWithoutIncidentIsNoop", testOKNoop},
		{"DuplicateInLaterBatch", testDuplicateLaterBatch},
		{"DuplicateInSameBatch", testDuplicateSameBatch},
		{"NewIncidentAfterResolve", testNewAfterResolve},
		{"NewIncidentAfterClose", testNewAfterClose},
		{"RecurAfterManualResolve", testRecurAfterManualResolve},
		{"Transitions", testTransitions},
		{"ResolveFromOpen", testResolveFromOpen},
		{"InvalidTransitionChangesNothing", testInvalidTransition},
		{"NotFound", testNotFound},
		{"TransitionDefaultTime", testTransitionDefaultTime},
		{"IncidentsFilter", testIncidentsFilter},
		{"LabelsRoundTrip", testLabels},
		{"TimePrecision", testTimePrecision},
		{"ReceiveTimeBesideSourceTime", testReceived},
		{"Outbox", testOutbox},
		{"EventCount", testEventCount},
		{"InvalidEventRejectsBatch", testInvalidEvent},
		{"EmptyBatch", testEmptyBatch},
		{"ConcurrentTransitions", testConcurrentTransitions},
		{"ConcurrentApplySameKey", testConcurrentApply},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

// Event returns a valid problem event for dedup key "target/check" at
// T0+offset, from source "ping".
func Event(id, key string, sev incident.Severity, offset time.Duration) incident.Event {
	target, check, _ := strings.Cut(key, "/")
	return incident.Event{
		ID:       id,
		Source:   "ping",
		Target:   target,
		Check:    check,
		Severity: sev,
		Status:   incident.Problem,
		DedupKey: key,
		Message:  "message of " + id,
		Time:     T0.Add(offset),
	}
}

// OK returns an ok event for key at T0+offset.
func OK(id, key string, offset time.Duration) incident.Event {
	e := Event(id, key, incident.Info, offset)
	e.Status = incident.OK
	return e
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func apply(t *testing.T, s ledger.Store, evs ...incident.Event) []incident.Change {
	t.Helper()
	ch, err := s.ApplyEvents(ctx(t), evs)
	if err != nil {
		t.Fatalf("ApplyEvents: %v", err)
	}
	if len(ch) != len(evs) {
		t.Fatalf("ApplyEvents returned %d changes for %d events", len(ch), len(evs))
	}
	for i, c := range ch {
		if c.EventID != evs[i].ID {
			t.Fatalf("change %d is for event %q, want %q", i, c.EventID, evs[i].ID)
		}
	}
	return ch
}

func kinds(ch []incident.Change) []incident.ChangeKind {
	var k []incident.ChangeKind
	for _, c := range ch {
		k = append(k, c.Kind)
	}
	return k
}

func wantKinds(t *testing.T, ch []incident.Change, want ...incident.ChangeKind) {
	t.Helper()
	if got := kinds(ch); !slices.Equal(got, want) {
		t.Fatalf("changes = %v, want %v", got, want)
	}
}

func get(t *testing.T, s ledger.Store, id int64) incident.Incident {
	t.Helper()
	inc, err := s.Incident(ctx(t), id)
	if err != nil {
		t.Fatalf("Incident(%d): %v", id, err)
	}
	if inc.ID != id {
		t.Fatalf("Incident(%d) returned id %d", id, inc.ID)
	}
	return inc
}

func timeline(t *testing.T, s ledger.Store, id int64) []incident.Entry {
	t.Helper()
	es, err := s.Timeline(ctx(t), id)
	if err != nil {
		t.Fatalf("Timeline(%d): %v", id, err)
	}
	for i, e := range es {
		if e.IncidentID != id || e.Seq != i+1 {
			t.Fatalf("timeline(%d) entry %d: incident %d seq %d, want incident %d seq %d", id, i, e.IncidentID, e.Seq, id, i+1)
		}
		checkUTC(t, "entry at", e.At)
	}
	return es
}

func entryKinds(es []incident.Entry) []incident.Kind {
	var k []incident.Kind
	for _, e := range es {
		k = append(k, e.Kind)
	}
	return k
}

func wantTimeline(t *testing.T, s ledger.Store, id int64, want ...incident.Kind) []incident.Entry {
	t.Helper()
	es := timeline(t, s, id)
	if got := entryKinds(es); !slices.Equal(got, want) {
		t.Fatalf("timeline(%d) = %v, want %v", id, got, want)
	}
	return es
}

// us truncates t to the ledger's precision, in UTC.
func us(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func checkUTC(t *testing.T, what string, v time.Time) {
	t.Helper()
	if v.Location() != time.UTC {
		t.Errorf("%s %v: location %v, want UTC", what, v, v.Location())
	}
}

func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	checkUTC(t, what, got)
	if !got.Equal(us(want)) {
		t.Errorf("%s = %v, want %v", what, got, us(want))
	}
}

func samePtrTime(t *testing.T, what string, got *time.Time, want time.Time) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = nil, want %v", what, us(want))
		return
	}
	sameTime(t, what, *got, want)
}

func transition(t *testing.T, s ledger.Store, id int64, k incident.Kind, by, comment string, at time.Time) (incident.Incident, incident.Entry) {
	t.Helper()
	inc, e, err := s.Transition(ctx(t), id, incident.Action{Kind: k, By: by, Comment: comment, At: at})
	if err != nil {
		t.Fatalf("Transition(%d, %s): %v", id, k, err)
	}
	return inc, e
}

func testOpen(t *testing.T, s ledger.Store) {
	e := Event("e1", "web1/http", incident.Major, 0)
	e.Runbook = "rb-http"
	e.Source = "api"
	ch := apply(t, s, e)
	wantKinds(t, ch, incident.ChangeOpened)
	id := ch[0].IncidentID
	if id <= 0 {
		t.Fatalf("opened incident id = %d", id)
	}
	inc := get(t, s, id)
	if inc.DedupKey != "web1/http" || inc.Source != "api" || inc.Target != "web1" || inc.Check != "http" ||
		inc.Severity != incident.Major || inc.State != incident.Open || inc.Message != e.Message ||
		inc.Runbook != "rb-http" || inc.Count != 1 || inc.Recovered || inc.RecoveredAt != nil ||
		inc.AckedAt != nil || inc.ResolvedAt != nil || inc.ClosedAt != nil || inc.Owner != "" {
		t.Errorf("incident = %+v", inc)
	}
	sameTime(t, "first_seen", inc.FirstSeen, T0)
	sameTime(t, "last_seen", inc.LastSeen, T0)
	checkUTC(t, "opened_at", inc.OpenedAt)
	if inc.OpenedAt.IsZero() {
		t.Errorf("opened_at is zero")
	}
	es := wantTimeline(t, s, id, incident.KindOpened)
	if es[0].By != "api" || es[0].State != incident.Open || es[0].Severity != incident.Major {
		t.Errorf("opened entry = %+v", es[0])
	}
	sameTime(t, "opened entry at", es[0].At, T0)
	ok, incID, err := s.EventApplied(ctx(t), "e1")
	if err != nil || !ok || incID != id {
		t.Errorf("EventApplied(e1) = %v, %d, %v; want true, %d", ok, incID, err, id)
	}
	ok, incID, err = s.EventApplied(ctx(t), "nope")
	if err != nil || ok || incID != 0 {
		t.Errorf("EventApplied(nope) = %v, %d, %v; want false, 0", ok, incID, err)
	}
}

func testOccurrences(t *testing.T, s ledger.Store) {
	ch := apply(t, s, Event("e1", "db1/tcp", incident.Minor, 0))
	id := ch[0].IncidentID
	ch = apply(t, s, Event("e2", "db1/tcp", incident.Minor, time.Minute), Event("e3", "db1/tcp", incident.Minor, 2*time.Minute))
	wantKinds(t, ch, incident.ChangeOccurrence, incident.ChangeOccurrence)
	for _, c := range ch {
		if c.IncidentID != id {
			t.Fatalf("occurrence on incident %d, want %d", c.IncidentID, id)
		}
	}
	// An event from another key opens another incident.
	other := apply(t, s, Event("e4", "db2/tcp", incident.Minor, 0))
	wantKinds(t, other, incident.ChangeOpened)
	if other[0].IncidentID == id {
		t.Fatalf("other key joined incident %d", id)
	}
	inc := get(t, s, id)
	if inc.Count != 3 {
		t.Errorf("count = %d, want 3", inc.Count)
	}
	if inc.Message != "message of e3" {
		t.Errorf("message = %q, want the latest", inc.Message)
	}
	if inc.Severity != incident.Minor || inc.State != incident.Open {
		t.Errorf("severity/state = %s/%s", inc.Severity, inc.State)
	}
	sameTime(t, "first_seen", inc.FirstSeen, T0)
	sameTime(t, "last_seen", inc.LastSeen, T0.Add(2*time.Minute))
	wantTimeline(t, s, id, incident.KindOpened)
	if n := get(t, s, other[0].IncidentID).Count; n != 1 {
		t.Errorf("other incident count = %d", n)
	}
}

func testEscalation(t *testing.T, s ledger.Store) {
	ch := apply(t, s,
		Event("e1", "sw1/snmp", incident.Minor, 0),
		Event("e2", "sw1/snmp", incident.Critical, time.Second),
	)
	wantKinds(t, ch, incident.ChangeOpened, incident.ChangeOccurrence)
	id := ch[0].IncidentID
	ch = apply(t, s, Event("e3", "sw1/snmp", incident.Warning, 2*time.Second))
	wantKinds(t, ch, incident.ChangeOccurrence)
	inc := get(t, s, id)
	if inc.Severity != incident.Critical {
		t.Errorf("severity = %s, want critical (never lowered)", inc.Severity)
	}
	if inc.Count != 3 {
		t.Errorf("count = %d, want 3", inc.Count)
	}
	es := wantTimeline(t, s, id, incident.KindOpened, incident.KindEscalated)
	if es[1].Severity != incident.Critical || es[1].By != "ping" || es[1].State != incident.Open {
		t.Errorf("escalated entry = %+v", es[1])
	}
	sameTime(t, "escalated at", es[1].At, T0.Add(time.Second))
	if es[0].Severity != incident.Minor {
		t.Errorf("opened entry severity = %s, want minor", es[0].Severity)
	}
}

func testRecovered(t *testing.T, s ledger.Store) {
	id := apply(t, s, Event("e1", "n1/ping", incident.Critical, 0))[0].IncidentID
	ch := apply(t, s, OK("e2", "n1/ping", time.Minute))
	wantKinds(t, ch, incident.ChangeRecovered)
	if ch[0].IncidentID != id {
		t.Errorf("recovered incident %d, want %d", ch[0].IncidentID, id)
	}
	inc := get(t, s, id)
	if !inc.Recovered || inc.State != incident.Open || inc.Count != 1 || inc.Severity != incident.Critical {
		t.Errorf("incident after recovery = %+v", inc)
	}
	samePtrTime(t, "recovered_at", inc.RecoveredAt, T0.Add(time.Minute))
	es := wantTimeline(t, s, id, incident.KindOpened, incident.KindRecovered)
	if es[1].By != "ping" || es[1].State != incident.Open {
		t.Errorf("recovered entry = %+v", es[1])
	}
	sameTime(t, "recovered entry at", es[1].At, T0.Add(time.Minute))

	// A second ok changes nothing but is recorded.
	ch = apply(t, s, OK("e3", "n1/ping", 2*time.Minute))
	wantKinds(t, ch, incident.ChangeNoop)
	wantTimeline(t, s, id, incident.KindOpened, incident.KindRecovered)
	if ok, _, err := s.EventApplied(ctx(t), "e3"); err != nil || !ok {
		t.Errorf("EventApplied(e3) = %v, %v", ok, err)
	}
	samePtrTime(t, "recovered_at after second ok", get(t, s, id).RecoveredAt, T0.Add(time.Minute))
}

func testRecurred(t *testing.T, s ledger.Store) {
	ch := apply(t, s,
		Event("e1", "n1/ping", incident.Major, 0),
		OK("e2", "n1/ping", time.Minute),
		Event("e3", "n1/ping", incident.Major, 2*time.Minute),
	)
	wantKinds(t, ch, incident.ChangeOpened, incident.ChangeRecovered, incident.ChangeRecurred)
	id := ch[0].IncidentID
	if ch[1].IncidentID != id || ch[2].IncidentID != id {
		t.Fatalf("changes = %+v, want all on incident %d", ch, id)
	}
	inc := get(t, s, id)
	if inc.Recovered || inc.RecoveredAt != nil || inc.Count != 2 || inc.State != incident.Open {
		t.Errorf("incident after recurrence = %+v", inc)
	}
	sameTime(t, "last_seen", inc.LastSeen, T0.Add(2*time.Minute))
	wantTimeline(t, s, id, incident.KindOpened, incident.KindRecovered, incident.KindRecurred)

	// Recovery and recurrence again, this time in separate batches and with a
	// severity raise on recurrence.
	wantKinds(t, apply(t, s, OK("e4", "n1/ping", 3*time.Minute)), incident.ChangeRecovered)
	wantKinds(t, apply(t, s, Event("e5", "n1/ping", incident.Critical, 4*time.Minute)), incident.ChangeRecurred)
	wantTimeline(t, s, id, incident.KindOpened, incident.KindRecovered, incident.KindRecurred,
		incident.KindRecovered, incident.KindRecurred, incident.KindEscalated)
	if inc := get(t, s, id); inc.Count != 3 || inc.Severity != incident.Critical || inc.Recovered {
		t.Errorf("incident = %+v", inc)
	}
}

func testOKNoop(t *testing.T, s ledger.Store) {
	ch := apply(t, s, OK("e1", "n9/ping", 0))
	wantKinds(t, ch, incident.ChangeNoop)
	if ch[0].IncidentID != 0 {
		t.Errorf("noop incident id = %d, want 0", ch[0].IncidentID)
	}
	ok, id, err := s.EventApplied(ctx(t), "e1")
	if err != nil || !ok || id != 0 {
		t.Errorf("EventApplied(e1) = %v, %d, %v; want true, 0", ok, id, err)
	}
	if n, err := s.EventCount(ctx(t)); err != nil || n != 1 {
		t.Errorf("EventCount = %d, %v; want 1", n, err)
	}
	incs, err := s.Incidents(ctx(t), ledger.Filter{})
	if err != nil || len(incs) != 0 {
		t.Errorf("Incidents = %d, %v; want none", len(incs), err)
	}
	// Redelivery of the ok event is a duplicate, not another noop.
	wantKinds(t, apply(t, s, OK("e1", "n9/ping", 0)), incident.ChangeDuplicate)
}

func testDuplicateLaterBatch(t *testing.T, s ledger.Store) {
	e := Event("e1", "n1/ping", incident.Minor, 0)
	id := apply(t, s, e)[0].IncidentID
	before := get(t, s, id)
	again := e
	again.Message = "changed"
	again.Severity = incident.Critical
	again.Time = T0.Add(time.Hour)
	ch := apply(t, s, again)
	wantKinds(t, ch, incident.ChangeDuplicate)
	if ch[0].IncidentID != id {
		t.Errorf("duplicate reports incident %d, want %d", ch[0].IncidentID, id)
	}
	after := get(t, s, id)
	if after.Count != before.Count || after.Message != before.Message || after.Severity != before.Severity ||
		!after.LastSeen.Equal(before.LastSeen) {
		t.Errorf("duplicate changed the incident: before %+v, after %+v", before, after)
	}
	wantTimeline(t, s, id, incident.KindOpened)
	if n, _ := s.EventCount(ctx(t)); n != 1 {
		t.Errorf("EventCount = %d, want 1", n)
	}
	// A duplicate of an ok event that recovered, mixed with new events.
	ch = apply(t, s, OK("e2", "n1/ping", time.Minute))
	wantKinds(t, ch, incident.ChangeRecovered)
	ch = apply(t, s, OK("e2", "n1/ping", time.Minute), Event("e1", "n1/ping", incident.Minor, 0), Event("e3", "n1/ping", incident.Minor, 2*time.Minute))
	wantKinds(t, ch, incident.ChangeDuplicate, incident.ChangeDuplicate, incident.ChangeRecurred)
	wantTimeline(t, s, id, incident.KindOpened, incident.KindRecovered, incident.KindRecurred)
	if got := get(t, s, id).Count; got != 2 {
		t.Errorf("count = %d, want 2", got)
	}
}

func testDuplicateSameBatch(t *testing.T, s ledger.Store) {
	e1 := Event("e1", "n1/ping", incident.Minor, 0)
	e1b := e1
	e1b.Severity = incident.Critical
	ch := apply(t, s, e1, Event("e2", "n1/ping", incident.Minor, time.Second), e1b, OK("e3", "n2/ping", 0), OK("e3", "n2/ping", 0))
	wantKinds(t, ch, incident.ChangeOpened, incident.ChangeOccurrence, incident.ChangeDuplicate, incident.ChangeNoop, incident.ChangeDuplicate)
	id := ch[0].IncidentID
	if ch[2].IncidentID != id {
		t.Errorf("in-batch duplicate reports incident %d, want %d", ch[2].IncidentID, id)
	}
	inc := get(t, s, id)
	if inc.Count != 2 || inc.Severity != incident.Minor {
		t.Errorf("incident = count %d severity %s, want 2 minor", inc.Count, inc.Severity)
	}
	wantTimeline(t, s, id, incident.KindOpened)
	if n, _ := s.EventCount(ctx(t)); n != 3 {
		t.Errorf("EventCount = %d, want 3", n)
	}
}

func testNewAfterResolve(t *testing.T, s ledger.Store) {
	first := apply(t, s, Event("e1", "n1/ping", incident.Major, 0))[0].IncidentID
	transition(t, s, first, incident.KindResolved, "alice", "fixed cable", T0.Add(time.Minute))
	// An ok event after resolution has nothing active to recover.
	ch := apply(t, s, OK("e2", "n1/ping", 2*time.Minute))
	wantKinds(t, ch, incident.ChangeNoop)
	if ch[0].IncidentID != 0 {
		t.Errorf("ok after resolve attached to %d", ch[0].IncidentID)
	}
	ch = apply(t, s, Event("e3", "n1/ping", incident.Minor, 3*time.Minute), Event("e4", "n1/ping", incident.Minor, 4*time.Minute))
	wantKinds(t, ch, incident.ChangeOpened, incident.ChangeOccurrence)
	second := ch[0].IncidentID
	if second == first || ch[1].IncidentID != second {
		t.Fatalf("changes = %+v, want a new incident (old %d)", ch, first)
	}
	if old := get(t, s, first); old.State != incident.Resolved || old.Count != 1 {
		t.Errorf("old incident = %s count %d, want resolved 1", old.State, old.Count)
	}
	if inc := get(t, s, second); inc.State != incident.Open || inc.Count != 2 {
		t.Errorf("new incident = %s count %d, want open 2", inc.State, inc.Count)
	}
	wantTimeline(t, s, first, incident.KindOpened, incident.KindResolved)
	wantTimeline(t, s, second, incident.KindOpened)
}

// The manual-resolve rule: a problem after a resolve of a fault that was
// still reported opens a new incident whose "opened" entry says it recurred;
// after an ok event (the fault cleared) a problem is a new fault; an
// incident recovered before the resolve is not followed by a recurrence.
func testRecurAfterManualResolve(t *testing.T, s ledger.Store) {
	first := apply(t, s, Event("e1", "n1/disk", incident.Major, 0))[0].IncidentID
	transition(t, s, first, incident.KindResolved, "alice", "", T0.Add(time.Minute))
	ch := apply(t, s, Event("e2", "n1/disk", incident.Major, 2*time.Minute))
	wantKinds(t, ch, incident.ChangeOpened)
	second := ch[0].IncidentID
	es := wantTimeline(t, s, second, incident.KindOpened)
	if want := fmt.Sprintf("recurred: still failing after manual resolve of incident %d", first); es[0].Comment != want {
		t.Errorf("opened entry comment %q, want %q", es[0].Comment, want)
	}
	if old := get(t, s, first); old.Recovered {
		t.Errorf("old incident marked recovered")
	}

	// Resolved again; the fault clears (ok); a later problem is new.
	transition(t, s, second, incident.KindResolved, "alice", "", T0.Add(3*time.Minute))
	wantKinds(t, apply(t, s, OK("e3", "n1/disk", 4*time.Minute)), incident.ChangeNoop)
	if old := get(t, s, second); !old.Recovered || old.RecoveredAt == nil || !old.RecoveredAt.Equal(T0.Add(4*time.Minute).Truncate(time.Microsecond)) ||
		old.State != incident.Resolved {
		t.Errorf("resolved incident after ok = %+v, want recovered at +4m, still resolved", old)
	}
	wantTimeline(t, s, second, incident.KindOpened, incident.KindResolved)
	third := apply(t, s, Event("e4", "n1/disk", incident.Major, 5*time.Minute))[0].IncidentID
	if es := wantTimeline(t, s, third, incident.KindOpened); es[0].Comment != "" {
		t.Errorf("a new fault after recovery says %q", es[0].Comment)
	}

	// Recovered, then resolved: not a recurrence either.
	apply(t, s, OK("e5", "n1/disk", 6*time.Minute))
	transition(t, s, third, incident.KindResolved, "alice", "", T0.Add(7*time.Minute))
	fourth := apply(t, s, Event("e6", "n1/disk", incident.Major, 8*time.Minute))[0].IncidentID
	if es := wantTimeline(t, s, fourth, incident.KindOpened); es[0].Comment != "" {
		t.Errorf("a problem after a recovered incident's resolve says %q", es[0].Comment)
	}

	// Closed (after resolve) while still failing: recurs too; in one batch
	// with an occurrence.
	transition(t, s, fourth, incident.KindResolved, "alice", "", T0.Add(9*time.Minute))
	transition(t, s, fourth, incident.KindClosed, "bob", "", T0.Add(10*time.Minute))
	ch = apply(t, s, Event("e7", "n1/disk", incident.Major, 11*time.Minute), Event("e8", "n1/disk", incident.Major, 12*time.Minute))
	wantKinds(t, ch, incident.ChangeOpened, incident.ChangeOccurrence)
	if es := wantTimeline(t, s, ch[0].IncidentID, incident.KindOpened); !strings.Contains(es[0].Comment, fmt.Sprintf("incident %d", fourth)) {
		t.Errorf("recurrence after close says %q", es[0].Comment)
	}
}

func testNewAfterClose(t *testing.T, s ledger.Store) {
	first := apply(t, s, Event("e1", "n1/ping", incident.Major, 0))[0].IncidentID
	transition(t, s, first, incident.KindAcknowledged, "alice", "", T0.Add(time.Minute))
	// Acknowledged is still active: occurrences count on it.
	wantKinds(t, apply(t, s, Event("e2", "n1/ping", incident.Major, 2*time.Minute)), incident.ChangeOccurrence)
	transition(t, s, first, incident.KindResolved, "alice", "", T0.Add(3*time.Minute))
	transition(t, s, first, incident.KindClosed, "bob", "", T0.Add(4*time.Minute))
	ch := apply(t, s, Event("e3", "n1/ping", incident.Major, 5*time.Minute))
	wantKinds(t, ch, incident.ChangeOpened)
	if ch[0].IncidentID == first {
		t.Fatalf("problem after close joined closed incident %d", first)
	}
	if old := get(t, s, first); old.State != incident.Closed || old.Count != 2 {
		t.Errorf("old incident = %s count %d, want closed 2", old.State, old.Count)
	}
}

func testTransitions(t *testing.T, s ledger.Store) {
	id := apply(t, s, Event("e1", "n1/ping", incident.Critical, 0))[0].IncidentID
	at := T0.Add(10 * time.Minute)

	inc, e := transition(t, s, id, incident.KindAcknowledged, "alice", "looking", at)
	if inc.State != incident.Acknowledged || inc.AckedBy != "alice" || inc.Owner != "alice" {
		t.Errorf("after ack: %+v", inc)
	}
	samePtrTime(t, "acked_at", inc.AckedAt, at)
	if e.Kind != incident.KindAcknowledged || e.By != "alice" || e.Comment != "looking" || e.State != incident.Acknowledged || e.Seq != 2 || e.IncidentID != id {
		t.Errorf("ack entry = %+v", e)
	}
	sameTime(t, "ack entry at", e.At, at)
	if got := get(t, s, id); got.State != incident.Acknowledged || got.AckedBy != "alice" || got.Owner != "alice" {
		t.Errorf("stored after ack: %+v", got)
	}

	inc, e = transition(t, s, id, incident.KindComment, "bob", "vendor called", at.Add(time.Minute))
	if inc.State != incident.Acknowledged || e.State != incident.Acknowledged || e.Comment != "vendor called" || e.By != "bob" || e.Seq != 3 {
		t.Errorf("comment: incident %s, entry %+v", inc.State, e)
	}

	inc, e = transition(t, s, id, incident.KindResolved, "bob", "replaced PSU", at.Add(2*time.Minute))
	if inc.State != incident.Resolved || inc.ResolvedBy != "bob" || e.State != incident.Resolved || e.Seq != 4 {
		t.Errorf("resolve: %+v, entry %+v", inc, e)
	}
	samePtrTime(t, "resolved_at", inc.ResolvedAt, at.Add(2*time.Minute))

	inc, e = transition(t, s, id, incident.KindClosed, "carol", "", at.Add(3*time.Minute))
	if inc.State != incident.Closed || inc.ClosedBy != "carol" || e.State != incident.Closed || e.Seq != 5 {
		t.Errorf("close: %+v, entry %+v", inc, e)
	}
	samePtrTime(t, "closed_at", inc.ClosedAt, at.Add(3*time.Minute))

	// Comments are allowed on a closed incident.
	transition(t, s, id, incident.KindComment, "dave", "postmortem filed", at.Add(4*time.Minute))

	es := wantTimeline(t, s, id, incident.KindOpened, incident.KindAcknowledged, incident.KindComment,
		incident.KindResolved, incident.KindClosed, incident.KindComment)
	want := []struct {
		by, comment string
		state       incident.State
		at          time.Time
	}{
		{"ping", "", incident.Open, T0},
		{"alice", "looking", incident.Acknowledged, at},
		{"bob", "vendor called", incident.Acknowledged, at.Add(time.Minute)},
		{"bob", "replaced PSU", incident.Resolved, at.Add(2 * time.Minute)},
		{"carol", "", incident.Closed, at.Add(3 * time.Minute)},
		{"dave", "postmortem filed", incident.Closed, at.Add(4 * time.Minute)},
	}
	for i, w := range want {
		if es[i].By != w.by || es[i].Comment != w.comment || es[i].State != w.state {
			t.Errorf("entry %d = %+v, want by %q comment %q state %s", i, es[i], w.by, w.comment, w.state)
		}
		sameTime(t, fmt.Sprintf("entry %d at", i), es[i].At, w.at)
	}
	got := get(t, s, id)
	if got.AckedBy != "alice" || got.ResolvedBy != "bob" || got.ClosedBy != "carol" || got.Owner != "alice" {
		t.Errorf("stored incident = %+v", got)
	}
	samePtrTime(t, "stored acked_at", got.AckedAt, at)
	samePtrTime(t, "stored resolved_at", got.ResolvedAt, at.Add(2*time.Minute))
	samePtrTime(t, "stored closed_at", got.ClosedAt, at.Add(3*time.Minute))
}

func testResolveFromOpen(t *testing.T, s ledger.Store) {
	id := apply(t, s, Event("e1", "n1/ping", incident.Minor, 0))[0].IncidentID
	inc, _ := transition(t, s, id, incident.KindResolved, "alice", "", T0.Add(time.Minute))
	if inc.State != incident.Resolved || inc.AckedAt != nil {
		t.Errorf("resolve from open: %+v", inc)
	}
	wantTimeline(t, s, id, incident.KindOpened, incident.KindResolved)
}

func testInvalidTransition(t *testing.T, s ledger.Store) {
	id := apply(t, s, Event("e1", "n1/ping", incident.Minor, 0))[0].IncidentID
	check := func(k incident.Kind, wantEntries int) {
		t.Helper()
		before := get(t, s, id)
		_, _, err := s.Transition(ctx(t), id, incident.Action{Kind: k, By: "mallory", Comment: "x", At: T0.Add(time.Hour)})
		if !errors.Is(err, incident.ErrInvalidTransition) {
			t.Errorf("%s from %s: err = %v, want ErrInvalidTransition", k, before.State, err)
		}
		after := get(t, s, id)
		if after.State != before.State || after.AckedBy != before.AckedBy || after.ClosedBy != before.ClosedBy || after.ResolvedBy != before.ResolvedBy {
			t.Errorf("%s from %s changed the incident: %+v", k, before.State, after)
		}
		if n := len(timeline(t, s, id)); n != wantEntries {
			t.Errorf("%s from %s: timeline has %d entries, want %d", k, before.State, n, wantEntries)
		}
	}
	check(incident.KindClosed, 1)   // close from open
	check(incident.KindOpened, 1)   // not an operator action
	check(incident.KindRecurred, 1) // not an operator action
	transition(t, s, id, incident.KindAcknowledged, "alice", "", T0.Add(time.Minute))
	check(incident.KindAcknowledged, 2) // ack twice
	check(incident.KindClosed, 2)       // close from acknowledged
	transition(t, s, id, incident.KindResolved, "alice", "", T0.Add(2*time.Minute))
	check(incident.KindAcknowledged, 3)
	check(incident.KindResolved, 3)
	transition(t, s, id, incident.KindClosed, "alice", "", T0.Add(3*time.Minute))
	check(incident.KindAcknowledged, 4)
	check(incident.KindResolved, 4)
	check(incident.KindClosed, 4)

	// Actions without an author or an empty comment are rejected too.
	for _, a := range []incident.Action{
		{Kind: incident.KindComment, By: "", Comment: "x"},
		{Kind: incident.KindComment, By: "alice", Comment: ""},
	} {
		if _, _, err := s.Transition(ctx(t), id, a); err == nil {
			t.Errorf("Transition(%+v) succeeded, want an error", a)
		}
	}
	if n := len(timeline(t, s, id)); n != 4 {
		t.Errorf("timeline has %d entries, want 4", n)
	}
}

func testNotFound(t *testing.T, s ledger.Store) {
	apply(t, s, Event("e1", "n1/ping", incident.Minor, 0))
	const missing = 987654321
	if _, err := s.Incident(ctx(t), missing); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("Incident: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Timeline(ctx(t), missing); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("Timeline: err = %v, want ErrNotFound", err)
	}
	if _, _, err := s.Transition(ctx(t), missing, incident.Action{Kind: incident.KindAcknowledged, By: "alice"}); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("Transition: err = %v, want ErrNotFound", err)
	}
	if p, err := s.Pending(ctx(t), 100); err != nil || len(p) != 1 {
		t.Errorf("Pending = %d entries, %v; want 1 (the failed calls add none)", len(p), err)
	}
}

func testTransitionDefaultTime(t *testing.T, s ledger.Store) {
	id := apply(t, s, Event("e1", "n1/ping", incident.Minor, 0))[0].IncidentID
	before := time.Now().Add(-time.Minute)
	inc, e := transition(t, s, id, incident.KindAcknowledged, "alice", "", time.Time{})
	after := time.Now().Add(time.Minute)
	if e.At.Before(before) || e.At.After(after) {
		t.Errorf("entry at %v, want about now", e.At)
	}
	checkUTC(t, "entry at", e.At)
	if inc.AckedAt == nil || !inc.AckedAt.Equal(e.At) {
		t.Errorf("acked_at %v, entry at %v", inc.AckedAt, e.At)
	}
	es := timeline(t, s, id)
	if !es[1].At.Equal(e.At) {
		t.Errorf("stored entry at %v, returned %v", es[1].At, e.At)
	}
}

func ids(incs []incident.Incident) []int64 {
	var out []int64
	for _, i := range incs {
		out = append(out, i.ID)
	}
	return out
}

func testIncidentsFilter(t *testing.T, s ledger.Store) {
	// Five incidents: a/1 a/2 a/3 b/1 b/2, in that id order.
	var id []int64
	for i, key := range []string{"a/1", "a/2", "a/3", "b/1", "b/2"} {
		id = append(id, apply(t, s, Event(fmt.Sprintf("e%d", i), key, incident.Minor, time.Duration(i)*time.Second))[0].IncidentID)
	}
	for i := 1; i < len(id); i++ {
		if id[i] <= id[i-1] {
			t.Fatalf("incident ids not increasing: %v", id)
		}
	}
	transition(t, s, id[1], incident.KindAcknowledged, "alice", "", time.Time{})
	transition(t, s, id[2], incident.KindResolved, "alice", "", time.Time{})
	transition(t, s, id[4], incident.KindResolved, "alice", "", time.Time{})
	transition(t, s, id[4], incident.KindClosed, "alice", "", time.Time{})

	tests := []struct {
		name string
		f    ledger.Filter
		want []int64
	}{
		{"all", ledger.Filter{}, []int64{id[4], id[3], id[2], id[1], id[0]}},
		{"open", ledger.Filter{States: []incident.State{incident.Open}}, []int64{id[3], id[0]}},
		{"active", ledger.Filter{States: []incident.State{incident.Open, incident.Acknowledged}}, []int64{id[3], id[1], id[0]}},
		{"closed", ledger.Filter{States: []incident.State{incident.Closed}}, []int64{id[4]}},
		{"target", ledger.Filter{Target: "a"}, []int64{id[2], id[1], id[0]}},
		{"target+state", ledger.Filter{Target: "b", States: []incident.State{incident.Open}}, []int64{id[3]}},
		{"unknown target", ledger.Filter{Target: "zz"}, nil},
		{"limit", ledger.Filter{Limit: 2}, []int64{id[4], id[3]}},
		{"page", ledger.Filter{Limit: 2, BeforeID: id[3]}, []int64{id[2], id[1]}},
		{"last page", ledger.Filter{Limit: 2, BeforeID: id[1]}, []int64{id[0]}},
		{"before+target", ledger.Filter{Target: "a", BeforeID: id[2]}, []int64{id[1], id[0]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Incidents(ctx(t), tt.f)
			if err != nil {
				t.Fatalf("Incidents: %v", err)
			}
			if !slices.Equal(ids(got), tt.want) {
				t.Errorf("Incidents(%+v) = %v, want %v", tt.f, ids(got), tt.want)
			}
			for _, inc := range got {
				if inc.Target == "" || inc.DedupKey == "" || inc.Count != 1 {
					t.Errorf("incident not fully loaded: %+v", inc)
				}
			}
		})
	}
	// Incidents returns the same data as Incident.
	all, _ := s.Incidents(ctx(t), ledger.Filter{})
	for _, inc := range all {
		one := get(t, s, inc.ID)
		if one.State != inc.State || one.AckedBy != inc.AckedBy || !one.LastSeen.Equal(inc.LastSeen) || one.Message != inc.Message {
			t.Errorf("Incidents and Incident disagree: %+v vs %+v", inc, one)
		}
	}
}

func testLabels(t *testing.T, s ledger.Store) {
	e := Event("e1", "rack3-pdu/snmp", incident.Major, 0)
	e.Labels = map[string]string{"rack": "3", "room": "サーバ室 B", "quote": `a"b\c`, "empty": ""}
	want := maps.Clone(e.Labels)
	id := apply(t, s, e)[0].IncidentID
	e.Labels["rack"] = "mutated after apply"
	if got := get(t, s, id).Labels; !maps.Equal(got, want) {
		t.Errorf("labels = %v, want %v", got, want)
	}
	got, err := s.Incidents(ctx(t), ledger.Filter{})
	if err != nil || len(got) != 1 || !maps.Equal(got[0].Labels, want) {
		t.Errorf("Incidents labels = %v, %v; want %v", got, err, want)
	}
	id2 := apply(t, s, Event("e2", "n1/ping", incident.Minor, 0))[0].IncidentID
	if got := get(t, s, id2).Labels; len(got) != 0 {
		t.Errorf("labels of an event without labels = %v, want none", got)
	}
}

// The receive time is kept beside the source time: on the timeline entry
// where they differ, not where they are equal.
func testReceived(t *testing.T, s ledger.Store) {
	e1 := Event("e1", "n1/ping", incident.Major, 0)
	e1.Received = T0.Add(-time.Hour) // the source's clock runs an hour fast
	e2 := OK("e2", "n1/ping", time.Minute)
	e2.Received = e2.Time
	id := apply(t, s, e1, e2)[0].IncidentID
	es := wantTimeline(t, s, id, incident.KindOpened, incident.KindRecovered)
	want := T0.Add(-time.Hour).Truncate(time.Microsecond)
	if es[0].Received == nil || !es[0].Received.Equal(want) || !es[0].At.Equal(T0.Truncate(time.Microsecond)) {
		t.Errorf("opened entry at %s received %v, want at %s received %s", es[0].At, es[0].Received, T0, want)
	}
	if !es[0].TrustedAt().Equal(want) {
		t.Errorf("TrustedAt %s, want the receive time %s", es[0].TrustedAt(), want)
	}
	if es[1].Received != nil {
		t.Errorf("recovered entry received %v, want none (equal to at)", es[1].Received)
	}
	pend, err := s.Pending(ctx(t), 10)
	if err != nil || len(pend) != 2 || pend[0].Received == nil || !pend[0].Received.Equal(want) {
		t.Errorf("Pending = %+v, %v; want the receive time on the first entry", pend, err)
	}
}

func testTimePrecision(t *testing.T, s ledger.Store) {
	jst := time.FixedZone("JST", 9*3600)
	at := time.Date(2025, 6, 30, 23, 59, 59, 999999999, jst)
	e := Event("e1", "n1/ping", incident.Minor, 0)
	e.Time = at
	id := apply(t, s, e)[0].IncidentID
	inc := get(t, s, id)
	sameTime(t, "first_seen", inc.FirstSeen, at)
	sameTime(t, "last_seen", inc.LastSeen, at)
	if got := inc.FirstSeen.Nanosecond() % 1000; got != 0 {
		t.Errorf("first_seen keeps sub-microsecond digits: %v", inc.FirstSeen)
	}
	ack := time.Date(2025, 7, 1, 0, 0, 0, 1500, time.UTC)
	_, e2 := transition(t, s, id, incident.KindAcknowledged, "alice", "", ack)
	sameTime(t, "returned entry at", e2.At, ack)
	es := timeline(t, s, id)
	sameTime(t, "stored opened at", es[0].At, at)
	sameTime(t, "stored ack at", es[1].At, ack)
	samePtrTime(t, "acked_at", get(t, s, id).AckedAt, ack)
	// An event before first_seen (late delivery) moves first_seen back and
	// leaves last_seen alone.
	apply(t, s, Event("e2", "n1/ping", incident.Minor, -time.Hour))
	inc = get(t, s, id)
	sameTime(t, "first_seen after late event", inc.FirstSeen, T0.Add(-time.Hour))
	sameTime(t, "last_seen after late event", inc.LastSeen, at)
}

func pendingKeys(es []incident.Entry) []ledger.EntryKey {
	var k []ledger.EntryKey
	for _, e := range es {
		k = append(k, ledger.EntryKey{IncidentID: e.IncidentID, Seq: e.Seq})
	}
	return k
}

func pending(t *testing.T, s ledger.Store, limit int) []incident.Entry {
	t.Helper()
	p, err := s.Pending(ctx(t), limit)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	return p
}

func testOutbox(t *testing.T, s ledger.Store) {
	if p := pending(t, s, 10); len(p) != 0 {
		t.Fatalf("Pending on an empty ledger = %v", p)
	}
	a := apply(t, s, Event("e1", "a/1", incident.Minor, 0))[0].IncidentID
	b := apply(t, s, Event("e2", "b/1", incident.Minor, 0))[0].IncidentID
	apply(t, s, Event("e3", "a/1", incident.Critical, time.Second), OK("e4", "b/1", time.Second))
	transition(t, s, a, incident.KindAcknowledged, "alice", "", T0.Add(-time.Hour)) // an early "at" does not reorder the outbox
	key := func(id int64, seq int) ledger.EntryKey { return ledger.EntryKey{IncidentID: id, Seq: seq} }
	want := []ledger.EntryKey{key(a, 1), key(b, 1), key(a, 2), key(b, 2), key(a, 3)}
	wantKind := []incident.Kind{incident.KindOpened, incident.KindOpened, incident.KindEscalated, incident.KindRecovered, incident.KindAcknowledged}

	p := pending(t, s, 100)
	if got := pendingKeys(p); !slices.Equal(got, want) {
		t.Fatalf("Pending = %v, want %v (oldest first)", got, want)
	}
	if got := entryKinds(p); !slices.Equal(got, wantKind) {
		t.Errorf("Pending kinds = %v, want %v", got, wantKind)
	}
	if p[4].By != "alice" || p[4].State != incident.Acknowledged || p[2].Severity != incident.Critical {
		t.Errorf("Pending entries not fully loaded: %+v", p)
	}
	if got := pendingKeys(pending(t, s, 2)); !slices.Equal(got, want[:2]) {
		t.Errorf("Pending(2) = %v, want %v", got, want[:2])
	}

	if err := s.MarkPublished(ctx(t), want[:2]); err != nil {
		t.Fatalf("MarkPublished: %v", err)
	}
	if got := pendingKeys(pending(t, s, 100)); !slices.Equal(got, want[2:]) {
		t.Errorf("Pending after marking 2 = %v, want %v", got, want[2:])
	}
	// Marking again, marking unknown keys and marking nothing are harmless.
	if err := s.MarkPublished(ctx(t), append(want[:1:1], ledger.EntryKey{IncidentID: 999999, Seq: 1})); err != nil {
		t.Errorf("MarkPublished(again, unknown): %v", err)
	}
	if err := s.MarkPublished(ctx(t), nil); err != nil {
		t.Errorf("MarkPublished(nil): %v", err)
	}
	if err := s.MarkPublished(ctx(t), want[2:]); err != nil {
		t.Fatalf("MarkPublished: %v", err)
	}
	if p := pending(t, s, 100); len(p) != 0 {
		t.Errorf("Pending after marking all = %v", pendingKeys(p))
	}
	transition(t, s, b, incident.KindResolved, "bob", "", time.Time{})
	if got := pendingKeys(pending(t, s, 100)); !slices.Equal(got, []ledger.EntryKey{key(b, 3)}) {
		t.Errorf("Pending after resolve = %v, want [{%d 3}]", got, b)
	}
	// Publishing does not change the timeline.
	wantTimeline(t, s, a, incident.KindOpened, incident.KindEscalated, incident.KindAcknowledged)
}

func testEventCount(t *testing.T, s ledger.Store) {
	count := func(want int64) {
		t.Helper()
		n, err := s.EventCount(ctx(t))
		if err != nil || n != want {
			t.Errorf("EventCount = %d, %v; want %d", n, err, want)
		}
	}
	count(0)
	apply(t, s, Event("e1", "a/1", incident.Minor, 0), Event("e2", "a/1", incident.Minor, 0), OK("e3", "x/1", 0))
	count(3)
	apply(t, s, Event("e1", "a/1", incident.Minor, 0), Event("e4", "a/1", incident.Minor, 0), Event("e4", "a/1", incident.Minor, 0))
	count(4)
}

func testInvalidEvent(t *testing.T, s ledger.Store) {
	bad := Event("e2", "a/1", incident.Minor, 0)
	bad.Target = ""
	bad.Check = ""
	if _, err := s.ApplyEvents(ctx(t), []incident.Event{Event("e1", "a/1", incident.Minor, 0), bad}); err == nil {
		t.Fatalf("ApplyEvents with an invalid event succeeded")
	}
	var fe *incident.FieldError
	bad2 := Event("e3", "a/1", "loud", 0)
	if _, err := s.ApplyEvents(ctx(t), []incident.Event{bad2}); !errors.As(err, &fe) || fe.Field != "severity" {
		t.Errorf("ApplyEvents(bad severity) err = %v, want a *incident.FieldError for severity", err)
	}
	if n, _ := s.EventCount(ctx(t)); n != 0 {
		t.Errorf("EventCount = %d after rejected batches, want 0", n)
	}
	if incs, _ := s.Incidents(ctx(t), ledger.Filter{}); len(incs) != 0 {
		t.Errorf("rejected batch opened incidents: %v", ids(incs))
	}
	// Defaults are filled: no status means problem, no dedup key means
	// target/check, no source means "api".
	e := incident.Event{ID: "e4", Target: "n7", Check: "ping", Severity: incident.Minor, Time: T0}
	ch := apply(t, s, e)
	wantKinds(t, ch, incident.ChangeOpened)
	if inc := get(t, s, ch[0].IncidentID); inc.DedupKey != "n7/ping" || inc.Source != "api" {
		t.Errorf("defaults: %+v", inc)
	}
}

func testEmptyBatch(t *testing.T, s ledger.Store) {
	ch, err := s.ApplyEvents(ctx(t), nil)
	if err != nil || len(ch) != 0 {
		t.Errorf("ApplyEvents(nil) = %v, %v", ch, err)
	}
	if err := s.Ping(ctx(t)); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func testConcurrentTransitions(t *testing.T, s ledger.Store) {
	id := apply(t, s, Event("e1", "n1/ping", incident.Critical, 0))[0].IncidentID
	const n = 10
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ok   int
		errs []error
	)
	for i := range n {
		wg.Go(func() {
			_, _, err := s.Transition(ctx(t), id, incident.Action{Kind: incident.KindAcknowledged, By: fmt.Sprintf("op%d", i), At: T0.Add(time.Minute)})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else if !errors.Is(err, incident.ErrInvalidTransition) {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("unexpected errors: %v", errors.Join(errs...))
	}
	if ok != 1 {
		t.Fatalf("%d acknowledgements succeeded, want exactly 1", ok)
	}
	es := wantTimeline(t, s, id, incident.KindOpened, incident.KindAcknowledged)
	if inc := get(t, s, id); inc.AckedBy != es[1].By || inc.Owner != es[1].By {
		t.Errorf("acked by %q, owner %q, timeline says %q", inc.AckedBy, inc.Owner, es[1].By)
	}

	// Concurrent comments all succeed, each with its own seq.
	var wg2 sync.WaitGroup
	for i := range n {
		wg2.Go(func() {
			if _, _, err := s.Transition(ctx(t), id, incident.Action{Kind: incident.KindComment, By: "op", Comment: fmt.Sprint(i)}); err != nil {
				t.Errorf("comment %d: %v", i, err)
			}
		})
	}
	wg2.Wait()
	if es := timeline(t, s, id); len(es) != 2+n {
		t.Errorf("timeline has %d entries, want %d", len(es), 2+n)
	}
}

func testConcurrentApply(t *testing.T, s ledger.Store) {
	const (
		workers = 6
		rounds  = 12
		size    = 8
	)
	// In every round all workers start together on a new dedup key, so they
	// race to open its incident. Each sends its own events; in odd rounds
	// every batch also carries two events that all workers send (a
	// redelivery race): those count once.
	for r := range rounds {
		key := fmt.Sprintf("core%d/ping", r)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				var evs []incident.Event
				for i := range size {
					evs = append(evs, Event(fmt.Sprintf("r%d-w%d-%d", r, w, i), key, incident.Minor, time.Duration(i)*time.Millisecond))
				}
				if r%2 == 1 {
					a, b := Event(fmt.Sprintf("r%d-shared-0", r), key, incident.Minor, 0), Event(fmt.Sprintf("r%d-shared-1", r), key, incident.Minor, 0)
					if w%2 == 1 {
						a, b = b, a
					}
					evs = append(append([]incident.Event{a}, evs...), b)
				}
				<-start
				ch, err := s.ApplyEvents(ctx(t), evs)
				if err != nil {
					t.Errorf("round %d worker %d: %v", r, w, err)
					return
				}
				for _, c := range ch {
					if c.Kind != incident.ChangeOpened && c.Kind != incident.ChangeOccurrence && c.Kind != incident.ChangeDuplicate {
						t.Errorf("round %d worker %d: change %+v", r, w, c)
					}
				}
			})
		}
		close(start)
		wg.Wait()
	}
	if t.Failed() {
		return
	}
	active, err := s.Incidents(ctx(t), ledger.Filter{States: []incident.State{incident.Open, incident.Acknowledged}})
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != rounds {
		t.Fatalf("%d active incidents for %d dedup keys, want one each", len(active), rounds)
	}
	var total int64
	for _, inc := range active {
		var r int
		fmt.Sscanf(inc.Target, "core%d", &r)
		want := int64(workers * size)
		if r%2 == 1 {
			want += 2
		}
		if inc.Count != want {
			t.Errorf("incident %s: count = %d, want %d", inc.DedupKey, inc.Count, want)
		}
		total += inc.Count
		wantTimeline(t, s, inc.ID, incident.KindOpened)
	}
	if n, _ := s.EventCount(ctx(t)); n != total {
		t.Errorf("EventCount = %d, want %d", n, total)
	}
}

func testClosed(t *testing.T, s ledger.Store) {
	apply(t, s, Event("e1", "n1/ping", incident.Minor, 0))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	c := ctx(t)
	if _, err := s.ApplyEvents(c, []incident.Event{Event("e2", "n1/ping", incident.Minor, 0)}); !errors.Is(err, ledger.ErrClosed) {
		t.Errorf("ApplyEvents after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Incident(c, 1); !errors.Is(err, ledger.ErrClosed) {
		t.Errorf("Incident after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Pending(c, 1); !errors.Is(err, ledger.ErrClosed) {
		t.Errorf("Pending after Close: %v, want ErrClosed", err)
	}
	if err := s.Ping(c); !errors.Is(err, ledger.ErrClosed) {
		t.Errorf("Ping after Close: %v, want ErrClosed", err)
	}
}
