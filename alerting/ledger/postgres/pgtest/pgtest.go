// Package pgtest gives tests a fresh PostgreSQL database of their own.
//
// The server comes from UNYO_TEST_POSTGRES_URL (default DefaultURL: trust
// authentication as user postgres on 127.0.0.1:5432). When it cannot be
// reached the test fails, so CI never passes by skipping; set
// UNYO_TEST_ALLOW_SKIP=1 to skip instead, on a machine without PostgreSQL.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultURL is the server tests use when UNYO_TEST_POSTGRES_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Environment variables.
const (
	EnvURL       = "UNYO_TEST_POSTGRES_URL"
	EnvAllowSkip = "UNYO_TEST_ALLOW_SKIP"
)

// AdminURL returns the URL of the server's maintenance database tests
// connect to in order to create and drop their databases.
func AdminURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// NewDatabase creates an empty database named unyo_test_<random> and returns
// its URL (the admin URL with the database name replaced). The database is
// dropped, with any sessions still connected to it, in t.Cleanup; register
// cleanups that close pools after calling NewDatabase so they run first.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := AdminURL()
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("pgtest: %s=%q: want a postgres:// URL", EnvURL, admin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	connectCtx, cancelConnect := context.WithTimeout(ctx, 5*time.Second)
	defer cancelConnect()
	conn, err := pgx.Connect(connectCtx, admin)
	if err != nil {
		msg := "pgtest: PostgreSQL at %s is unreachable: %v (set %s, or %s=1 to skip tests that need it)"
		if os.Getenv(EnvAllowSkip) == "1" {
			t.Skipf(msg, u.Redacted(), err, EnvURL, EnvAllowSkip)
		}
		t.Fatalf(msg, u.Redacted(), err, EnvURL, EnvAllowSkip)
	}
	defer conn.Close(context.Background())

	name := "unyo_test_" + randomHex(8)
	for attempt := 1; ; attempt++ {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		// 55006: template1 is briefly in use by another CREATE DATABASE.
		var pe *pgconn.PgError
		if err == nil || !errors.As(err, &pe) || pe.Code != "55006" || attempt == 10 {
			break
		}
		time.Sleep(time.Duration(attempt) * 50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
