package plan

import (
	"errors"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

func TestFence(t *testing.T) {
	for _, c := range []struct {
		name   string
		claim  ledger.Claim
		fence  int64
		owner  string
		found  bool
		record bool
		fenced bool
	}{
		{"first claim", ledger.Claim{Fence: 3, Owner: "a"}, 0, "", false, true, false},
		{"same fence and owner", ledger.Claim{Fence: 3, Owner: "a"}, 3, "a", true, false, false},
		{"same fence, other owner", ledger.Claim{Fence: 3, Owner: "b"}, 3, "a", true, true, false},
		{"higher fence", ledger.Claim{Fence: 4, Owner: "b"}, 3, "a", true, true, false},
		{"lower fence", ledger.Claim{Fence: 2, Owner: "b"}, 3, "a", true, false, true},
		{"lower fence taking over", ledger.Claim{Fence: 2, Owner: "b", Takeover: true}, 3, "a", true, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			record, err := Fence(c.claim, c.fence, c.owner, c.found)
			if record != c.record || errors.Is(err, ledger.ErrFenced) != c.fenced {
				t.Errorf("Fence = %v, %v; want record %v fenced %v", record, err, c.record, c.fenced)
			}
		})
	}
}

func TestNotesAndAttempts(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := CheckNote(ledger.Note{Kind: incident.KindResolved, By: "x"}); !errors.Is(err, incident.ErrInvalidTransition) {
		t.Errorf("an operator kind as a note: %v", err)
	}
	if err := CheckNote(ledger.Note{Kind: incident.KindStep}); err == nil {
		t.Error("a note without by accepted")
	}
	e := NoteEntry(ledger.Note{IncidentID: 7, Kind: incident.KindStep, By: "escalator"}, 4, "open", "major", now.Add(time.Nanosecond))
	if e.Seq != 4 || !e.At.Equal(now) || e.State != incident.Open || e.Severity != incident.Major {
		t.Errorf("NoteEntry = %+v", e)
	}
	for _, c := range []struct {
		a    ledger.Attempt
		o    Outcome
		kind incident.Kind
	}{
		{ledger.Attempt{}, Sent, incident.KindNotified},
		{ledger.Attempt{Err: "x", RetryAt: now}, Retry, incident.KindNotifyFailed},
		{ledger.Attempt{Err: "x"}, Failed, incident.KindNotifyFailed},
	} {
		if o, k := AttemptOutcome(c.a); o != c.o || k != c.kind {
			t.Errorf("AttemptOutcome(%+v) = %v %s", c.a, o, k)
		}
	}
	if err := CheckNotification(ledger.Notification{Key: "k"}); err == nil {
		t.Error("a notification without channel accepted")
	}
	if got := Distinct([]int64{3, 1, 3, 2, 1}); len(got) != 3 || got[0] != 3 || got[1] != 1 || got[2] != 2 {
		t.Errorf("Distinct = %v", got)
	}
}

func TestRunRules(t *testing.T) {
	for n, want := range map[int]int{0: DefaultRuns, -1: DefaultRuns, 5: 5, 5000: MaxRuns} {
		if got := RunLimit(n); got != want {
			t.Errorf("RunLimit(%d) = %d, want %d", n, got, want)
		}
	}
	if b, err := RunParams(nil); err != nil || string(b) != "{}" {
		t.Errorf("RunParams(nil) = %s, %v", b, err)
	}
	if b, err := RunParams(map[string]string{"a": "1"}); err != nil || string(b) != `{"a":"1"}` {
		t.Errorf("RunParams = %s, %v", b, err)
	}
	if !errors.Is(NoRun("x"), incident.ErrNotFound) {
		t.Error("NoRun is not ErrNotFound")
	}
}
