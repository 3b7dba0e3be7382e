package availability

import (
	"encoding/json"
	"math"
	"time"
)

// In JSON, durations are seconds (fields ending in _seconds).

func seconds(d time.Duration) float64 { return d.Seconds() }

func duration(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }

// MarshalJSON writes the budget as budget_seconds.
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	return json.Marshal(struct {
		plain
		BudgetS float64 `json:"budget_seconds"`
	}{plain(r), seconds(r.Budget)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Report) UnmarshalJSON(b []byte) error {
	type plain Report
	v := struct {
		*plain
		BudgetS float64 `json:"budget_seconds"`
	}{plain: (*plain)(r)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	r.Budget = duration(v.BudgetS)
	return nil
}

type targetSeconds struct {
	DownS        float64 `json:"down_seconds"`
	PlannedS     float64 `json:"planned_seconds"`
	UnplannedS   float64 `json:"unplanned_seconds"`
	MaintenanceS float64 `json:"maintenance_seconds"`
}

// MarshalJSON writes the durations in seconds.
func (t Target) MarshalJSON() ([]byte, error) {
	type plain Target
	return json.Marshal(struct {
		plain
		targetSeconds
	}{plain(t), targetSeconds{seconds(t.Down), seconds(t.Planned), seconds(t.Unplanned), seconds(t.Maintenance)}})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (t *Target) UnmarshalJSON(b []byte) error {
	type plain Target
	v := struct {
		*plain
		targetSeconds
	}{plain: (*plain)(t)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	t.Down, t.Planned, t.Unplanned, t.Maintenance = duration(v.DownS), duration(v.PlannedS), duration(v.UnplannedS), duration(v.MaintenanceS)
	return nil
}

type summarySeconds struct {
	WorstUnplannedS float64 `json:"worst_unplanned_seconds"`
	DownS           float64 `json:"down_seconds"`
	PlannedS        float64 `json:"planned_seconds"`
	UnplannedS      float64 `json:"unplanned_seconds"`
	AnyUnplannedS   float64 `json:"any_unplanned_seconds"`
}

// MarshalJSON writes the durations in seconds.
func (s Summary) MarshalJSON() ([]byte, error) {
	type plain Summary
	return json.Marshal(struct {
		plain
		summarySeconds
	}{plain(s), summarySeconds{seconds(s.WorstUnplanned), seconds(s.Down), seconds(s.Planned), seconds(s.Unplanned), seconds(s.AnyUnplanned)}})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Summary) UnmarshalJSON(b []byte) error {
	type plain Summary
	v := struct {
		*plain
		summarySeconds
	}{plain: (*plain)(s)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	s.WorstUnplanned, s.Down, s.Planned = duration(v.WorstUnplannedS), duration(v.DownS), duration(v.PlannedS)
	s.Unplanned, s.AnyUnplanned = duration(v.UnplannedS), duration(v.AnyUnplannedS)
	return nil
}
