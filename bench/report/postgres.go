package main

import (
	"context"
	"fmt"
	"iter"
	"net/url"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/unyo-ops/unyo/alerting/ledger/postgres"
)

// seedPostgres makes a new database on server, opens a store on it (which
// migrates it) and writes g's rows into its sample tables with COPY (row
// inserts of ~5 million rows do not finish in reasonable time on a loaded
// machine). drop removes the database.
func seedPostgres(ctx context.Context, g gen, server string) (_ *postgres.Store, rows int64, drop func(), err error) {
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		return nil, 0, nil, err
	}
	name := fmt.Sprintf("unyo_bench_report_%d", os.Getpid())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(ctx)
		return nil, 0, nil, err
	}
	drop = func() {
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close(context.Background())
	}
	defer func() {
		if err != nil {
			drop()
		}
	}()
	u, err := url.Parse(server)
	if err != nil {
		return nil, 0, nil, err
	}
	u.Path = "/" + name
	s, err := postgres.Open(ctx, u.String())
	if err != nil {
		return nil, 0, nil, err
	}
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		s.Close()
		return nil, 0, nil, err
	}
	defer conn.Close(ctx)
	for _, tb := range g.tables() {
		n, err := copyRows(ctx, conn, tb.name, tb.cols, tb.rows)
		rows += n
		if err != nil {
			s.Close()
			return nil, rows, nil, fmt.Errorf("copy %s: %w", tb.name, err)
		}
	}
	if _, err := conn.Exec(ctx, "SELECT setval('sample_series_id_seq', (SELECT max(id) FROM sample_series))"); err != nil {
		s.Close()
		return nil, rows, nil, err
	}
	// VACUUM as well: otherwise autovacuum takes on the freshly copied
	// tables during the timed rounds (round 2 came out slower than round 1).
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE) sample_series, sample_rollups, sample_sketches"); err != nil {
		s.Close()
		return nil, rows, nil, err
	}
	return s, rows, drop, nil
}

// copyRows COPYs the rows of seq into table.
func copyRows(ctx context.Context, conn *pgx.Conn, table string, cols []string, seq iter.Seq[[]any]) (int64, error) {
	next, stop := iter.Pull(seq)
	defer stop()
	return conn.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromFunc(func() ([]any, error) {
		row, ok := next()
		if !ok {
			return nil, nil
		}
		return row, nil
	}))
}
