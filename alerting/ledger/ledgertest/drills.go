package ledgertest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

// RunDrills checks a ledger.DrillStore: upsert by id, listing newest
// first with name and time filters, detail with steps, not found.
func RunDrills(t *testing.T, open func(t *testing.T) ledger.Store) {
	s, ok := open(t).(ledger.DrillStore)
	if !ok {
		t.Fatal("store does not implement ledger.DrillStore")
	}
	ctx := t.Context()
	t0 := time.Date(2026, 3, 31, 23, 0, 0, 0, time.UTC)
	d := ledger.DrillRecord{ID: "d1", Name: "drills/leader", Kind: "platform", Run: "drills@1", Started: t0, Result: ledger.DrillRunning,
		TargetRTO: 10 * time.Second}
	if err := s.RecordDrill(ctx, d); err != nil {
		t.Fatal(err)
	}
	d.Injected, d.Served, d.Ended = t0.Add(time.Second), t0.Add(3500*time.Millisecond), t0.Add(5*time.Second)
	d.RTO, d.RPO, d.RPOTime, d.Result = 2500*time.Millisecond, 0, 0, ledger.DrillPassed
	d.Steps = []ledger.DrillStep{{At: t0, What: "canary started"}, {At: d.Injected, What: "leadership moved"}}
	if err := s.RecordDrill(ctx, d); err != nil {
		t.Fatal(err)
	}
	e := ledger.DrillRecord{ID: "d2", Name: "drills/db", Kind: "external", Started: t0.Add(2 * time.Hour), Result: ledger.DrillFailed,
		Reason: "standby never served", RPO: 3, RPOTime: 300 * time.Millisecond}
	if err := s.RecordDrill(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordDrill(ctx, ledger.DrillRecord{ID: "bad", Result: "maybe"}); err == nil {
		t.Fatal("a bad result was recorded")
	}
	all, err := s.Drills(ctx, ledger.DrillFilter{})
	if err != nil || len(all) != 2 || all[0].ID != "d2" {
		t.Fatalf("Drills: %+v, %v", all, err)
	}
	march, err := s.Drills(ctx, ledger.DrillFilter{From: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil || len(march) != 1 || march[0].ID != "d1" {
		t.Fatalf("Drills(March): %+v, %v", march, err)
	}
	named, err := s.Drills(ctx, ledger.DrillFilter{Name: "drills/db"})
	if err != nil || len(named) != 1 || named[0].RPO != 3 || named[0].RPOTime != 300*time.Millisecond || named[0].Reason != "standby never served" {
		t.Fatalf("Drills(name): %+v, %v", named, err)
	}
	got, err := s.Drill(ctx, "d1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Result != ledger.DrillPassed || got.RTO != 2500*time.Millisecond || !got.Served.Equal(d.Served) ||
		got.TargetRTO != 10*time.Second || len(got.Steps) != 2 || got.Steps[1].What != "leadership moved" {
		t.Fatalf("Drill: %+v", got)
	}
	if _, err := s.Drill(ctx, "nope"); !errors.Is(err, incident.ErrNotFound) {
		t.Fatalf("Drill(nope): %v", err)
	}
}

// RunPasswords checks a ledger.PasswordStore: pending before set, commit
// moves current to previous, abort drops pending, listing hides sealed
// values.
func RunPasswords(t *testing.T, open func(t *testing.T) ledger.Store) {
	s, ok := open(t).(ledger.PasswordStore)
	if !ok {
		t.Fatal("store does not implement ledger.PasswordStore")
	}
	ctx := t.Context()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	acct := "db01/local/app"
	if _, err := s.Password(ctx, acct); !errors.Is(err, incident.ErrNotFound) {
		t.Fatalf("Password before any: %v", err)
	}
	if err := s.PendingPassword(ctx, acct, "clear text", "job:x", t0); err == nil {
		t.Fatal("an unsealed password was stored")
	}
	if err := s.CommitPassword(ctx, acct, t0); err == nil {
		t.Fatal("commit without pending")
	}
	for i, v := range []string{"enc:v1:one", "enc:v1:two"} {
		at := t0.Add(time.Duration(i) * time.Hour)
		if err := s.PendingPassword(ctx, acct, v, "job:x", at); err != nil {
			t.Fatal(err)
		}
		if err := s.CommitPassword(ctx, acct, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PendingPassword(ctx, acct, "enc:v1:three", "job:x", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	p, err := s.Password(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	if p.Slots[ledger.SlotCurrent].Sealed != "enc:v1:two" || p.Slots[ledger.SlotPrevious].Sealed != "enc:v1:one" ||
		p.Slots[ledger.SlotPending].Sealed != "enc:v1:three" {
		t.Fatalf("slots: %+v", p.Slots)
	}
	if err := s.AbortPassword(ctx, acct, "verify failed", t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	p, err = s.Password(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Slots[ledger.SlotPending]; ok || p.Slots[ledger.SlotCurrent].Sealed != "enc:v1:two" || p.LastAbort != "verify failed" {
		t.Fatalf("after abort: %+v", p)
	}
	list, err := s.Passwords(ctx)
	if err != nil || len(list) != 1 || list[0].Account != acct || list[0].Slots[ledger.SlotCurrent].Sealed != "" ||
		list[0].Slots[ledger.SlotCurrent].At.IsZero() {
		t.Fatalf("Passwords: %+v, %v", list, err)
	}

	// Two commits and an abort of one pending password at once: at most
	// one commit takes it, and the account always keeps a current one
	// (the new one with the old as previous, or the old one).
	for round := range 10 {
		acct := fmt.Sprintf("db01/local/race%d", round)
		for _, v := range []string{"enc:v1:old", "enc:v1:new"} {
			if err := s.PendingPassword(ctx, acct, v, "job:x", t0); err != nil {
				t.Fatal(err)
			}
			if v == "enc:v1:old" {
				if err := s.CommitPassword(ctx, acct, t0); err != nil {
					t.Fatal(err)
				}
			}
		}
		errs := make(chan error, 3)
		go func() { errs <- s.CommitPassword(ctx, acct, t0) }()
		go func() { errs <- s.CommitPassword(ctx, acct, t0) }()
		go func() { errs <- s.AbortPassword(ctx, acct, "given up", t0) }()
		ok := 0 // the abort always succeeds; at most one commit may
		for range 3 {
			if err := <-errs; err == nil {
				ok++
			}
		}
		p, err := s.Password(ctx, acct)
		if err != nil {
			t.Fatal(err)
		}
		cur, prev := p.Slots[ledger.SlotCurrent].Sealed, p.Slots[ledger.SlotPrevious].Sealed
		_, pending := p.Slots[ledger.SlotPending]
		switch {
		case pending:
			t.Errorf("round %d: a pending password is left: %+v", round, p.Slots)
		case ok == 1 && cur != "enc:v1:old", ok == 2 && (cur != "enc:v1:new" || prev != "enc:v1:old"), ok == 0, ok == 3:
			t.Errorf("round %d: %d of two commits and an abort succeeded, slots %+v", round, ok, p.Slots)
		}
	}
}
