package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger/internal/sqlstore"
)

// core is the part of the store written once for both databases (package
// sqlstore); its methods are the Store's.
type core = sqlstore.Core

// dialect is SQLite's side of the shared queries: times are INTEGER
// microseconds since the Unix epoch (0 for an unset time where a column
// keeps one), IN lists have one ? per value, and there are no row locks
// (one connection writes).
type dialect struct{}

var _ sqlstore.Dialect = dialect{}

func (dialect) Name() string          { return "sqlite ledger" }
func (dialect) NoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
func (dialect) ForeignKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "FOREIGN KEY")
}
func (dialect) Time(t time.Time) any           { return micros(t) }
func (dialect) NullTime(t *time.Time) any      { return nullMicros(t) }
func (dialect) OptTime(t time.Time) any        { return sqlstore.MicrosOrZero(t) }
func (dialect) KeepTime(t time.Time) any       { return sqlstore.MicrosOrZero(t) }
func (dialect) ScanTime(t *time.Time) any      { return (*microsTime)(t) }
func (dialect) ScanNullTime(t **time.Time) any { return nullMicrosTime{t} }
func (dialect) ScanOptTime(t *time.Time) any   { return (*optMicrosTime)(t) }
func (dialect) JSON(b []byte) any              { return string(b) }
func (dialect) ForUpdate() string              { return "" }
func (dialect) Unset(col string) string        { return col + " = 0" }

func (dialect) InStrings(col string, vs []string) (string, []any) {
	args := make([]any, len(vs))
	for i, v := range vs {
		args[i] = v
	}
	return col + " IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(vs)), ", ") + ")", args
}

// InInt64s writes the numbers into the statement: no bound on their count.
func (dialect) InInt64s(col string, vs []int64) (string, []any) {
	var b strings.Builder
	b.WriteString(col + " IN (")
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(v, 10))
	}
	b.WriteByte(')')
	return b.String(), nil
}

// microsTime scans INTEGER microseconds into a time.Time.
type microsTime time.Time

func (t *microsTime) Scan(src any) error {
	v, ok := src.(int64)
	if !ok {
		return fmt.Errorf("time column: got %T, want INTEGER microseconds", src)
	}
	*t = microsTime(fromMicros(v))
	return nil
}

// optMicrosTime is microsTime with 0 and NULL for the zero time.
type optMicrosTime time.Time

func (t *optMicrosTime) Scan(src any) error {
	if src == nil {
		*t = optMicrosTime{}
		return nil
	}
	v, ok := src.(int64)
	if !ok {
		return fmt.Errorf("time column: got %T, want INTEGER microseconds", src)
	}
	*t = optMicrosTime(sqlstore.TimeOrZero(v))
	return nil
}

// nullMicrosTime is microsTime with NULL for nil.
type nullMicrosTime struct{ t **time.Time }

func (n nullMicrosTime) Scan(src any) error {
	if src == nil {
		*n.t = nil
		return nil
	}
	var t time.Time
	if err := (*microsTime)(&t).Scan(src); err != nil {
		return err
	}
	*n.t = &t
	return nil
}

// sqlRunner is a *sql.DB or a *sql.Tx.
type sqlRunner interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// db adapts database/sql to sqlstore.DB.
type db struct{ x sqlRunner }

func (d db) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	r, err := d.x.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

func (d db) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	rows, err := d.x.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (d db) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return d.x.QueryRowContext(ctx, q, args...)
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

// sqlTx is the transaction under a sqlstore.DB that begin made.
func sqlTx(x sqlstore.DB) *sql.Tx { return x.(db).x.(*sql.Tx) }

// begin runs fn in a write transaction on the single write connection.
func (s *Store) begin(ctx context.Context, fn func(tx sqlstore.DB) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(db{tx}); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// newCore makes the shared part of s once s.w and s.r are open.
func (s *Store) newCore() *core {
	return sqlstore.New(sqlstore.Config{
		Dialect: dialect{},
		Bulk:    bulk{},
		Schema: sqlstore.Schema{
			EntrySelectCols: entrySelectCols,
			Unpublished:     "published = 0",
			By:              "by",
			RunWhere:        `"where"`,
			JobOrder:        "rowid",
			Unindexed:       "+",
		},
		Read:   db{s.r},
		Begin:  s.begin,
		Now:    s.now,
		Closed: &s.closed,
	})
}
