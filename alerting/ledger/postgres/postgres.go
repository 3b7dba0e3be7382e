package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/unyo-ops/unyo/alerting/ledger"
	mig "github.com/unyo-ops/unyo/alerting/ledger/internal/migrate"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrationLockKey is the pg_advisory_lock key held while migrating.
const MigrationLockKey int64 = 0x756e796f6c656467 // "unyoledg"

// Store is a ledger.Store on PostgreSQL. Create it with Open.
type Store struct {
	*core  // the queries and rules shared with the SQLite store
	pool   *pgxpool.Pool
	now    func() time.Time
	closed atomic.Bool
	once   sync.Once
}

var _ ledger.Store = (*Store)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	now func() time.Time
}

// WithClock replaces time.Now, for opened_at and actions without a time.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// Open connects to the database at url (a postgres:// URL or key=value
// string; pgxpool settings such as pool_max_conns are honoured) and brings
// its schema up to date.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres ledger: open: %w", err)
	}
	if err := migrate(ctx, cfg.ConnConfig.Copy(), o.now()); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres ledger: open: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres ledger: open: %w", err)
	}
	s := &Store{pool: pool, now: o.now}
	s.core = s.newCore()
	return s, nil
}

// migration is one numbered schema step (package migrate).
type migration = mig.Migration

func embeddedMigrations() ([]migration, error) { return loadMigrations(migrations, "migrations") }

func loadMigrations(fsys fs.FS, dir string) ([]migration, error) { return mig.Load(fsys, dir) }

// migrate applies missing migrations on its own connection, holding the
// migration advisory lock. Closing the connection releases the lock even if
// the unlock is never sent (a cancelled context).
func migrate(ctx context.Context, cfg *pgx.ConnConfig, now time.Time) (err error) {
	ms, err := embeddedMigrations()
	if err != nil {
		return fmt.Errorf("postgres ledger: migrations: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("postgres ledger: open: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	wrap := func(err error) error { return fmt.Errorf("postgres ledger: migrate: %w", err) }
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", MigrationLockKey); err != nil {
		return wrap(err)
	}
	defer func() {
		if _, uerr := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", MigrationLockKey); uerr != nil && err == nil {
			err = wrap(uerr)
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     PRIMARY KEY,
		name       text        NOT NULL,
		applied_at timestamptz NOT NULL
	)`); err != nil {
		return wrap(err)
	}
	rows, err := conn.Query(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return wrap(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return wrap(err)
	}
	applied := make([]int, len(versions))
	for i, v := range versions {
		applied[i] = int(v)
	}
	for _, m := range mig.Pending(ms, applied) {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", m.Version, m.Name, now.UTC())
			return err
		})
		if err != nil {
			return mig.Error("postgres ledger", m, err)
		}
	}
	return nil
}

// Close closes the pool. It is safe to call more than once.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		s.pool.Close()
	})
	return nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return ledger.ErrClosed
	}
	if err := s.pool.Ping(ctx); err != nil {
		return s.wrap("ping", err)
	}
	return nil
}

// wrap prefixes err, and reports ErrClosed for calls that raced Close.
func (s *Store) wrap(op string, err error) error { return sqlstore.Wrap(dialect{}, &s.closed, op, err) }
