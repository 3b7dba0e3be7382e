package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/unyo-ops/unyo/alerting/ledger/postgres"
)

// toPostgres makes a new database on server, opens a store on it (which
// migrates it) and copies the seeded sample rows of the SQLite ledger at
// path into it. drop closes nothing but removes the database.
func toPostgres(ctx context.Context, path, server string) (*postgres.Store, func(), error) {
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		return nil, nil, err
	}
	name := fmt.Sprintf("unyo_bench_report_%d", os.Getpid())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(ctx)
		return nil, nil, err
	}
	drop := func() {
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close(context.Background())
	}
	u, err := url.Parse(server)
	if err != nil {
		drop()
		return nil, nil, err
	}
	u.Path = "/" + name
	s, err := postgres.Open(ctx, u.String())
	if err != nil {
		drop()
		return nil, nil, err
	}
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		s.Close()
		drop()
		return nil, nil, err
	}
	defer conn.Close(ctx)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		s.Close()
		drop()
		return nil, nil, err
	}
	defer db.Close()
	for _, tb := range []struct {
		name string
		cols []string
	}{
		{"sample_series", []string{"id", "target", "name", "labels"}},
		{"sample_rollups", []string{"series_id", "res", "bucket", "min", "max", "sum", "count"}},
		{"sample_sketches", []string{"series_id", "month", "bucket", "count"}},
	} {
		if err := copyTable(ctx, db, conn, tb.name, tb.cols); err != nil {
			s.Close()
			drop()
			return nil, nil, fmt.Errorf("copy %s: %w", tb.name, err)
		}
	}
	if _, err := conn.Exec(ctx, "SELECT setval('sample_series_id_seq', (SELECT max(id) FROM sample_series)); ANALYZE"); err != nil {
		s.Close()
		drop()
		return nil, nil, err
	}
	return s, drop, nil
}

func copyTable(ctx context.Context, db *sql.DB, conn *pgx.Conn, table string, cols []string) error {
	q := "SELECT "
	for i, c := range cols {
		if i > 0 {
			q += ", "
		}
		q += c
	}
	rows, err := db.QueryContext(ctx, q+" FROM "+table)
	if err != nil {
		return err
	}
	defer rows.Close()
	src := &rowSource{rows: rows, n: len(cols)}
	_, err = conn.CopyFrom(ctx, pgx.Identifier{table}, cols, src)
	if err != nil {
		return err
	}
	return rows.Err()
}

// rowSource feeds database/sql rows to pgx's COPY.
type rowSource struct {
	rows *sql.Rows
	n    int
	vals []any
	err  error
}

func (r *rowSource) Next() bool {
	if !r.rows.Next() {
		return false
	}
	r.vals = make([]any, r.n)
	ptrs := make([]any, r.n)
	for i := range r.vals {
		ptrs[i] = &r.vals[i]
	}
	r.err = r.rows.Scan(ptrs...)
	return r.err == nil
}

func (r *rowSource) Values() ([]any, error) { return r.vals, r.err }
func (r *rowSource) Err() error             { return r.err }
