package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/unyo-ops/unyo/alerting/ledger/internal/sqlstore"
)

// core is the part of the store written once for both databases (package
// sqlstore); its methods are the Store's.
type core = sqlstore.Core

// dialect is PostgreSQL's side of the shared queries: times are
// timestamptz (NULL for an unset time), IN lists are = ANY of one array,
// and rows about to be updated are locked FOR NO KEY UPDATE.
type dialect struct{}

var _ sqlstore.Dialect = dialect{}

func (dialect) Name() string          { return "postgres ledger" }
func (dialect) NoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

func (dialect) ForeignKey(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503" // foreign_key_violation
}

func (dialect) Time(t time.Time) any           { return t }
func (dialect) NullTime(t *time.Time) any      { return t }
func (dialect) OptTime(t time.Time) any        { return nullTime(t) }
func (dialect) KeepTime(t time.Time) any       { return t.UTC() }
func (dialect) ScanTime(t *time.Time) any      { return (*utcTime)(t) }
func (dialect) ScanNullTime(t **time.Time) any { return nullUTCTime{t} }
func (dialect) ScanOptTime(t *time.Time) any   { return (*optUTCTime)(t) }
func (dialect) ForUpdate() string              { return " FOR NO KEY UPDATE" }
func (dialect) Unset(col string) string        { return col + " IS NULL" }
func (dialect) JSON(b []byte) any              { return snapshotJSON(b) }
func (dialect) InStrings(c string, vs []string) (string, []any) {
	return c + " = ANY(?::text[])", []any{vs}
}
func (dialect) InInt64s(c string, vs []int64) (string, []any) {
	return c + " = ANY(?::bigint[])", []any{vs}
}

func snapshotJSON(b []byte) string {
	if len(b) == 0 {
		return "{}"
	}
	return string(b)
}

// utcTime scans a NOT NULL timestamptz in UTC.
type utcTime time.Time

func (t *utcTime) ScanTimestamptz(v pgtype.Timestamptz) error {
	if !v.Valid {
		return errors.New("cannot scan NULL into a time")
	}
	*t = utcTime(v.Time.UTC())
	return nil
}

// optUTCTime scans a timestamptz in UTC, NULL as the zero time.
type optUTCTime time.Time

func (t *optUTCTime) ScanTimestamptz(v pgtype.Timestamptz) error {
	*t = optUTCTime{}
	if v.Valid {
		*t = optUTCTime(v.Time.UTC())
	}
	return nil
}

// nullUTCTime scans a timestamptz in UTC, NULL as nil.
type nullUTCTime struct{ t **time.Time }

func (n nullUTCTime) ScanTimestamptz(v pgtype.Timestamptz) error {
	*n.t = nil
	if v.Valid {
		u := v.Time.UTC()
		*n.t = &u
	}
	return nil
}

// pgRunner is a pool or a transaction.
type pgRunner interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error)
}

// db adapts pgx to sqlstore.DB: ? placeholders become $1, $2, ...
type db struct{ x pgRunner }

func (d db) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := d.x.Exec(ctx, rebind(q), args...)
	return tag.RowsAffected(), err
}

func (d db) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	return d.x.Query(ctx, rebind(q), args...)
}

func (d db) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return d.x.QueryRow(ctx, rebind(q), args...)
}

// pgTx is the pool or transaction under a sqlstore.DB.
func pgTx(x sqlstore.DB) pgRunner { return x.(db).x }

// rebound caches rebind's answers; the shared queries are a few hundred
// texts, and a text seen maxRebound times over stops being added.
var (
	rebound      sync.Map // string -> string
	reboundCount atomic.Int64
)

const maxRebound = 4096

// rebind turns the ? placeholders of q into $1, $2, ... The shared queries
// hold no ? in literals or identifiers.
func rebind(q string) string {
	if strings.IndexByte(q, '?') < 0 {
		return q
	}
	if v, ok := rebound.Load(q); ok {
		return v.(string)
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	out := b.String()
	if reboundCount.Load() < maxRebound {
		if _, loaded := rebound.LoadOrStore(q, out); !loaded {
			reboundCount.Add(1)
		}
	}
	return out
}

// begin runs fn in a transaction on the pool.
func (s *Store) begin(ctx context.Context, fn func(tx sqlstore.DB) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(db{tx}) })
}

// newCore makes the shared part of s once s.pool is open.
func (s *Store) newCore() *core {
	return sqlstore.New(sqlstore.Config{
		Dialect: dialect{},
		Bulk:    bulk{},
		Schema: sqlstore.Schema{
			EntrySelectCols: entrySelectCols,
			Unpublished:     "NOT published",
			By:              "by_whom",
			RunWhere:        "run_on",
			JobOrder:        "job",
		},
		Read:   db{s.pool},
		Begin:  s.begin,
		Now:    s.now,
		Closed: &s.closed,
	})
}
