package console_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/internal/jsondur"
)

// TestDurationsInJSON: the API writes durations as "12h0m0s", not as
// nanoseconds, and reads both (issue 17 item 10).
func TestDurationsInJSON(t *testing.T) {
	until := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	v := console.MaintenanceView{Maintenance: ledger.Maintenance{ID: 4, Name: "monthly", Cron: "0 1 * * *", Duration: 12 * time.Hour},
		Active: true, ActiveUntil: &until}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if !strings.Contains(s, `"duration":"12h0m0s"`) || strings.Count(s, `"duration"`) != 1 || !strings.Contains(s, `"active":true`) ||
		!strings.Contains(s, `"name":"monthly"`) || !strings.Contains(s, `"active_until"`) {
		t.Errorf("maintenance view: %s", s)
	}
	for _, in := range []string{s, strings.Replace(s, `"12h0m0s"`, "43200000000000", 1)} {
		var back console.MaintenanceView
		if err := json.Unmarshal([]byte(in), &back); err != nil || back.Duration != 12*time.Hour || back.ID != 4 || !back.Active ||
			back.ActiveUntil == nil || !back.ActiveUntil.Equal(until) {
			t.Errorf("%s: %+v, %v", in, back, err)
		}
	}
	// A one-off window has no duration: none is written.
	b, _ = json.Marshal(console.MaintenanceView{Maintenance: ledger.Maintenance{ID: 5}})
	if strings.Contains(string(b), "duration") {
		t.Errorf("one-off window: %s", b)
	}
	b, _ = json.Marshal(console.JobNode{Name: "backup", Timeout: jsondur.Duration(10 * time.Minute)})
	if !strings.Contains(string(b), `"timeout":"10m0s"`) {
		t.Errorf("job: %s", b)
	}
}
