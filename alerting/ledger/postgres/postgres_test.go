package postgres

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/ledgertest"
	"github.com/unyo-ops/unyo/alerting/ledger/postgres/pgtest"
)

func openTest(t testing.TB) (*Store, string) {
	t.Helper()
	url := pgtest.NewDatabase(t)
	s, err := Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, url
}

func TestConformance(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) ledger.Store {
		s, _ := openTest(t)
		return s
	})
}

func BenchmarkApplyEvents(b *testing.B) {
	ledgertest.Bench(b, func(b *testing.B) ledger.Store {
		s, _ := openTest(b)
		return s
	})
}

func migrationVersions(t *testing.T, url string) []int32 {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	v, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	url := pgtest.NewDatabase(t)
	const nodes = 4
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	stores := make([]*Store, nodes)
	for i := range nodes {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if got := migrationVersions(t, url); len(got) != len(ms) || int(got[len(got)-1]) != ms[len(ms)-1].Version {
		t.Errorf("schema_migrations = %v, want %d versions", got, len(ms))
	}
	// The nodes share one ledger.
	ch, err := stores[0].ApplyEvents(t.Context(), []incident.Event{ledgertest.Event("e1", "n1/ping", incident.Major, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stores[1].Incident(t.Context(), ch[0].IncidentID); err != nil {
		t.Errorf("other node: %v", err)
	}
	// Reopening applies nothing and keeps the data.
	s, err := Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, err := s.EventCount(t.Context()); err != nil || n != 1 {
		t.Errorf("EventCount after reopen = %d, %v", n, err)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	s, _ := openTest(t)
	ms, err := embeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if _, err := s.pool.Exec(t.Context(), m.SQL); err != nil {
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
}

func TestActiveDedupKeyUniqueIndex(t *testing.T) {
	// The partial unique index, not only the Go code, keeps one active
	// incident per key.
	s, _ := openTest(t)
	ctx := t.Context()
	ins := `INSERT INTO incidents (dedup_key, source, target, check_name, severity, state, count, first_seen, last_seen, opened_at)
		VALUES ('k', 's', 't', 'c', 'minor', $1, 1, now(), now(), now())`
	for _, st := range []string{"resolved", "closed", "open", "resolved"} {
		if _, err := s.pool.Exec(ctx, ins, st); err != nil {
			t.Fatalf("insert %s: %v", st, err)
		}
	}
	for _, st := range []string{"open", "acknowledged"} {
		if _, err := s.pool.Exec(ctx, ins, st); err == nil || !retryable(err) {
			t.Errorf("second active incident (%s): err = %v, want the unique violation ApplyEvents retries on", st, err)
		}
	}
}

func TestServerGoesAway(t *testing.T) {
	s, url := openTest(t)
	ctx := t.Context()
	if _, err := s.ApplyEvents(ctx, []incident.Event{ledgertest.Event("e1", "n1/ping", incident.Major, 0)}); err != nil {
		t.Fatal(err)
	}
	// Kill every session of the store's database from another connection.
	admin, err := pgx.Connect(ctx, pgtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	dbname := url[strings.LastIndex(url, "/")+1:]
	dbname, _, _ = strings.Cut(dbname, "?")
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid()`, dbname).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed == 0 {
		t.Fatalf("no sessions of %s to terminate", dbname)
	}
	// Calls may fail while the pool notices its connections are dead, with
	// a prefixed error and no panic; then the store recovers on its own.
	deadline := time.Now().Add(10 * time.Second)
	var failures int
	for {
		err := s.Ping(ctx)
		if err == nil {
			_, err = s.ApplyEvents(ctx, []incident.Event{ledgertest.Event("e2", "n1/ping", incident.Major, time.Second)})
		}
		if err == nil {
			break
		}
		failures++
		if !strings.HasPrefix(err.Error(), "postgres ledger: ") {
			t.Errorf("error without prefix: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover after %d failures: %v", failures, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("recovered after %d failed calls", failures)
	inc, err := s.Incidents(ctx, ledger.Filter{})
	if err != nil || len(inc) != 1 || inc[0].Count != 2 {
		t.Errorf("after recovery: %+v, %v", inc, err)
	}

	// After Close every call reports ErrClosed.
	s.Close()
	if err := s.Ping(ctx); !errors.Is(err, ledger.ErrClosed) {
		t.Errorf("Ping after Close = %v, want ErrClosed", err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := Open(ctx, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
	if err == nil {
		t.Fatal("Open on a closed port succeeded")
	}
	if !strings.HasPrefix(err.Error(), "postgres ledger: ") {
		t.Errorf("error without prefix: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open took %v to fail", d)
	}
	if _, err := Open(ctx, "::not a url::"); err == nil {
		t.Error("Open with a bad URL succeeded")
	}
}

func TestEscalationConformance(t *testing.T) {
	ledgertest.RunEscalation(t, func(t *testing.T) ledger.Store {
		s, _ := openTest(t)
		return s
	})
}
