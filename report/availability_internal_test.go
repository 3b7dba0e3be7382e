package report

import (
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/availability"
	"github.com/unyo-ops/unyo/alerting/incident"
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
