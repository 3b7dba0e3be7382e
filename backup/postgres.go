package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// PostgresFile is the object of a postgres backup: pg_dump's custom
// format (compressed by pg_dump).
const PostgresFile = "dump.pgdump"

// PostgresSource backs up one database with pg_dump -Fc and restores it
// with pg_restore. The connection URL may carry a password: it never
// goes on a command line; the tools get the host, port, user and
// database in PG* environment variables and the password in a PGPASSFILE
// (0600, in a private temporary directory, removed after).
type PostgresSource struct {
	// URL is a postgres:// URL of the database to back up.
	URL string
	// Bin is the directory of pg_dump and pg_restore ("": PATH).
	Bin string
	// TempDir holds the password file ("": the system's).
	TempDir string
}

// Kind implements Source.
func (s *PostgresSource) Kind() string { return KindPostgres }

func (s *PostgresSource) tool(name string) string {
	if s.Bin != "" {
		return filepath.Join(s.Bin, name)
	}
	return name
}

// pgEnv turns a postgres:// URL (database replaced by db when not "")
// into the environment of the PostgreSQL tools, writing the password to
// a PGPASSFILE under a new temporary directory (removed by cleanup).
func pgEnv(rawURL, db, tempDir string) (env []string, cleanup func(), err error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, nil, errors.New("postgres url: want postgres://user@host:port/database")
	}
	cleanup = func() {}
	env = []string{"PGCONNECT_TIMEOUT=10"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	add := func(k, v string) {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	add("PGHOST", u.Hostname())
	add("PGPORT", u.Port())
	add("PGUSER", u.User.Username())
	if db == "" {
		db = strings.TrimPrefix(u.Path, "/")
	}
	add("PGDATABASE", db)
	q := u.Query()
	for k, e := range map[string]string{"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT",
		"sslkey": "PGSSLKEY", "application_name": "PGAPPNAME", "host": "PGHOST", "port": "PGPORT"} {
		add(e, q.Get(k))
	}
	if pw, ok := u.User.Password(); ok {
		dir, err := os.MkdirTemp(tempDir, "unyo-pgpass-")
		if err != nil {
			return nil, nil, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		esc := strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(pw)
		pf := filepath.Join(dir, "pgpass")
		if err := os.WriteFile(pf, []byte("*:*:*:*:"+esc+"\n"), 0o600); err != nil {
			cleanup()
			return nil, nil, err
		}
		env = append(env, "PGPASSFILE="+pf)
	}
	return env, cleanup, nil
}

// withDatabase returns rawURL naming database db.
func withDatabase(rawURL, db string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", errors.New("postgres url: not a URL")
	}
	u.Path = "/" + db
	return u.String(), nil
}

func (s *PostgresSource) database() string {
	u, err := url.Parse(s.URL)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

// tables lists the user tables (schema.name) of the database at rawURL.
func tables(ctx context.Context, rawURL string) ([]string, error) {
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT schemaname || '.' || tablename FROM pg_tables
		WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Backup implements Source.
func (s *PostgresSource) Backup(ctx context.Context, put PutFunc, m *Manifest, p Progress) error {
	env, cleanup, err := pgEnv(s.URL, "", s.TempDir)
	if err != nil {
		return err
	}
	defer cleanup()
	m.Database = s.database()
	if m.Tables, err = tables(ctx, s.URL); err != nil {
		return err
	}
	return put(ctx, PostgresFile, func(w io.Writer) error {
		pw := &progressWriter{stage: "backup", p: p}
		cmd := exec.CommandContext(ctx, s.tool("pg_dump"), "-Fc", "--no-password")
		cmd.Env = env
		cmd.Stdout = io.MultiWriter(w, pw)
		var stderr bytes.Buffer
		cmd.Stderr = &limited{w: &stderr, n: 8 << 10}
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("pg_dump of %s: %w: %s", m.Database, err, strings.TrimSpace(stderr.String()))
		}
		pw.end()
		return nil
	})
}

// restoreInto creates database db and restores the dump into it with
// pg_restore --exit-on-error.
func (s *PostgresSource) restoreInto(ctx context.Context, get GetFunc, db string, create bool, p Progress, stage string) error {
	if create {
		conn, err := pgx.Connect(ctx, s.URL)
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize())
		conn.Close(context.WithoutCancel(ctx))
		if err != nil {
			return fmt.Errorf("create database %s: %w", db, err)
		}
	}
	env, cleanup, err := pgEnv(s.URL, db, s.TempDir)
	if err != nil {
		return err
	}
	defer cleanup()
	r, err := get(ctx, PostgresFile)
	if err != nil {
		return err
	}
	defer r.Close()
	pr := &progressWriter{stage: stage, p: p}
	cmd := exec.CommandContext(ctx, s.tool("pg_restore"), "--exit-on-error", "--no-owner", "--no-acl", "--no-password", "--dbname", db)
	cmd.Env = env
	cmd.Stdin = io.TeeReader(r, pr)
	var stderr bytes.Buffer
	cmd.Stderr = &limited{w: &stderr, n: 8 << 10}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pg_restore into %s: %w: %s", db, err, strings.TrimSpace(stderr.String()))
	}
	if err := drain(r); err != nil {
		return err
	}
	pr.end()
	return nil
}

// Restore implements Source: into a new database to.Database (created;
// one that exists is refused).
func (s *PostgresSource) Restore(ctx context.Context, get GetFunc, m *Manifest, to Target, p Progress) error {
	if to.Database == "" {
		return errors.New("restore of a postgres backup needs a database name")
	}
	if err := s.restoreInto(ctx, get, to.Database, true, p, "restore"); err != nil {
		return err
	}
	return s.compareTables(ctx, m, to.Database)
}

func (s *PostgresSource) compareTables(ctx context.Context, m *Manifest, db string) error {
	u, err := withDatabase(s.URL, db)
	if err != nil {
		return err
	}
	got, err := tables(ctx, u)
	if err != nil {
		return err
	}
	var missing []string
	for _, t := range m.Tables {
		if !slices.Contains(got, t) {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: tables missing after restore: %s", ErrMismatch, strings.Join(missing, ", "))
	}
	return nil
}

// Verify implements Source: restored into a scratch database
// (unyo_verify_<random>, dropped after), compared with the manifest's
// tables.
func (s *PostgresSource) Verify(ctx context.Context, get GetFunc, m *Manifest, _ string, p Progress) error {
	var b [6]byte
	rand.Read(b[:])
	db := "unyo_verify_" + hex.EncodeToString(b[:])
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DropTimeout)
		defer cancel()
		if conn, err := pgx.Connect(dctx, s.URL); err == nil {
			conn.Exec(dctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
			conn.Close(dctx)
		}
	}()
	if err := s.restoreInto(ctx, get, db, true, p, "verify"); err != nil {
		return err
	}
	return s.compareTables(ctx, m, db)
}

// limited keeps the first n bytes written.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
