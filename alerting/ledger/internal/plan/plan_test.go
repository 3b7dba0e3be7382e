package plan

import (
	"errors"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 678901234, time.UTC)

func ev(id, key string, st incident.Status, sev incident.Severity) incident.Event {
	return incident.Event{ID: id, Source: "ping", Target: "t", Check: "c", DedupKey: key, Status: st, Severity: sev, Time: t0}
}

func TestApplySetIDs(t *testing.T) {
	evs, err := Prepare([]incident.Event{
		ev("a", "k1", incident.Problem, incident.Minor),
		ev("b", "k2", incident.Problem, incident.Minor),
		ev("c", "k1", incident.OK, incident.Info),
		ev("a", "k1", incident.Problem, incident.Minor),
	}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !evs[0].Time.Equal(t0.Truncate(time.Microsecond)) {
		t.Errorf("Prepare did not truncate: %v", evs[0].Time)
	}
	r := Apply(evs, map[string]int64{}, map[string]*Incident{}, nil, t0)
	if len(r.Created) != 2 || r.Created[0].ID >= 0 {
		t.Fatalf("created = %+v", r.Created)
	}
	r.SetIDs([]int64{10, 20})
	want := []incident.Change{
		{EventID: "a", IncidentID: 10, Kind: incident.ChangeOpened},
		{EventID: "b", IncidentID: 20, Kind: incident.ChangeOpened},
		{EventID: "c", IncidentID: 10, Kind: incident.ChangeRecovered},
		{EventID: "a", IncidentID: 10, Kind: incident.ChangeDuplicate},
	}
	for i, c := range r.Changes {
		if c != want[i] {
			t.Errorf("change %d = %+v, want %+v", i, c, want[i])
		}
	}
	for _, e := range r.Entries {
		if e.IncidentID != 10 && e.IncidentID != 20 {
			t.Errorf("entry with temporary id: %+v", e)
		}
	}
	if len(r.Events) != 3 || r.Events[2].IncidentID != 10 {
		t.Errorf("events = %+v", r.Events)
	}
	if r.Created[0].LastSeq != 2 || !r.Created[0].Recovered {
		t.Errorf("incident 10 = %+v", r.Created[0])
	}
}

func TestTransitionErrorLeavesIncident(t *testing.T) {
	inc := &Incident{Incident: incident.Incident{ID: 1, State: incident.Resolved}, LastSeq: 3}
	before := *inc
	for _, a := range []incident.Action{
		{Kind: incident.KindAcknowledged, By: "a"},
		{Kind: incident.KindOpened, By: "a"},
		{Kind: incident.KindComment, By: "a"},
		{Kind: incident.KindClosed},
	} {
		if _, err := Transition(inc, a, t0); err == nil {
			t.Errorf("Transition(%+v) succeeded", a)
		}
		if inc.State != before.State || inc.LastSeq != before.LastSeq || inc.ClosedAt != nil {
			t.Errorf("Transition(%+v) changed the incident: %+v", a, inc)
		}
	}
	if _, err := Transition(inc, incident.Action{Kind: incident.KindAcknowledged, By: "a"}, t0); !errors.Is(err, incident.ErrInvalidTransition) {
		t.Errorf("err = %v", err)
	}
	e, err := Transition(inc, incident.Action{Kind: incident.KindClosed, By: "a"}, t0)
	if err != nil || e.Seq != 4 || inc.State != incident.Closed || !inc.ClosedAt.Equal(t0.Truncate(time.Microsecond)) {
		t.Errorf("close: %+v, %v, %+v", e, err, inc)
	}
}
