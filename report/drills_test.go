package report_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/report"
)

// TestReportListsDrills: the drills started in the month are in the
// report (JSON and the HTML "Drills" section); one of the month after is
// not.
func TestReportListsDrills(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, d := range []ledger.DrillRecord{
		{ID: "in", Name: "drills/leader", Kind: "platform", Started: oct.Add(48 * time.Hour), Result: ledger.DrillPassed, RTO: 1234 * time.Millisecond},
		{ID: "after", Name: "drills/db", Kind: "external", Started: oct.AddDate(0, 1, 1), Result: ledger.DrillFailed},
	} {
		if err := f.store.RecordDrill(t.Context(), d); err != nil {
			t.Fatal(err)
		}
	}
	r, files := f.build(t, day15)
	if len(r.Drills) != 1 || r.Drills[0].ID != "in" {
		t.Fatalf("drills: %+v", r.Drills)
	}
	html := files[report.HTMLFile]
	if !bytes.Contains(html, []byte(`id="drills"`)) || !bytes.Contains(html, []byte("drills/leader")) ||
		!bytes.Contains(html, []byte("1.234s")) || bytes.Contains(html, []byte("drills/db")) {
		t.Fatal("the HTML report does not list the month's drill")
	}
}
