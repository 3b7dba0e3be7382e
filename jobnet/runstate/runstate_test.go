package runstate

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)

// diamond: a → (b, c) → d.
func fireDiamond(t *testing.T, s *State, hold ...string) *Run {
	t.Helper()
	jobs := []JobSpec{{Name: "a"}, {Name: "b", Needs: []string{"a"}}, {Name: "c", Needs: []string{"a"}}, {Name: "d", Needs: []string{"b", "c"}}}
	for i := range jobs {
		for _, h := range hold {
			if jobs[i].Name == h {
				jobs[i].Hold = true
			}
		}
	}
	must(t, s.Apply(t0, Op{Kind: OpFire, Jobnet: "n", Time: t0, Fire: &Fire{ID: "n@1", Scheduled: t0, Trigger: "schedule", Jobs: jobs}}))
	return s.Runs["n@1"]
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func code(c int) *int { return &c }

func run(t *testing.T, s *State, job string, st JobState) {
	t.Helper()
	r := s.Runs["n@1"]
	j := r.Jobs[job]
	must(t, s.Apply(t0, Op{Kind: OpStart, Run: "n@1", Job: job, Attempt: j.Attempt + 1}))
	must(t, s.Apply(t0, Op{Kind: OpEnd, Run: "n@1", Job: job, Attempt: j.Attempt, State: st, Code: code(0)}))
}

func states(r *Run) map[string]JobState {
	out := map[string]JobState{}
	for n, j := range r.Jobs {
		out[n] = j.State
	}
	return out
}

func want(t *testing.T, r *Run, w map[string]JobState) {
	t.Helper()
	got := states(r)
	for n, st := range w {
		if got[n] != st {
			t.Errorf("job %s: %s, want %s (all: %v)", n, got[n], st, got)
		}
	}
}

func TestDAGOrderAndParallelBranches(t *testing.T) {
	s := New()
	r := fireDiamond(t, s)
	want(t, r, map[string]JobState{"a": Ready, "b": Waiting, "c": Waiting, "d": Waiting})
	if err := s.Apply(t0, Op{Kind: OpStart, Run: "n@1", Job: "b", Attempt: 1}); !errors.Is(err, ErrState) {
		t.Fatalf("start b before a: %v, want ErrState", err)
	}
	run(t, s, "a", EndedNormal)
	want(t, r, map[string]JobState{"b": Ready, "c": Ready, "d": Waiting}) // both branches at once
	run(t, s, "b", EndedWarning)
	want(t, r, map[string]JobState{"d": Waiting})
	run(t, s, "c", EndedNormal)
	want(t, r, map[string]JobState{"d": Ready})
	run(t, s, "d", EndedNormal)
	if r.Status != StatusWarning || r.Ended.IsZero() {
		t.Errorf("run %s ended %v, want ended-warning", r.Status, r.Ended)
	}
}

func TestFireOnceAndStartOnce(t *testing.T) {
	s := New()
	fireDiamond(t, s)
	err := s.Apply(t0, Op{Kind: OpFire, Jobnet: "n", Time: t0, Fire: &Fire{ID: "n@2", Jobs: []JobSpec{{Name: "a"}}}})
	if !errors.Is(err, ErrFired) {
		t.Fatalf("second fire at the watermark: %v, want ErrFired", err)
	}
	must(t, s.Apply(t0, Op{Kind: OpStart, Run: "n@1", Job: "a", Attempt: 1}))
	if err := s.Apply(t0, Op{Kind: OpStart, Run: "n@1", Job: "a", Attempt: 1}); !errors.Is(err, ErrState) {
		t.Fatalf("second start: %v", err)
	}
	if err := s.Apply(t0, Op{Kind: OpEnd, Run: "n@1", Job: "a", Attempt: 2, State: EndedNormal}); !errors.Is(err, ErrState) {
		t.Fatalf("end of another attempt: %v", err)
	}
}

func TestRetryWaitIsState(t *testing.T) {
	s := New()
	r := fireDiamond(t, s)
	must(t, s.Apply(t0, Op{Kind: OpStart, Run: "n@1", Job: "a", Attempt: 1}))
	must(t, s.Apply(t0, Op{Kind: OpEnd, Run: "n@1", Job: "a", Attempt: 1, State: EndedAbnormal, Code: code(1), RetryAt: t0.Add(time.Minute)}))
	j := r.Jobs["a"]
	if j.State != Waiting || !j.NextAt.Equal(t0.Add(time.Minute)) || r.Status != StatusRunning {
		t.Fatalf("after a retryable failure: %+v, run %s", j, r.Status)
	}
	// A clone (a snapshot) keeps the wait.
	if c := s.Clone(); !c.Runs["n@1"].Jobs["a"].NextAt.Equal(j.NextAt) {
		t.Fatal("clone lost the retry wait")
	}
	must(t, s.Apply(t0, Op{Kind: OpStart, Run: "n@1", Job: "a", Attempt: 2}))
	must(t, s.Apply(t0, Op{Kind: OpEnd, Run: "n@1", Job: "a", Attempt: 2, State: EndedAbnormal, Code: code(1)}))
	if r.Status != StatusAbnorm {
		t.Fatalf("run %s, want ended-abnormal (b, c, d blocked)", r.Status)
	}
}

func TestHoldAndRelease(t *testing.T) {
	s := New()
	r := fireDiamond(t, s, "b")
	run(t, s, "a", EndedNormal)
	want(t, r, map[string]JobState{"b": Held, "c": Ready})
	if err := s.Apply(t0, Op{Kind: OpStart, Run: "n@1", Job: "b", Attempt: 1}); !errors.Is(err, ErrState) {
		t.Fatalf("start a held job: %v", err)
	}
	run(t, s, "c", EndedNormal)
	if r.Status != StatusRunning {
		t.Fatal("a run with a held job ended")
	}
	must(t, s.Apply(t0, Op{Kind: OpRelease, Run: "n@1", Job: "b"}))
	want(t, r, map[string]JobState{"b": Ready})
	// Operator hold of a waiting job.
	must(t, s.Apply(t0, Op{Kind: OpHold, Run: "n@1", Job: "d"}))
	run(t, s, "b", EndedNormal)
	want(t, r, map[string]JobState{"d": Held})
	must(t, s.Apply(t0, Op{Kind: OpSkip, Run: "n@1", Job: "d"}))
	if r.Status != StatusNormal {
		t.Fatalf("run %s, want ended-normal (skipped counts as met)", r.Status)
	}
}

func TestKill(t *testing.T) {
	s := New()
	r := fireDiamond(t, s)
	must(t, s.Apply(t0, Op{Kind: OpStart, Run: "n@1", Job: "a", Attempt: 1}))
	must(t, s.Apply(t0, Op{Kind: OpKill, Run: "n@1"}))
	if !r.Jobs["a"].Killing || r.Jobs["b"].State != Killed {
		t.Fatalf("kill run: %+v", states(r))
	}
	// The executor's answer after a kill is final even with a retry asked.
	must(t, s.Apply(t0, Op{Kind: OpEnd, Run: "n@1", Job: "a", Attempt: 1, State: Killed, RetryAt: t0.Add(time.Second)}))
	if r.Jobs["a"].State != Killed || r.Status != StatusKilled {
		t.Fatalf("after kill: %v, run %s", states(r), r.Status)
	}
}

func TestRerunModes(t *testing.T) {
	// a → (b, c) → d; b ends abnormal, c ends with a warning.
	setup := func(t *testing.T) (*State, *Run) {
		s := New()
		r := fireDiamond(t, s)
		run(t, s, "a", EndedNormal)
		run(t, s, "b", EndedAbnormal)
		run(t, s, "c", EndedWarning)
		if r.Status != StatusAbnorm {
			t.Fatalf("setup: run %s", r.Status)
		}
		return s, r
	}
	tests := []struct {
		mode, job string
		want      map[string]JobState
	}{
		{RerunFailed, "", map[string]JobState{"a": EndedNormal, "b": Ready, "c": EndedWarning, "d": Waiting}},
		{RerunFailed, "b", map[string]JobState{"a": EndedNormal, "b": Ready, "c": EndedWarning, "d": Waiting}},
		{RerunAfter, "b", map[string]JobState{"a": EndedNormal, "b": Skipped, "c": EndedWarning, "d": Ready}},
		{RerunAll, "", map[string]JobState{"a": Ready, "b": Waiting, "c": Waiting, "d": Waiting}},
		{RerunWarnings, "", map[string]JobState{"a": EndedNormal, "b": EndedAbnormal, "c": Ready, "d": Waiting}},
	}
	for _, tt := range tests {
		t.Run(tt.mode+"/"+tt.job, func(t *testing.T) {
			s, r := setup(t)
			attempts := r.Jobs["b"].Attempt
			must(t, s.Apply(t0, Op{Kind: OpRerun, Run: "n@1", Job: tt.job, Mode: tt.mode}))
			want(t, r, tt.want)
			if r.Status != StatusRunning {
				t.Errorf("run %s after rerun", r.Status)
			}
			if r.Jobs["b"].Attempt != attempts {
				t.Errorf("rerun reset the attempt counter")
			}
		})
	}
	t.Run("live run refused", func(t *testing.T) {
		s := New()
		fireDiamond(t, s)
		must(t, s.Apply(t0, Op{Kind: OpStart, Run: "n@1", Job: "a", Attempt: 1}))
		if err := s.Apply(t0, Op{Kind: OpRerun, Run: "n@1", Mode: RerunAll}); !errors.Is(err, ErrState) {
			t.Fatalf("rerun of a running job: %v", err)
		}
	})
}

// A job skipped before its turn does not let the jobs after it overtake
// the jobs before it; when those fail, the jobs after it are blocked.
func TestSkipKeepsOrder(t *testing.T) {
	for _, end := range []JobState{EndedNormal, EndedAbnormal} {
		s := New()
		r := fireDiamond(t, s)
		must(t, s.Apply(t0, Op{Kind: OpSkip, Run: "n@1", Job: "b"}))
		must(t, s.Apply(t0, Op{Kind: OpSkip, Run: "n@1", Job: "c"}))
		want(t, r, map[string]JobState{"a": Ready, "b": Skipped, "c": Skipped, "d": Waiting})
		if err := s.Apply(t0, Op{Kind: OpStart, Run: "n@1", Job: "d", Attempt: 1}); !errors.Is(err, ErrState) {
			t.Fatalf("start d before a ended: %v", err)
		}
		run(t, s, "a", end)
		if end == EndedNormal {
			want(t, r, map[string]JobState{"d": Ready})
			run(t, s, "d", EndedNormal)
			if r.Status != StatusNormal {
				t.Errorf("run %s", r.Status)
			}
		} else if want(t, r, map[string]JobState{"d": Waiting}); r.Status != StatusAbnorm {
			t.Errorf("a %s: run %s, want ended-abnormal (d blocked)", end, r.Status)
		}
	}
}
