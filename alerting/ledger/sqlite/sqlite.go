package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/migrate"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a ledger.Store in one SQLite file. Create it with Open.
type Store struct {
	*core          // the queries and rules shared with the PostgreSQL store
	w      *sql.DB // exactly one connection: every write goes through it
	r      *sql.DB // query_only connections for reads
	now    func() time.Time
	closed atomic.Bool
	once   sync.Once
	err    error
}

var _ ledger.Store = (*Store)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	readers     int
	busyTimeout time.Duration
	now         func() time.Time
}

// WithReaders sets how many read connections the store keeps (default 4).
func WithReaders(n int) Option { return func(o *options) { o.readers = n } }

// WithBusyTimeout sets how long a connection waits for a lock another
// process holds before failing with SQLITE_BUSY (default 10s).
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// WithClock replaces time.Now, for opened_at and actions without a time.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Open opens (creating if needed) the ledger in the file at path and brings
// its schema up to date. path must name a file: ":memory:" is refused because
// the write and read connections must share the database.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{readers: 4, busyTimeout: 10 * time.Second, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case path == "", path == ":memory:", strings.HasPrefix(path, "file:"):
		return nil, fmt.Errorf("sqlite ledger: path %q: want a file name", path)
	case strings.ContainsAny(path, "?#"):
		return nil, fmt.Errorf("sqlite ledger: path %q: must not contain ? or #", path)
	case o.readers < 1:
		return nil, fmt.Errorf("sqlite ledger: readers %d: want at least 1", o.readers)
	case o.busyTimeout < 0:
		return nil, fmt.Errorf("sqlite ledger: busy timeout %v: want >= 0", o.busyTimeout)
	}
	busy := "_pragma=busy_timeout(" + strconv.FormatInt(o.busyTimeout.Milliseconds(), 10) + ")"
	common := busy + "&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"

	w, err := sql.Open("sqlite", path+"?"+common+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite ledger: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w, now: o.now}
	if err := s.checkWAL(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", path+"?"+common+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite ledger: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(o.readers)
	r.SetMaxIdleConns(o.readers)
	s.r = r
	s.core = s.newCore()
	if err := r.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite ledger: open %s for reading: %w", path, err)
	}
	return s, nil
}

// checkWAL makes sure the pragmas took: a file on a file system without
// shared memory support silently stays in another journal mode.
func (s *Store) checkWAL(ctx context.Context) error {
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("sqlite ledger: open: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite ledger: open: journal mode is %q, want wal", mode)
	}
	var sync int
	if err := s.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
		return fmt.Errorf("sqlite ledger: open: %w", err)
	}
	if sync < 2 {
		return fmt.Errorf("sqlite ledger: open: synchronous is %d, want 2 (FULL)", sync)
	}
	return nil
}

// migration is one numbered schema step (package migrate).
type migration = migrate.Migration

// embeddedMigrations returns the embedded schema migrations in version order.
func embeddedMigrations() ([]migration, error) { return loadMigrations(migrations, "migrations") }

func loadMigrations(fsys fs.FS, dir string) ([]migration, error) { return migrate.Load(fsys, dir) }

func (s *Store) migrate(ctx context.Context) (err error) {
	ms, err := embeddedMigrations()
	if err != nil {
		return fmt.Errorf("sqlite ledger: migrations: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite ledger: migrate: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("sqlite ledger: migrate: %w", err)
	}
	var applied []int
	rows, err := tx.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("sqlite ledger: migrate: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite ledger: migrate: %w", err)
		}
		applied = append(applied, v)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("sqlite ledger: migrate: %w", err)
	}
	for _, m := range migrate.Pending(ms, applied) {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return migrate.Error("sqlite ledger", m, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.Version, m.Name, micros(s.now())); err != nil {
			return migrate.Error("sqlite ledger", m, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite ledger: migrate: %w", err)
	}
	return nil
}

// Close closes the store. It is safe to call more than once; later calls
// return the first call's result.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		var errs []error
		if s.r != nil {
			errs = append(errs, s.r.Close())
		}
		errs = append(errs, s.w.Close())
		if err := errors.Join(errs...); err != nil {
			s.err = fmt.Errorf("sqlite ledger: close: %w", err)
		}
	})
	return s.err
}

// Ping reports whether both the write and the read connections work.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return ledger.ErrClosed
	}
	if err := s.w.PingContext(ctx); err != nil {
		return s.wrap("ping", err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return s.wrap("ping", err)
	}
	return nil
}

// wrap prefixes err, and reports ErrClosed for calls that raced Close.
func (s *Store) wrap(op string, err error) error { return sqlstore.Wrap(dialect{}, &s.closed, op, err) }
