package ledgertest

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

// RunBackups checks a ledger.BackupStore: generations per source never
// reused, finish once, verification set and cleared, listing newest
// first, and that the only verified generation of a source is never
// deleted.
func RunBackups(t *testing.T, open func(t *testing.T) ledger.Store) {
	s, ok := open(t).(ledger.BackupStore)
	if !ok {
		t.Fatal("store does not implement ledger.BackupStore")
	}
	ctx := t.Context()
	t0 := time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)
	begin := func(src string, at time.Time) ledger.BackupRecord {
		t.Helper()
		b, err := s.BeginBackup(ctx, ledger.BackupRecord{Source: src, Kind: "dir", Destination: "local", Started: at, By: "job:nightly/backup"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if _, err := s.BeginBackup(ctx, ledger.BackupRecord{Source: "bad source", Destination: "local", Started: t0}); err == nil {
		t.Error("BeginBackup with a bad source name: no error")
	}
	a1 := begin("etc", t0)
	a2 := begin("etc", t0.Add(time.Hour))
	b1 := begin("db", t0.Add(2*time.Hour))
	if a1.ID != "etc.1" || a2.ID != "etc.2" || b1.ID != "db.1" || a1.Result != ledger.BackupRunning || a2.Generation != 2 {
		t.Fatalf("generations: %+v %+v %+v", a1, a2, b1)
	}
	manifest := json.RawMessage(`{"files":[{"name":"data.tar.zst","size":10,"sha256":"ab"}]}`)
	for _, b := range []ledger.BackupRecord{a1, a2, b1} {
		b.Result, b.Size, b.Ended, b.Manifest = ledger.BackupOK, 10, b.Started.Add(time.Minute), manifest
		if err := s.FinishBackup(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	a1.Result = ledger.BackupFailed
	if err := s.FinishBackup(ctx, a1); !errors.Is(err, ledger.ErrBackupFinished) {
		t.Errorf("FinishBackup twice: %v, want ErrBackupFinished", err)
	}
	if err := s.FinishBackup(ctx, ledger.BackupRecord{ID: "nope.1", Result: ledger.BackupOK}); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("FinishBackup(nope.1): %v, want not found", err)
	}
	got, err := s.Backup(ctx, "etc.1")
	if err != nil || got.Result != ledger.BackupOK || got.Size != 10 || string(got.Manifest) != string(manifest) ||
		!got.Started.Equal(t0) || !got.Ended.Equal(t0.Add(time.Minute)) || got.By != "job:nightly/backup" || got.Verified() {
		t.Fatalf("Backup(etc.1): %+v, %v", got, err)
	}
	if _, err := s.Backup(ctx, "etc.9"); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("Backup(etc.9): %v, want not found", err)
	}
	l, err := s.Backups(ctx, ledger.BackupFilter{})
	if err != nil || len(l) != 3 || l[0].ID != "db.1" || l[2].ID != "etc.1" {
		t.Fatalf("Backups: %+v, %v", l, err)
	}
	l, err = s.Backups(ctx, ledger.BackupFilter{Source: "etc", Limit: 1})
	if err != nil || len(l) != 1 || l[0].ID != "etc.2" {
		t.Fatalf("Backups(etc, 1): %+v, %v", l, err)
	}

	// Verification: etc.1 verified is the only verified copy.
	if err := s.SetVerify(ctx, "etc.1", t0.Add(3*time.Hour), true, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.SetVerify(ctx, "etc.2", t0.Add(3*time.Hour), false, "sha256 mismatch"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetVerify(ctx, "etc.7", t0, true, ""); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("SetVerify(etc.7): %v, want not found", err)
	}
	got, _ = s.Backup(ctx, "etc.2")
	if got.Verified() || got.VerifyError != "sha256 mismatch" || !got.CheckedAt.Equal(t0.Add(3*time.Hour)) {
		t.Errorf("etc.2 after a failed verify: %+v", got)
	}
	if err := s.DeleteBackup(ctx, "etc.1"); !errors.Is(err, ledger.ErrOnlyVerified) {
		t.Errorf("DeleteBackup(the only verified): %v, want ErrOnlyVerified", err)
	}
	// etc.2 verified: now etc.1 may go, but then etc.2 may not.
	if err := s.SetVerify(ctx, "etc.2", t0.Add(4*time.Hour), true, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBackup(ctx, "etc.1"); err != nil {
		t.Errorf("DeleteBackup(etc.1) with etc.2 verified: %v", err)
	}
	if err := s.DeleteBackup(ctx, "etc.2"); !errors.Is(err, ledger.ErrOnlyVerified) {
		t.Errorf("DeleteBackup(etc.2): %v, want ErrOnlyVerified", err)
	}
	// A failed verify of the last verified copy clears it; then it may go.
	if err := s.SetVerify(ctx, "etc.2", t0.Add(5*time.Hour), false, "restore failed"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBackup(ctx, "etc.2"); err != nil {
		t.Errorf("DeleteBackup(etc.2, no longer verified): %v", err)
	}
	if err := s.DeleteBackup(ctx, "db.1"); err != nil {
		t.Errorf("DeleteBackup(unverified db.1): %v", err)
	}
	if err := s.DeleteBackup(ctx, "db.1"); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("DeleteBackup(db.1) again: %v, want not found", err)
	}
	// A pruned generation's number is not given again.
	if b := begin("etc", t0.Add(6*time.Hour)); b.Generation != 3 {
		t.Errorf("generation after deletes: %d, want 3", b.Generation)
	}

	// Two prunes at once, each of one of the last two verified
	// generations: exactly one may delete.
	for round := range 5 {
		src := fmt.Sprintf("race%d", round)
		var ids [2]string
		for i := range ids {
			b := begin(src, t0.Add(time.Duration(i)*time.Minute))
			b.Result, b.Ended = ledger.BackupOK, b.Started.Add(time.Second)
			if err := s.FinishBackup(ctx, b); err != nil {
				t.Fatal(err)
			}
			if err := s.SetVerify(ctx, b.ID, t0.Add(time.Hour), true, ""); err != nil {
				t.Fatal(err)
			}
			ids[i] = b.ID
		}
		errs := make(chan error, 2)
		for _, id := range ids {
			go func() { errs <- s.DeleteBackup(ctx, id) }()
		}
		var deleted, refused int
		for range ids {
			switch err := <-errs; {
			case err == nil:
				deleted++
			case errors.Is(err, ledger.ErrOnlyVerified):
				refused++
			default:
				t.Errorf("concurrent DeleteBackup: %v", err)
			}
		}
		if deleted != 1 || refused != 1 {
			t.Errorf("round %d: %d deleted, %d refused; want one each", round, deleted, refused)
		}
	}
}
