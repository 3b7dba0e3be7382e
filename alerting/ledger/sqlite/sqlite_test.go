package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/ledgertest"
)

func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) ledger.Store { return openTest(t) })
}

func BenchmarkApplyEvents(b *testing.B) {
	ledgertest.Bench(b, func(b *testing.B) ledger.Store { return openTest(b) })
}

func TestOpenPragmas(t *testing.T) {
	s := openTest(t)
	ctx := t.Context()
	for _, tt := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"},
		{"foreign_keys", "1"},
		{"busy_timeout", "10000"},
	} {
		var got string
		if err := s.w.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("writer PRAGMA %s = %s, want %s", tt.pragma, got, tt.want)
		}
		if err := s.r.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("reader PRAGMA %s = %s, want %s", tt.pragma, got, tt.want)
		}
	}
	// Readers cannot write.
	if _, err := s.r.ExecContext(ctx, "DELETE FROM events"); err == nil {
		t.Errorf("a read connection could write")
	}
}

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := s.ApplyEvents(ctx, []incident.Event{ledgertest.Event("e1", "n1/ping", incident.Major, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		s, err = Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		inc, err := s.Incident(ctx, ch[0].IncidentID)
		if err != nil || inc.Count != 1 {
			t.Fatalf("after reopen: %+v, %v", inc, err)
		}
		got, err := s.ApplyEvents(ctx, []incident.Event{ledgertest.Event("e1", "n1/ping", incident.Major, 0)})
		if err != nil || got[0].Kind != incident.ChangeDuplicate {
			t.Fatalf("redelivery after reopen: %+v, %v", got, err)
		}
		var versions, max int
		if err := s.r.QueryRowContext(ctx, "SELECT count(*), max(version) FROM schema_migrations").Scan(&versions, &max); err != nil {
			t.Fatal(err)
		}
		ms, err := embeddedMigrations()
		if err != nil {
			t.Fatal(err)
		}
		if versions != len(ms) || max != ms[len(ms)-1].Version {
			t.Errorf("schema_migrations has %d rows up to %d, want %d up to %d", versions, max, len(ms), ms[len(ms)-1].Version)
		}
		s.Close()
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	// Running every migration a second time (as after a crash between a
	// migration's statements and its schema_migrations row) must succeed.
	s := openTest(t)
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if _, err := s.w.ExecContext(t.Context(), m.SQL); err != nil {
			t.Errorf("migration %04d_%s again: %v", m.Version, m.Name, err)
		}
	}
}

func TestLoadMigrationsRejectsBadNames(t *testing.T) {
	for name, files := range map[string]fstest.MapFS{
		"no number":    {"m/init.sql": {Data: []byte("")}},
		"zero":         {"m/0000_init.sql": {Data: []byte("")}},
		"same version": {"m/0001_a.sql": {Data: []byte("")}, "m/01_b.sql": {Data: []byte("")}},
	} {
		if _, err := loadMigrations(files, "m"); err == nil {
			t.Errorf("%s: loadMigrations succeeded", name)
		}
	}
	ms, err := loadMigrations(fstest.MapFS{"m/0002_b.sql": {Data: []byte("B")}, "m/0001_a.sql": {Data: []byte("A")}}, "m")
	if err != nil || len(ms) != 2 || ms[0].Version != 1 || ms[1].SQL != "B" {
		t.Errorf("loadMigrations = %+v, %v", ms, err)
	}
}

func TestOpenRejectsBadPaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
		if s, err := Open(t.Context(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
	if _, err := Open(t.Context(), filepath.Join(t.TempDir(), "missing-dir", "x.db")); err == nil {
		t.Errorf("Open in a missing directory succeeded")
	}
}

func TestConcurrentWritersNoBusy(t *testing.T) {
	// Many goroutines writing different keys and transitions at once must
	// never surface SQLITE_BUSY.
	s := openTest(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 20 {
				key := fmt.Sprintf("n%d/ping", w)
				ch, err := s.ApplyEvents(ctx, []incident.Event{ledgertest.Event(fmt.Sprintf("w%d-%d", w, i), key, incident.Minor, 0)})
				if err != nil {
					t.Errorf("ApplyEvents: %v", err)
					return
				}
				if _, _, err := s.Transition(ctx, ch[0].IncidentID, incident.Action{Kind: incident.KindComment, By: "op", Comment: "c"}); err != nil {
					t.Errorf("Transition: %v", err)
					return
				}
				if _, err := s.Pending(ctx, 10); err != nil {
					t.Errorf("Pending: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n, err := s.EventCount(ctx); err != nil || n != 160 {
		t.Errorf("EventCount = %d, %v", n, err)
	}
}

func TestEscalationConformance(t *testing.T) {
	ledgertest.RunEscalation(t, func(t *testing.T) ledger.Store { return openTest(t) })
}
