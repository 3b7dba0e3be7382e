package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
)

// Row is one result row (QueryRow).
type Row interface{ Scan(dest ...any) error }

// Rows is a result set. Close may be called more than once.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// DB runs queries written with ? placeholders: a pool or a transaction.
type DB interface {
	// Exec runs q and returns the number of rows it affected.
	Exec(ctx context.Context, q string, args ...any) (int64, error)
	Query(ctx context.Context, q string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, q string, args ...any) Row
}

// Dialect is what differs between the databases in the shared queries.
type Dialect interface {
	// Name prefixes errors: "sqlite ledger".
	Name() string
	// NoRows reports whether err is the driver's "no rows".
	NoRows(err error) bool
	// ForeignKey reports whether err is a foreign key violation.
	ForeignKey(err error) bool

	// Time is t as a time column argument (to the microsecond).
	Time(t time.Time) any
	// NullTime is *t, or NULL for nil.
	NullTime(t *time.Time) any
	// OptTime is t, or the store's "unset" (0 or NULL) for the zero time.
	OptTime(t time.Time) any
	// KeepTime is t for a NOT NULL column that may hold the zero time.
	KeepTime(t time.Time) any
	// ScanTime, ScanNullTime and ScanOptTime are scan destinations
	// that set a time in UTC; ScanNullTime sets nil for NULL and
	// ScanOptTime the zero time for an unset one.
	ScanTime(dst *time.Time) any
	ScanNullTime(dst **time.Time) any
	ScanOptTime(dst *time.Time) any

	// JSON is a JSON document argument; empty means an empty object.
	JSON(b []byte) any
	// InStrings and InInt64s are "col IN (...)" with their arguments.
	InStrings(col string, vs []string) (string, []any)
	InInt64s(col string, vs []int64) (string, []any)
	// ForUpdate is appended to a SELECT of rows the transaction will
	// update ("" where the store has a single writer).
	ForUpdate() string
	// Unset is the condition that the OptTime column col is unset.
	Unset(col string) string
}

// Bulk holds the writes whose fast form differs between the databases
// (set-based or pipelined on PostgreSQL, prepared statements on SQLite) and
// the locks only a database with many writers needs. Each runs inside the
// write transaction tx.
type Bulk interface {
	// InsertEntries appends timeline entries after every entry there.
	InsertEntries(ctx context.Context, tx DB, es []incident.Entry) error
	// InsertNotifications inserts pending notifications (ids already
	// present are skipped), after checking each with
	// plan.CheckNotification.
	InsertNotifications(ctx context.Context, tx DB, ns []ledger.Notification, now time.Time) error
	// SaveTransition writes an operator action: the incident's state
	// columns and its new entry e.
	SaveTransition(ctx context.Context, tx DB, inc *plan.Incident, e incident.Entry) error
	// AddSamples writes samples, their rollups and sketch cells (package
	// ledger's Aggregate and AggregateSketch).
	AddSamples(ctx context.Context, tx DB, buckets []ledger.Bucket, kept []ledger.Sample) error
	// LockAudit serialises audit appends of every writer of the
	// database until tx ends.
	LockAudit(ctx context.Context, tx DB) error
	// LockName serialises, until tx ends, the transactions of every
	// writer of the database that lock the same name in the same space:
	// for a rule about rows that may not exist yet, which no row lock
	// covers (one agent per host id).
	LockName(ctx context.Context, tx DB, space int32, name string) error
}

// Lock spaces of Bulk.LockName.
const (
	// LockHostID: PutAgent, by host id.
	LockHostID int32 = 1
	// LockUninstall: ClaimUninstallAttempt, by agent.
	LockUninstall int32 = 2
)

// Schema names what differs in the tables' columns.
type Schema struct {
	// EntrySelectCols selects a timeline entry and its received time.
	EntrySelectCols string
	// Unpublished is the WHERE condition of unpublished timeline entries.
	Unpublished string
	// By names the "by" column of job_runs, backups, drills and
	// account_passwords; RunWhere job_run_jobs.where.
	By, RunWhere string
	// JobOrder orders a run's job records of one attempt.
	JobOrder string
	// Unindexed prefixes a column the planner must not pick an index by
	// ("+" for SQLite, which otherwise prefers a worse index).
	Unindexed string
}

// Core implements the shared store methods. Create it with New.
type Core struct {
	d      Dialect
	bulk   Bulk
	schema Schema
	read   DB
	begin  func(ctx context.Context, fn func(tx DB) error) error
	now    func() time.Time
	closed *atomic.Bool
}

// Config is what New needs.
type Config struct {
	Dialect Dialect
	Bulk    Bulk
	Schema  Schema
	// Read runs reads.
	Read DB
	// Begin runs fn in a write transaction, committing if it returns nil.
	Begin func(ctx context.Context, fn func(tx DB) error) error
	// Now is the store's clock.
	Now func() time.Time
	// Closed is set once the store is closed.
	Closed *atomic.Bool
}

// New returns the shared part of a store.
func New(c Config) *Core {
	return &Core{d: c.Dialect, bulk: c.Bulk, schema: c.Schema, read: c.Read, begin: c.Begin, now: c.Now, closed: c.Closed}
}

// Wrap prefixes err with the store's name and op, and reports
// ledger.ErrClosed for calls that raced Close.
func Wrap(d Dialect, closed *atomic.Bool, op string, err error) error {
	if closed.Load() && !errors.Is(err, ledger.ErrClosed) {
		return fmt.Errorf("%s: %s: %w", d.Name(), op, ledger.ErrClosed)
	}
	return fmt.Errorf("%s: %s: %w", d.Name(), op, err)
}

func (c *Core) wrap(op string, err error) error { return Wrap(c.d, c.closed, op, err) }

func (c *Core) wrapNil(op string, err error) error {
	if err == nil {
		return nil
	}
	return c.wrap(op, err)
}

// errorf is an error of op that is not a database failure.
func (c *Core) errorf(op string, err error) error {
	return fmt.Errorf("%s: %s: %w", c.d.Name(), op, err)
}

// WriteTx runs fn in a write transaction of begin. A field error is
// returned as it is; a domain error (plan.Domain) is prefixed; any other is
// wrapped as Wrap does.
func WriteTx(ctx context.Context, d Dialect, closed *atomic.Bool, begin func(context.Context, func(DB) error) error, op string, fn func(tx DB) error) error {
	if closed.Load() {
		return ledger.ErrClosed
	}
	if err := begin(ctx, fn); err != nil {
		var fe *incident.FieldError
		switch {
		case errors.As(err, &fe):
			return err
		case plan.Domain(err):
			return fmt.Errorf("%s: %s: %w", d.Name(), op, err)
		}
		return Wrap(d, closed, op, err)
	}
	return nil
}

func (c *Core) writeTx(ctx context.Context, op string, fn func(tx DB) error) error {
	return WriteTx(ctx, c.d, c.closed, c.begin, op, fn)
}

// collect scans every row of a query with scan.
func collect[T any](rows Rows, err error, scan func(Row) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
