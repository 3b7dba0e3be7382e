package ledgertest

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

// RunEscalation runs the conformance suite of ledger.EscalationStore. open
// must return a new, empty store that implements it.
func RunEscalation(t *testing.T, open func(t *testing.T) ledger.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s ledger.Store, es ledger.EscalationStore)
	}{
		{"StartOnce", testStartOnce},
		{"StartUnknownIncident", testStartUnknown},
		{"UpdateIsCompareAndSet", testUpdateCAS},
		{"DueEscalations", testDue},
		{"ClaimWholeGroup", testClaimGroup},
		{"ClaimFenced", testClaimFenced},
		{"Release", testRelease},
		{"FinishOutcomes", testFinish},
		{"Cancel", testCancel},
		{"Note", testNote},
		{"Maintenance", testMaintenance},
		{"Report", testReport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			es, ok := s.(ledger.EscalationStore)
			if !ok {
				t.Fatalf("%T does not implement ledger.EscalationStore", s)
			}
			tt.fn(t, s, es)
		})
	}
}

func openIncident(t *testing.T, s ledger.Store, key string) int64 {
	t.Helper()
	ch := apply(t, s, Event("ev-"+key, key, incident.Critical, 0))
	return ch[0].IncidentID
}

func tp(v time.Time) *time.Time { return &v }

func testStartOnce(t *testing.T, s ledger.Store, es ledger.EscalationStore) {
	id := openIncident(t, s, "a/ping")
	snap := json.RawMessage(`{"name":"p1","steps":[{"wait":"5m"}]}`)
	e, created, err := es.StartEscalation(ctx(t), ledger.Escalation{IncidentID: id, Policy: "p1", Snapshot: snap,
		State: ledger.EscActive, NextAt: tp(T0), LastSeq: 1})
	if err != nil || !created {
		t.Fatalf("StartEscalation = %v, %v; want created", created, err)
	}
	if e.Version != 1 || e.Policy != "p1" || e.State != ledger.EscActive || e.NextAt == nil || !e.NextAt.Equal(us(T0)) || e.LastSeq != 1 {
		t.Fatalf("stored %+v", e)
	}
	var got, want any
	json.Unmarshal(e.Snapshot, &got)
	json.Unmarshal(snap, &want)
	if !jsonEqual(got, want) {
		t.Errorf("snapshot %s, want %s", e.Snapshot, snap)
	}
	again, created, err := es.StartEscalation(ctx(t), ledger.Escalation{IncidentID: id, Policy: "other", Snapshot: snap, State: ledger.EscDone})
	if err != nil || created || again.Policy != "p1" || again.State != ledger.EscActive || again.Version != 1 {
		t.Fatalf("second StartEscalation = %+v, %v, %v; want the first, unchanged", again, created, err)
	}
	if _, err := es.Escalation(ctx(t), id+100); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("Escalation(unknown) = %v, want ErrNotFound", err)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func testStartUnknown(t *testing.T, _ ledger.Store, es ledger.EscalationStore) {
	_, _, err := es.StartEscalation(ctx(t), ledger.Escalation{IncidentID: 999, Policy: "p", Snapshot: json.RawMessage(`{}`), State: ledger.EscActive})
	if !errors.Is(err, incident.ErrNotFound) {
		t.Fatalf("StartEscalation(unknown incident) = %v, want ErrNotFound", err)
	}
}

func testUpdateCAS(t *testing.T, s ledger.Store, es ledger.EscalationStore) {
	id := openIncident(t, s, "a/ping")
	e, _, err := es.StartEscalation(ctx(t), ledger.Escalation{IncidentID: id, Policy: "p", Snapshot: json.RawMessage(`{}`), State: ledger.EscActive, NextAt: tp(T0)})
	if err != nil {
		t.Fatal(err)
	}
	next := e
	next.Step, next.Level, next.NextAt = 1, 1, tp(T0.Add(5*time.Minute))
	ns := []ledger.Notification{
		{Key: "k1", IncidentID: id, GroupKey: "g", Kind: "problem", Channel: "mail", Destination: "a@x", Role: "operator", Level: 1, NotBefore: T0},
		{Key: "k2", IncidentID: id, GroupKey: "g", Kind: "problem", Channel: "webhook", Destination: "http://x", Role: "operator", Level: 1, NotBefore: T0},
	}
	notes := []ledger.Note{{Kind: incident.KindStep, By: "escalation", Comment: "step 1", At: T0}}
	up, err := es.UpdateEscalation(ctx(t), next, ns, notes)
	if err != nil {
		t.Fatalf("UpdateEscalation: %v", err)
	}
	if up.Version != 2 || up.Step != 1 || up.Level != 1 || !up.NextAt.Equal(us(T0.Add(5*time.Minute))) {
		t.Fatalf("updated = %+v", up)
	}
	// The same step computed again from the old version: a conflict, nothing written.
	if _, err := es.UpdateEscalation(ctx(t), next, ns[:1], notes); !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("stale UpdateEscalation = %v, want ErrConflict", err)
	}
	wantTimeline(t, s, id, incident.KindOpened, incident.KindStep)
	// Keys are idempotent: the same keys with a current version are not stored twice.
	if _, err := es.UpdateEscalation(ctx(t), up, ns, nil); err != nil {
		t.Fatal(err)
	}
	got, err := es.Notifications(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Key != "k1" || got[1].Key != "k2" || got[0].State != ledger.NotifyPending ||
		got[0].Destination != "a@x" || got[0].Role != "operator" || got[0].Level != 1 || !got[0].NotBefore.Equal(us(T0)) {
		t.Fatalf("notifications = %+v", got)
	}
	// Clearing NextAt.
	cur, _ := es.Escalation(ctx(t), id)
	cur.NextAt, cur.State = nil, ledger.EscDone
	if cur, err = es.UpdateEscalation(ctx(t), cur, nil, nil); err != nil || cur.NextAt != nil || cur.State != ledger.EscDone {
		t.Fatalf("clear next_at: %+v, %v", cur, err)
	}
}

func testDue(t *testing.T, s ledger.Store, es ledger.EscalationStore) {
	var ids []int64
	for i, key := range []string{"a/1", "b/1", "c/1"} {
		id := openIncident(t, s, key)
		ids = append(ids, id)
		var next *time.Time
		if i < 2 {
			next = tp(T0.Add(time.Duration(2-i) * time.Minute)) // b before a
		}
		if _, _, err := es.StartEscalation(ctx(t), ledger.Escalation{IncidentID: id, Policy: "p", Snapshot: json.RawMessage(`{}`), State: ledger.EscActive, NextAt: next}); err != nil {
			t.Fatal(err)
		}
	}
	due, err := es.DueEscalations(ctx(t), T0.Add(90*time.Second), 10)
	if err != nil || len(due) != 1 || due[0].IncidentID != ids[1] {
		t.Fatalf("due at +90s = %+v, %v; want only b", due, err)
	}
	due, err = es.DueEscalations(ctx(t), T0.Add(time.Hour), 10)
	if err != nil || len(due) != 2 || due[0].IncidentID != ids[1] || due[1].IncidentID != ids[0] {
		t.Fatalf("due at +1h = %+v, %v; want b then a", due, err)
	}
}

func addNotifications(t *testing.T, es ledger.EscalationStore, id int64, ns ...ledger.Notification) {
	t.Helper()
	e, err := es.Escalation(ctx(t), id)
	if err != nil {
		e, _, err = es.StartEscalation(ctx(t), ledger.Escalation{IncidentID: id, Policy: "p", Snapshot: json.RawMessage(`{}`), State: ledger.EscActive})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := es.UpdateEscalation(ctx(t), e, ns, nil); err != nil {
		t.Fatal(err)
	}
}

func keysOf(ns []ledger.Notification) []string {
	var k []string
	for _, n := range ns {
		k = append(k, n.Key)
	}
	return k
}

func testClaimGroup(t *testing.T, s ledger.Store, es ledger.EscalationStore) {
	a := openIncident(t, s, "web/disk1")
	b := openIncident(t, s, "web/disk2")
	c := openIncident(t, s, "db/ping")
	addNotifications(t, es, a, ledger.Notification{Key: "a1", IncidentID: a, GroupKey: "web|mail", Kind: "problem", Channel: "mail", NotBefore: T0})
	addNotifications(t, es, b, ledger.Notification{Key: "b1", IncidentID: b, GroupKey: "web|mail", Kind: "problem", Channel: "mail", NotBefore: T0.Add(time.Hour)})
	addNotifications(t, es, c, ledger.Notification{Key: "c1", IncidentID: c, GroupKey: "db|mail", Kind: "problem", Channel: "mail", NotBefore: T0.Add(time.Hour)})

	got, err := es.ClaimNotifications(ctx(t), ledger.Claim{Now: T0, Owner: "n1", Lease: time.Minute, MaxGroups: 10})
	if err != nil {
		t.Fatal(err)
	}
	if k := keysOf(got); !slices.Equal(k, []string{"a1", "b1"}) {
		t.Fatalf("claimed %v, want the whole due group [a1 b1]", k)
	}
	if got[0].ClaimedBy != "n1" || got[0].ClaimUntil == nil || !got[0].ClaimUntil.Equal(us(T0.Add(time.Minute))) {
		t.Errorf("claim = %+v", got[0])
	}
	// Leased: nobody else gets them until the lease runs out.
	if again, err := es.ClaimNotifications(ctx(t), ledger.Claim{Now: T0.Add(30 * time.Second), Owner: "n2", Lease: time.Minute, MaxGroups: 10}); err != nil || len(again) != 0 {
		t.Fatalf("second claim = %v, %v; want none", keysOf(again), err)
	}
	again, err := es.ClaimNotifications(ctx(t), ledger.Claim{Now: T0.Add(2 * time.Minute), Owner: "n2", Lease: time.Minute, MaxGroups: 10})
	if err != nil || !slices.Equal(keysOf(again), []string{"a1", "b1"}) {
		t.Fatalf("claim after the lease = %v, %v; want [a1 b1]", keysOf(again), err)
	}
	// n1 lost its claim: finishing changes nothing.
	if err := es.FinishNotifications(ctx(t), []string{"a1", "b1"}, "n1", ledger.Attempt{At: T0, By: "mail"}); err != nil {
		t.Fatal(err)
	}
	ns, _ := es.Notifications(ctx(t), a)
	if ns[0].State != ledger.NotifyPending {
		t.Fatalf("a1 = %s after a finish by a stale owner, want pending", ns[0].State)
	}
	wantTimeline(t, s, a, incident.KindOpened)
}

func testFinish(t *testing.T, s ledger.Store, es ledger.EscalationStore) {
	a := openIncident(t, s, "a/ping")
	b := openIncident(t, s, "b/ping")
	addNotifications(t, es, a,
		ledger.Notification{Key: "a1", IncidentID: a, GroupKey: "g1", Kind: "problem", Channel: "mail", NotBefore: T0},
		ledger.Notification{Key: "a2", IncidentID: a, GroupKey: "g2", Kind: "problem", Channel: "webhook", NotBefore: T0})
	addNotifications(t, es, b, ledger.Notification{Key: "b1", IncidentID: b, GroupKey: "g1", Kind: "problem", Channel: "mail", NotBefore: T0})
	claimed, err := es.ClaimNotifications(ctx(t), ledger.Claim{Now: T0, Owner: "me", Lease: time.Minute, MaxGroups: 10})
	if err != nil || len(claimed) != 3 {
		t.Fatalf("claim = %v, %v", keysOf(claimed), err)
	}
	// g1 delivered as one message for two incidents.
	if err := es.FinishNotifications(ctx(t), []string{"a1", "b1"}, "me", ledger.Attempt{At: T0.Add(time.Second), By: "mail", Comment: "sent to ops"}); err != nil {
		t.Fatal(err)
	}
	// g2 failed; retry later.
	if err := es.FinishNotifications(ctx(t), []string{"a2"}, "me", ledger.Attempt{At: T0.Add(time.Second), Err: "connection refused",
		RetryAt: T0.Add(time.Minute), By: "webhook", Comment: "attempt 1: connection refused"}); err != nil {
		t.Fatal(err)
	}
	ns, _ := es.Notifications(ctx(t), a)
	if ns[0].State != ledger.NotifySent || ns[0].Attempts != 1 || ns[0].SentAt == nil || ns[0].ClaimedBy != "" {
		t.Errorf("a1 = %+v, want sent", ns[0])
	}
	if ns[1].State != ledger.NotifyPending || ns[1].Attempts != 1 || ns[1].LastError != "connection refused" || !ns[1].NotBefore.Equal(us(T0.Add(time.Minute))) {
		t.Errorf("a2 = %+v, want pending retry at +1m", ns[1])
	}
	es1 := wantTimeline(t, s, a, incident.KindOpened, incident.KindNotified, incident.KindNotifyFailed)
	if es1[1].By != "mail" || es1[1].Comment != "sent to ops" || es1[1].State != incident.Open || es1[2].Comment != "attempt 1: connection refused" {
		t.Errorf("entries = %+v", es1)
	}
	wantTimeline(t, s, b, incident.KindOpened, incident.KindNotified)
	// Not due before RetryAt; then it fails for good.
	if got, _ := es.ClaimNotifications(ctx(t), ledger.Claim{Now: T0.Add(30 * time.Second), Owner: "me", Lease: time.Minute, MaxGroups: 10}); len(got) != 0 {
		t.Fatalf("claimed %v before retry time", keysOf(got))
	}
	got, _ := es.ClaimNotifications(ctx(t), ledger.Claim{Now: T0.Add(time.Minute), Owner: "me", Lease: time.Minute, MaxGroups: 10})
	if !slices.Equal(keysOf(got), []string{"a2"}) {
		t.Fatalf("claimed %v at retry time, want [a2]", keysOf(got))
	}
	if err := es.FinishNotifications(ctx(t), []string{"a2"}, "me", ledger.Attempt{Err: "still down", By: "webhook", Comment: "gave up"}); err != nil {
		t.Fatal(err)
	}
	ns, _ = es.Notifications(ctx(t), a)
	if ns[1].State != ledger.NotifyFailed || ns[1].Attempts != 2 {
		t.Errorf("a2 = %+v, want failed after 2 attempts", ns[1])
	}
	// Entries are in the outbox.
	p := pending(t, s, 100)
	n := 0
	for _, e := range p {
		if e.Kind == incident.KindNotified || e.Kind == incident.KindNotifyFailed {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d notification entries in the outbox, want 4", n)
	}
}

func testCancel(t *testing.T, s ledger.Store, es ledger.EscalationStore) {
	a := openIncident(t, s, "a/ping")
	addNotifications(t, es, a,
		ledger.Notification{Key: "p1", IncidentID: a, GroupKey: "g", Kind: "problem", Channel: "mail", NotBefore: T0},
		ledger.Notification{Key: "r1", IncidentID: a, GroupKey: "g", Kind: "recovery", Channel: "mail", NotBefore: T0})
	n, err := es.CancelNotifications(ctx(t), a, "problem")
	if err != nil || n != 1 {
		t.Fatalf("CancelNotifications = %d, %v; want 1", n, err)
	}
	got, _ := es.ClaimNotifications(ctx(t), ledger.Claim{Now: T0, Owner: "me", Lease: time.Minute, MaxGroups: 10})
	if !slices.Equal(keysOf(got), []string{"r1"}) {
		t.Fatalf("claimed %v after cancel, want [r1]", keysOf(got))
	}
	if n, err := es.CancelNotifications(ctx(t), a); err != nil || n != 1 {
		t.Fatalf("cancel all = %d, %v; want 1 (the claimed one)", n, err)
	}
}

func testNote(t *testing.T, s ledger.Store, es ledger.EscalationStore) {
	a := openIncident(t, s, "a/ping")
	e, err := es.Note(ctx(t), a, ledger.Note{Kind: incident.KindSuppressed, By: "escalation", Comment: "maintenance 3", At: T0.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 2 || e.Kind != incident.KindSuppressed || e.State != incident.Open || e.Severity != incident.Critical {
		t.Errorf("entry = %+v", e)
	}
	if _, err := es.Note(ctx(t), a, ledger.Note{Kind: incident.KindAcknowledged, By: "x"}); !errors.Is(err, incident.ErrInvalidTransition) {
		t.Errorf("Note(acknowledged) = %v, want ErrInvalidTransition", err)
	}
	if _, err := es.Note(ctx(t), a+100, ledger.Note{Kind: incident.KindStep, By: "x"}); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("Note(unknown) = %v, want ErrNotFound", err)
	}
	// An operator action after a note continues the sequence.
	_, ack := transition(t, s, a, incident.KindAcknowledged, "yamada", "", T0.Add(time.Minute))
	if ack.Seq != 3 {
		t.Errorf("ack seq %d, want 3", ack.Seq)
	}
	wantTimeline(t, s, a, incident.KindOpened, incident.KindSuppressed, incident.KindAcknowledged)
}

func testMaintenance(t *testing.T, _ ledger.Store, es ledger.EscalationStore) {
	if _, err := es.AddMaintenance(ctx(t), ledger.Maintenance{Name: "x", Scope: "rack", Match: "a", Start: T0, End: tp(T0.Add(time.Hour)), CreatedBy: "u"}); err == nil {
		t.Fatal("bad scope accepted")
	}
	one, err := es.AddMaintenance(ctx(t), ledger.Maintenance{Name: "swap disks", Scope: ledger.ScopeTarget, Match: "db*",
		Start: T0, End: tp(T0.Add(4 * time.Hour)), CreatedBy: "sato", Comment: "RAID"})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := es.AddMaintenance(ctx(t), ledger.Maintenance{Name: "monthly", Scope: ledger.ScopeSite, Match: "tokyo-1",
		Start: T0, Cron: "0 1 1 * *", Duration: 12 * time.Hour, TimeZone: "Asia/Tokyo", CreatedBy: "sato"})
	if err != nil {
		t.Fatal(err)
	}
	if one.ID == 0 || rec.ID <= one.ID {
		t.Fatalf("ids %d, %d", one.ID, rec.ID)
	}
	all, err := es.Maintenances(ctx(t))
	if err != nil || len(all) != 2 {
		t.Fatalf("Maintenances = %+v, %v", all, err)
	}
	if m := all[1]; m.Cron != "0 1 1 * *" || m.Duration != 12*time.Hour || m.TimeZone != "Asia/Tokyo" || m.End != nil || !m.Start.Equal(us(T0)) {
		t.Errorf("recurring = %+v", m)
	}
	if m := all[0]; m.End == nil || !m.End.Equal(us(T0.Add(4*time.Hour))) || m.Comment != "RAID" || m.Match != "db*" {
		t.Errorf("one-off = %+v", m)
	}
	ended, err := es.EndMaintenance(ctx(t), one.ID, "kato", T0.Add(time.Hour))
	if err != nil || ended.EndedAt == nil || !ended.EndedAt.Equal(us(T0.Add(time.Hour))) || ended.EndedBy != "kato" {
		t.Fatalf("EndMaintenance = %+v, %v", ended, err)
	}
	again, err := es.EndMaintenance(ctx(t), one.ID, "other", T0.Add(2*time.Hour))
	if err != nil || !again.EndedAt.Equal(us(T0.Add(time.Hour))) || again.EndedBy != "kato" {
		t.Fatalf("second EndMaintenance changed it: %+v, %v", again, err)
	}
	if _, err := es.EndMaintenance(ctx(t), 999, "x", T0); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("EndMaintenance(unknown) = %v, want ErrNotFound", err)
	}
}

func testReport(t *testing.T, s ledger.Store, es ledger.EscalationStore) {
	a := openIncident(t, s, "a/ping")
	r := ledger.Report{IncidentID: a, Cause: "power supply failed", Action: "replaced PSU", Prevention: "redundant PSU", ReportedBy: "sato", Role: "operations-se", At: T0.Add(time.Hour)}
	if _, _, err := es.SetReport(ctx(t), r); !errors.Is(err, incident.ErrInvalidTransition) {
		t.Fatalf("SetReport on an open incident = %v, want ErrInvalidTransition", err)
	}
	if _, err := es.Report(ctx(t), a); !errors.Is(err, incident.ErrNotFound) {
		t.Fatalf("Report before = %v, want ErrNotFound", err)
	}
	transition(t, s, a, incident.KindResolved, "sato", "", T0.Add(30*time.Minute))
	if _, _, err := es.SetReport(ctx(t), ledger.Report{IncidentID: a, ReportedBy: "sato"}); err == nil {
		t.Fatal("report without a cause accepted")
	}
	got, e, err := es.SetReport(ctx(t), r)
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != incident.KindReported || e.By != "sato" || e.State != incident.Resolved {
		t.Errorf("entry = %+v", e)
	}
	back, err := es.Report(ctx(t), a)
	if err != nil || back != got || back.Role != "operations-se" || !back.At.Equal(us(T0.Add(time.Hour))) {
		t.Fatalf("Report = %+v, %v; want %+v", back, err, got)
	}
	r.Cause = "PSU fan"
	if _, _, err := es.SetReport(ctx(t), r); err != nil {
		t.Fatal(err)
	}
	if back, _ := es.Report(ctx(t), a); back.Cause != "PSU fan" {
		t.Errorf("rewritten cause = %q", back.Cause)
	}
	wantTimeline(t, s, a, incident.KindOpened, incident.KindResolved, incident.KindReported, incident.KindReported)
}

// testClaimFenced: once a higher fence (a newer leader's term) has claimed,
// a lower one claims nothing and gets ErrFenced; equal and higher pass.
func testClaimFenced(t *testing.T, s ledger.Store, es ledger.EscalationStore) {
	a := openIncident(t, s, "a/ping")
	addNotifications(t, es, a,
		ledger.Notification{Key: "a1", IncidentID: a, GroupKey: "g1", Kind: "problem", Channel: "mail", NotBefore: T0},
		ledger.Notification{Key: "a2", IncidentID: a, GroupKey: "g2", Kind: "problem", Channel: "mail", NotBefore: T0.Add(time.Hour)})
	if f, owner, err := es.Fence(ctx(t)); err != nil || f != 0 || owner != "" {
		t.Fatalf("Fence of a new store = %d, %q, %v; want 0", f, owner, err)
	}
	got, err := es.ClaimNotifications(ctx(t), ledger.Claim{Now: T0, Owner: "old", Fence: 5, Lease: time.Minute})
	if err != nil || !slices.Equal(keysOf(got), []string{"a1"}) {
		t.Fatalf("claim at fence 5 = %v, %v; want [a1]", keysOf(got), err)
	}
	// The new leader (term 6) claims; nothing is due, but the fence rises.
	if got, err := es.ClaimNotifications(ctx(t), ledger.Claim{Now: T0, Owner: "new", Fence: 6, Lease: time.Minute}); err != nil || len(got) != 0 {
		t.Fatalf("claim at fence 6 = %v, %v; want none", keysOf(got), err)
	}
	if f, owner, err := es.Fence(ctx(t)); err != nil || f != 6 || owner != "new" {
		t.Fatalf("Fence = %d, %q, %v; want 6, new", f, owner, err)
	}
	// The deposed leader may still finish what it claimed (it was sent)...
	if err := es.FinishNotifications(ctx(t), []string{"a1"}, "old", ledger.Attempt{At: T0, By: "mail", Comment: "sent"}); err != nil {
		t.Fatal(err)
	}
	// ...but never claim again, even what is due.
	got, err = es.ClaimNotifications(ctx(t), ledger.Claim{Now: T0.Add(2 * time.Hour), Owner: "old", Fence: 5, Lease: time.Minute})
	if !errors.Is(err, ledger.ErrFenced) || len(got) != 0 {
		t.Fatalf("claim at fence 5 after 6 = %v, %v; want ErrFenced and nothing", keysOf(got), err)
	}
	ns, _ := es.Notifications(ctx(t), a)
	if ns[0].State != ledger.NotifySent || ns[1].State != ledger.NotifyPending || ns[1].ClaimedBy != "" {
		t.Fatalf("notifications = %+v; want a1 sent, a2 pending and unclaimed", ns)
	}
	if f, _, _ := es.Fence(ctx(t)); f != 6 {
		t.Fatalf("a refused claim moved the fence to %d", f)
	}
	got, err = es.ClaimNotifications(ctx(t), ledger.Claim{Now: T0.Add(2 * time.Hour), Owner: "new", Fence: 6, Lease: time.Minute})
	if err != nil || !slices.Equal(keysOf(got), []string{"a2"}) {
		t.Fatalf("claim at fence 6 = %v, %v; want [a2]", keysOf(got), err)
	}
	// A rebuilt cluster starts again at term 1: its proven leader takes
	// over, and from then on the fence is 1.
	if _, err := es.ClaimNotifications(ctx(t), ledger.Claim{Now: T0.Add(2 * time.Hour), Owner: "rebuilt", Fence: 1, Takeover: true, Lease: time.Minute}); err != nil {
		t.Fatalf("takeover at fence 1 = %v", err)
	}
	if f, owner, _ := es.Fence(ctx(t)); f != 1 || owner != "rebuilt" {
		t.Fatalf("Fence after takeover = %d, %q; want 1, rebuilt", f, owner)
	}
	if _, err := es.ClaimNotifications(ctx(t), ledger.Claim{Now: T0.Add(2 * time.Hour), Owner: "other", Fence: 0, Lease: time.Minute}); !errors.Is(err, ledger.ErrFenced) {
		t.Fatalf("claim at fence 0 after takeover at 1 = %v; want ErrFenced", err)
	}
}

// testRelease: a released claim can be taken at once by another owner; a
// release by someone who does not hold the claim changes nothing.
func testRelease(t *testing.T, s ledger.Store, es ledger.EscalationStore) {
	a := openIncident(t, s, "a/ping")
	addNotifications(t, es, a,
		ledger.Notification{Key: "a1", IncidentID: a, GroupKey: "g1", Kind: "problem", Channel: "mail", NotBefore: T0})
	if got, err := es.ClaimNotifications(ctx(t), ledger.Claim{Now: T0, Owner: "n1", Lease: time.Hour}); err != nil || len(got) != 1 {
		t.Fatalf("claim = %v, %v", keysOf(got), err)
	}
	if err := es.ReleaseNotifications(ctx(t), []string{"a1"}, "n2"); err != nil {
		t.Fatal(err)
	}
	if got, _ := es.ClaimNotifications(ctx(t), ledger.Claim{Now: T0, Owner: "n2", Lease: time.Hour}); len(got) != 0 {
		t.Fatalf("n2 claimed %v after releasing a claim it did not hold", keysOf(got))
	}
	if err := es.ReleaseNotifications(ctx(t), []string{"a1"}, "n1"); err != nil {
		t.Fatal(err)
	}
	got, err := es.ClaimNotifications(ctx(t), ledger.Claim{Now: T0, Owner: "n2", Lease: time.Hour})
	if err != nil || !slices.Equal(keysOf(got), []string{"a1"}) || got[0].ClaimedBy != "n2" {
		t.Fatalf("claim after release = %+v, %v; want a1 by n2", got, err)
	}
	wantTimeline(t, s, a, incident.KindOpened)
}
