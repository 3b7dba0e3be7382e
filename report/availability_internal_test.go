package report

import (
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/availability"
	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

// A recovery dated ahead of the node's clock is counted at its receive
// time, as package availability counts it: the report's outage is as long
// as the node saw, not shortened or lengthened by the sender's clock, and
// the report and `unyo report availability` agree.
func TestReportCountsTrustedTimes(t *testing.T) {
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	openAt := time.Date(2026, 10, 5, 10, 0, 0, 0, time.UTC)
	recvAt := openAt.Add(30 * time.Minute)
	claimed := openAt.Add(20 * 24 * time.Hour) // the sender's clock, far ahead
	inc := availability.Incident{Incident: incident.Incident{ID: 1, Target: "db01", Check: "ping", Source: "ping",
		Severity: incident.Critical, State: incident.Open, OpenedAt: openAt, FirstSeen: openAt}}
	inc.Recovered, inc.RecoveredAt = true, &claimed
	inc.Timeline = []incident.Entry{
		{IncidentID: 1, Seq: 1, At: openAt, Kind: incident.KindOpened},
		{IncidentID: 1, Seq: 2, At: claimed, Received: &recvAt, Kind: incident.KindRecovered},
	}
	in := availability.Input{Incidents: []availability.Incident{inc}}
	o := availability.Options{From: from, To: to}

	got := computeAvailability(in, nil, o)
	if len(got.Outages) != 1 {
		t.Fatalf("outages: %+v", got.Outages)
	}
	if d := got.Outages[0].Down; d != 30*time.Minute {
		t.Errorf("report: outage %s, want 30m (the receive time of the recovery)", d)
	}
	ref, err := availability.Compute(in, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.Targets) != 1 || ref.Targets[0].Down != got.Outages[0].Down {
		t.Errorf("availability says %+v, the report %s", ref.Targets, got.Outages[0].Down)
	}
}

// TestReportAndAvailabilityOneLateRule: the report and Compute (the CLI,
// the API and the console budget) treat a window added after the outage
// the same way: flagged, not applied.
func TestReportAndAvailabilityOneLateRule(t *testing.T) {
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	openAt := time.Date(2026, 10, 9, 23, 0, 0, 0, time.UTC)
	end := openAt.Add(3 * time.Hour)
	inc := availability.Incident{Incident: incident.Incident{ID: 1, Target: "db01", Check: "ping", Source: "ping",
		Severity: incident.Critical, State: incident.Open, OpenedAt: openAt, FirstSeen: openAt}}
	inc.Timeline = []incident.Entry{
		{IncidentID: 1, Seq: 1, At: openAt, Kind: incident.KindOpened},
		{IncidentID: 1, Seq: 2, At: openAt.Add(2 * time.Hour), Kind: incident.KindRecovered},
	}
	w := ledger.Maintenance{ID: 3, Name: "after the fact", Scope: ledger.ScopeTarget, Match: "db01", Start: openAt.Add(-time.Hour),
		End: &end, CreatedBy: "se1", CreatedAt: openAt.Add(10 * time.Hour)}
	in := availability.Input{Incidents: []availability.Incident{inc}, Maintenance: []ledger.Maintenance{w}}
	o := availability.Options{From: from, To: to, Budget: availability.DefaultBudget}
	got := computeAvailability(in, nil, o)
	ref, err := availability.Compute(in, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Servers) != 1 || len(ref.Targets) != 1 {
		t.Fatalf("report %+v, availability %+v", got.Servers, ref.Targets)
	}
	if got.Servers[0].Unplanned != 2*time.Hour || ref.Targets[0].Unplanned != got.Servers[0].Unplanned {
		t.Errorf("unplanned: report %s, availability %s, want 2h in both", got.Servers[0].Unplanned, ref.Targets[0].Unplanned)
	}
	if len(got.Outages) != 1 || len(got.Outages[0].LateWindows) != 1 || len(ref.Targets[0].LateWindows) != 1 {
		t.Errorf("not flagged: report %+v, availability %+v", got.Outages, ref.Targets[0])
	}
}
