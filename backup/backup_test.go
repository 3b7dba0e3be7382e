package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/backup"
)

// events keeps what the manager raised.
type events struct {
	mu sync.Mutex
	l  []incident.Event
}

func (e *events) Publish(_ context.Context, ev incident.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.l = append(e.l, ev)
	return nil
}

func (e *events) last(dedup string) (incident.Event, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.l) - 1; i >= 0; i-- {
		if e.l[i].DedupKey == dedup {
			return e.l[i], true
		}
	}
	return incident.Event{}, false
}

type fixture struct {
	store  *sqlite.Store
	m      *backup.Manager
	dest   *backup.Dir
	events *events
	ledger string
}

func newFixture(t *testing.T, specs ...backup.Spec) *fixture {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "ledger.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := &fixture{store: s, dest: &backup.Dir{DestName: "local", Root: filepath.Join(dir, "dest")}, events: &events{}, ledger: path}
	f.m = &backup.Manager{Store: s, Specs: map[string]backup.Spec{}, Sink: f.events, Node: "n1", ScratchDir: dir}
	for _, sp := range specs {
		if sp.Destination == nil {
			sp.Destination = f.dest
		}
		f.m.Specs[sp.Name] = sp
	}
	return f
}

// makeTree writes a small tree: files of a few sizes, an empty file, a
// nested directory, a symlink and modes.
func makeTree(t *testing.T, dir string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "a", "b", "empty"), 0o755))
	big := make([]byte, 3<<20+17)
	rand.Read(big)
	must(os.WriteFile(filepath.Join(dir, "a", "big.bin"), big, 0o640))
	must(os.WriteFile(filepath.Join(dir, "a", "b", "note.txt"), []byte("hello\n"), 0o600))
	must(os.WriteFile(filepath.Join(dir, "zero"), nil, 0o644))
	must(os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755))
	must(os.Symlink("a/b/note.txt", filepath.Join(dir, "link")))
}

// sameTree fails unless want and got hold the same names, types, modes,
// link targets and bytes.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	seen := map[string]bool{}
	filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(want, p)
		seen[rel] = true
		g := filepath.Join(got, rel)
		wi, _ := os.Lstat(p)
		gi, err := os.Lstat(g)
		if err != nil {
			t.Errorf("%s: not restored: %v", rel, err)
			return nil
		}
		if wi.Mode() != gi.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, gi.Mode(), wi.Mode())
		}
		switch {
		case wi.Mode()&fs.ModeSymlink != 0:
			wl, _ := os.Readlink(p)
			gl, _ := os.Readlink(g)
			if wl != gl {
				t.Errorf("%s: link %q, want %q", rel, gl, wl)
			}
		case wi.Mode().IsRegular():
			wb, _ := os.ReadFile(p)
			gb, _ := os.ReadFile(g)
			if !bytes.Equal(wb, gb) {
				t.Errorf("%s: bytes differ", rel)
			}
			if !wi.ModTime().Equal(gi.ModTime()) {
				t.Errorf("%s: mtime %v, want %v", rel, gi.ModTime(), wi.ModTime())
			}
		}
		return nil
	})
	filepath.WalkDir(got, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(got, p)
		if !seen[rel] {
			t.Errorf("%s: restored but not in the source", rel)
		}
		return nil
	})
}

func TestDirBackupRestoreByteIdentical(t *testing.T) {
	t.Parallel()
	src := filepath.Join(t.TempDir(), "srv", "data")
	makeTree(t, src)
	f := newFixture(t, backup.Spec{Name: "data", Source: &backup.DirSource{Paths: []string{src}}})
	var stages []string
	b, err := f.m.Run(t.Context(), "data", "test", func(stage string, done, total int64) { stages = append(stages, stage) })
	if err != nil {
		t.Fatal(err)
	}
	if b.Result != ledger.BackupOK || b.ID != "data.1" || b.Size == 0 || len(stages) == 0 {
		t.Fatalf("record %+v, stages %v", b, stages)
	}
	// The generation holds the archive and its manifest, nothing else.
	ents, _ := os.ReadDir(filepath.Join(f.dest.Root, "data", "data.1"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "data.tar.zst,manifest.json" {
		t.Errorf("destination holds %v", names)
	}
	v, err := f.m.Verify(t.Context(), b.ID, nil)
	if err != nil || !v.Verified() {
		t.Fatalf("verify: %+v %v", v, err)
	}
	to := filepath.Join(t.TempDir(), "restored")
	if err := f.m.Restore(t.Context(), b.ID, backup.Target{Path: to}, nil); err != nil {
		t.Fatal(err)
	}
	sameTree(t, src, filepath.Join(to, strings.TrimPrefix(src, "/")))
	// A second restore into the same, now full, place is refused.
	if err := f.m.Restore(t.Context(), b.ID, backup.Target{Path: to}, nil); !errors.Is(err, backup.ErrExists) {
		t.Errorf("restore into a non-empty directory: %v, want ErrExists", err)
	}
}

func TestCorruptedArchiveFailsVerifyAndRaisesIncident(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	makeTree(t, src)
	f := newFixture(t, backup.Spec{Name: "etc", Source: &backup.DirSource{Paths: []string{src}}})
	b, err := f.m.Run(t.Context(), "etc", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Verify(t.Context(), b.ID, nil); err != nil {
		t.Fatal(err)
	}
	// Flip one byte in the middle of the archive.
	arch := filepath.Join(f.dest.Root, "etc", b.ID, backup.ArchiveFile)
	data, err := os.ReadFile(arch)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(arch, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = f.m.Verify(t.Context(), b.ID, nil)
	if err == nil {
		t.Fatal("verify of a corrupted archive passed")
	}
	t.Logf("verify: %v", err)
	got, _ := f.store.Backup(t.Context(), b.ID)
	if got.Verified() || got.VerifyError == "" {
		t.Errorf("catalog after a failed verify: %+v", got)
	}
	ev, ok := f.events.last("backup/etc/verify")
	if !ok || ev.Status != incident.Problem || ev.Runbook != backup.RunbookFailed {
		t.Errorf("incident event: %+v (%v), want a problem with runbook %s", ev, ok, backup.RunbookFailed)
	}
}

func TestSQLiteBackupPassesIntegrityCheck(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// The fixture's own ledger is the source, in use while backed up.
	f.m.Specs["ledger"] = backup.Spec{Name: "ledger", Source: &backup.SQLiteSource{Path: f.ledger}, Destination: f.dest}
	if _, err := f.store.BeginBackup(t.Context(), ledger.BackupRecord{Source: "marker", Destination: "x", Started: time.Now()}); err != nil {
		t.Fatal(err)
	}
	b, err := f.m.Run(t.Context(), "ledger", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Verify(t.Context(), b.ID, nil); err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "restored.db")
	if err := f.m.Restore(t.Context(), b.ID, backup.Target{Path: to}, nil); err != nil {
		t.Fatal(err)
	}
	r, err := sqlite.Open(t.Context(), to)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Backup(t.Context(), "marker.1"); err != nil {
		t.Errorf("restored ledger lacks the marker: %v", err)
	}
}

func TestPruneKeepsNAndNeverTheOnlyVerified(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o600)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f := newFixture(t, backup.Spec{Name: "s", Source: &backup.DirSource{Paths: []string{src}}, Policy: backup.Policy{Last: 2}})
	f.m.Now = func() time.Time { return now }
	var ids []string
	for range 5 {
		now = now.Add(time.Hour)
		b, err := f.m.Run(t.Context(), "s", "test", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, b.ID)
	}
	// Only s.1 is verified: nothing may go (no newer verified).
	if _, err := f.m.Verify(t.Context(), ids[0], nil); err != nil {
		t.Fatal(err)
	}
	res, err := f.m.Prune(t.Context(), "s", false)
	if err != nil || len(res.Deleted) != 0 {
		t.Fatalf("prune with only the oldest verified: %+v %v", res, err)
	}
	if _, err := f.store.Backup(t.Context(), ids[0]); err != nil {
		t.Fatalf("the only verified copy went: %v", err)
	}
	// s.5 verified: keep last 2 (s.5, s.4), delete s.1..s.3.
	if _, err := f.m.Verify(t.Context(), ids[4], nil); err != nil {
		t.Fatal(err)
	}
	res, err = f.m.Prune(t.Context(), "s", false)
	if err != nil || strings.Join(res.Deleted, ",") != "s.3,s.2,s.1" {
		t.Fatalf("prune: %+v %v", res, err)
	}
	l, _ := f.store.Backups(t.Context(), ledger.BackupFilter{Source: "s"})
	if len(l) != 2 || l[0].ID != "s.5" || l[1].ID != "s.4" {
		t.Errorf("left %+v", l)
	}
	for _, id := range ids[:3] {
		if _, err := os.Stat(filepath.Join(f.dest.Root, "s", id)); !os.IsNotExist(err) {
			t.Errorf("%s: files still there (%v)", id, err)
		}
	}
	// Whatever the policy, the only verified copy stays.
	f.m.Specs["s"] = backup.Spec{Name: "s", Source: &backup.DirSource{Paths: []string{src}}, Destination: f.dest, Policy: backup.Policy{Last: 1}}
	if err := f.store.SetVerify(t.Context(), "s.5", now, false, "made unverified by the test"); err != nil {
		t.Fatal(err)
	}
	res, err = f.m.Prune(t.Context(), "s", false)
	if err != nil || len(res.Deleted) != 0 {
		t.Fatalf("prune keep 1 with s.5 unverified: %+v %v", res, err)
	}
}

func TestCheckAgeRaisesTooOld(t *testing.T) {
	t.Parallel()
	src := t.TempDir()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f := newFixture(t, backup.Spec{Name: "s", Source: &backup.DirSource{Paths: []string{src}}, MaxAge: 24 * time.Hour})
	f.m.Now = func() time.Time { return now }
	ages, err := f.m.CheckAge(t.Context())
	if err != nil || len(ages) != 1 || !ages[0].Stale {
		t.Fatalf("no backup yet: %+v %v", ages, err)
	}
	b, err := f.m.Run(t.Context(), "s", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Verify(t.Context(), b.ID, nil); err != nil {
		t.Fatal(err)
	}
	if ages, _ := f.m.CheckAge(t.Context()); ages[0].Stale {
		t.Errorf("fresh: %+v", ages)
	}
	if ev, _ := f.events.last("backup/s/age"); ev.Status != incident.OK {
		t.Errorf("fresh: event %+v", ev)
	}
	now = now.Add(25 * time.Hour)
	if ages, _ := f.m.CheckAge(t.Context()); !ages[0].Stale {
		t.Errorf("25h later: %+v", ages)
	}
	if ev, _ := f.events.last("backup/s/age"); ev.Status != incident.Problem || ev.Runbook != backup.RunbookTooOld {
		t.Errorf("25h later: event %+v", ev)
	}
}

func randSuffix() string {
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%x", b)
}
