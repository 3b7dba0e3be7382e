package backup_test

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/unyo-ops/unyo/alerting/ledger/postgres/pgtest"
	"github.com/unyo-ops/unyo/backup"
)

func rowsOf(t *testing.T, dbURL string) [][]any {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), "SELECT id, name, amount::text, note, tags FROM shop.orders ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPostgresRoundTripsRowForRow(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(t.Context(), `CREATE SCHEMA shop;
		CREATE TABLE shop.orders (id serial PRIMARY KEY, name text NOT NULL, amount numeric(12,2), note text, tags text[]);
		INSERT INTO shop.orders (name, amount, note, tags)
			SELECT 'order ' || g, g * 1.25, CASE WHEN g % 3 = 0 THEN NULL ELSE 'x' || repeat('y', g % 50) END, ARRAY['a', g::text]
			FROM generate_series(1, 500) g;
		INSERT INTO shop.orders (name, note) VALUES ('quote''s & ünïcödé', E'tab\there');`)
	conn.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, backup.Spec{Name: "shop", Source: &backup.PostgresSource{URL: dbURL}})
	b, err := f.m.Run(t.Context(), "shop", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.m.Verify(t.Context(), b.ID, nil); err != nil {
		t.Fatal(err)
	}
	restored := "unyo_test_restored_" + strings.TrimPrefix(b.ID, "shop.") + fmt.Sprint(len(dbURL)) + randSuffix()
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), pgtest.AdminURL())
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{restored}.Sanitize()+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	if err := f.m.Restore(t.Context(), b.ID, backup.Target{Database: restored}, nil); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(dbURL)
	u.Path = "/" + restored
	want, got := rowsOf(t, dbURL), rowsOf(t, u.String())
	if len(want) != 501 || !reflect.DeepEqual(want, got) {
		t.Fatalf("restored %d rows, want %d equal rows", len(got), len(want))
	}
	// A restore into a database that exists is refused.
	if err := f.m.Restore(t.Context(), b.ID, backup.Target{Database: restored}, nil); err == nil {
		t.Error("restore into an existing database passed")
	}
}

func TestPostgresPasswordNeverOnArgv(t *testing.T) {
	t.Parallel()
	env, cleanup, err := backup.PGEnv("postgres://u:s3cr%3At@127.0.0.1:5433/db?sslmode=disable", "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	joined := strings.Join(env, "\n")
	if strings.Contains(joined, "s3cr") {
		t.Fatalf("password in the environment: %q", joined)
	}
	for _, want := range []string{"PGHOST=127.0.0.1", "PGPORT=5433", "PGUSER=u", "PGDATABASE=db", "PGSSLMODE=disable", "PGPASSFILE="} {
		if !strings.Contains(joined, want) {
			t.Errorf("env lacks %s", want)
		}
	}
}
