package ledgertest

import (
	"errors"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

// RunRunHistory checks a ledger.RunHistoryStore: upserts by run and by
// (run, job, attempt), listing newest first with a jobnet filter, and
// detail with every attempt.
func RunRunHistory(t *testing.T, open func(t *testing.T) ledger.Store) {
	s, ok := open(t).(ledger.RunHistoryStore)
	if !ok {
		t.Fatal("store does not implement ledger.RunHistoryStore")
	}
	ctx := t.Context()
	t0 := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)
	code := func(c int) *int { return &c }
	run := ledger.RunRecord{ID: "nightly@20260302T020000Z", Jobnet: "nightly", Scheduled: t0, Trigger: "schedule",
		Params: map[string]string{"keep": "30"}, Status: "running", Created: t0,
		Jobs: []ledger.JobRecord{
			{Job: "a", Attempt: 1, State: "ended-abnormal", Code: code(7), Where: "n1", Started: t0, Ended: t0.Add(time.Second), Output: "boom\n"},
			{Job: "b", Attempt: 0, State: "waiting"},
		}}
	if err := s.RecordRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	// Recorded again after a retry of a and the run's end.
	run.Status, run.Ended = "ended-normal", t0.Add(time.Minute)
	run.Jobs = []ledger.JobRecord{
		{Job: "a", Attempt: 2, State: "ended-normal", Code: code(0), Where: "n2", Started: t0.Add(2 * time.Second), Ended: t0.Add(3 * time.Second)},
		{Job: "b", Attempt: 1, State: "ended-normal", Code: code(0), Where: "agent:db1", Started: t0.Add(4 * time.Second), Ended: t0.Add(5 * time.Second)},
	}
	for range 2 {
		if err := s.RecordRun(ctx, run); err != nil {
			t.Fatal(err)
		}
	}
	other := ledger.RunRecord{ID: "weekly@x", Jobnet: "weekly", Scheduled: t0, Trigger: "operator", Status: "running", Created: t0.Add(time.Hour)}
	if err := s.RecordRun(ctx, other); err != nil {
		t.Fatal(err)
	}
	all, err := s.Runs(ctx, ledger.RunFilter{})
	if err != nil || len(all) != 2 || all[0].ID != "weekly@x" {
		t.Fatalf("Runs: %+v, %v", all, err)
	}
	only, err := s.Runs(ctx, ledger.RunFilter{Jobnet: "nightly"})
	if err != nil || len(only) != 1 || only[0].Status != "ended-normal" || !only[0].Ended.Equal(run.Ended) || only[0].Params["keep"] != "30" {
		t.Fatalf("Runs(nightly): %+v, %v", only, err)
	}
	d, err := s.RunDetail(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var attempts []string
	for _, j := range d.Jobs {
		attempts = append(attempts, j.Job+":"+j.State)
	}
	if len(d.Jobs) != 4 {
		t.Fatalf("detail jobs %v, want a:1, b:0, a:2, b:1", attempts)
	}
	for _, j := range d.Jobs {
		if j.Job == "a" && j.Attempt == 1 && (j.Code == nil || *j.Code != 7 || j.Output != "boom\n" || !j.Started.Equal(t0)) {
			t.Errorf("a attempt 1: %+v", j)
		}
		if j.Job == "b" && j.Attempt == 0 && (j.Code != nil || !j.Started.IsZero()) {
			t.Errorf("b attempt 0: %+v", j)
		}
	}
	if _, err := s.RunDetail(ctx, "nope"); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("RunDetail(nope): %v", err)
	}
}
