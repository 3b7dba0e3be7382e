package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/auth"
)

var _ auth.Store = (*Store)(nil)

// AuditLockKey is the pg_advisory_xact_lock key AppendAudit holds while it
// reads the last entry and inserts the next, so appends from every node
// sharing the database make one chain.
const AuditLockKey int64 = 0x756e796f61756474 // "unyoaudt"

// Audit listing limits (auth.AuditFilter.Limit).
const (
	auditDefaultLimit = 1000
	auditMaxLimit     = 10000
)

const userCols = `name, role, password_hash, disabled, source, created, updated`

const tokenCols = `id, name, kind, owner, role, hash, created, expires, last_used, last_from, revoked`

const auditCols = `seq, at, actor, role, kind, action, target, from_addr, result, detail, prev, hash`

// pgTime is t as stored: to the microsecond, UTC.
func pgTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// pgNullTime is pgTime, or NULL for the zero time.
func pgNullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return pgTime(t)
}

// CreateUser implements auth.Store.
func (s *Store) CreateUser(ctx context.Context, u auth.User) error {
	if u.Name == "" {
		return errors.New("postgres ledger: create user: empty name")
	}
	return s.tx(ctx, "create user", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO users (`+userCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT DO NOTHING`,
			u.Name, string(u.Role), u.PasswordHash, u.Disabled, u.Source, pgTime(u.Created), pgTime(u.Updated))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("user %q: %w", u.Name, auth.ErrExists)
		}
		return nil
	})
}

func scanUser(r pgx.Row) (auth.User, error) {
	var (
		u    auth.User
		role string
	)
	if err := r.Scan(&u.Name, &role, &u.PasswordHash, &u.Disabled, &u.Source, &u.Created, &u.Updated); err != nil {
		return u, err
	}
	u.Role, u.Created, u.Updated = auth.Role(role), u.Created.UTC(), u.Updated.UTC()
	return u, nil
}

// GetUser implements auth.Store.
func (s *Store) GetUser(ctx context.Context, name string) (auth.User, error) {
	if s.closed.Load() {
		return auth.User{}, ledger.ErrClosed
	}
	u, err := scanUser(s.pool.QueryRow(ctx, "SELECT "+userCols+" FROM users WHERE name = $1", name))
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.User{}, fmt.Errorf("postgres ledger: user %q: %w", name, auth.ErrNotFound)
	}
	if err != nil {
		return auth.User{}, s.wrap("get user", err)
	}
	return u, nil
}

// ListUsers implements auth.Store: every user, by name.
func (s *Store) ListUsers(ctx context.Context) ([]auth.User, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	rows, err := s.pool.Query(ctx, "SELECT "+userCols+" FROM users ORDER BY name")
	if err != nil {
		return nil, s.wrap("list users", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.User, error) { return scanUser(r) })
	if err != nil {
		return nil, s.wrap("list users", err)
	}
	return out, nil
}

// UpdateUser implements auth.Store.
func (s *Store) UpdateUser(ctx context.Context, u auth.User) error {
	return s.tx(ctx, "update user", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET role = $1, password_hash = $2, disabled = $3, updated = $4 WHERE name = $5`,
			string(u.Role), u.PasswordHash, u.Disabled, pgTime(u.Updated), u.Name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("user %q: %w", u.Name, auth.ErrNotFound)
		}
		return nil
	})
}

// CreateToken implements auth.Store. A token whose id or hash is taken is
// refused with ErrExists.
func (s *Store) CreateToken(ctx context.Context, t auth.Token) error {
	switch {
	case t.ID == "":
		return errors.New("postgres ledger: create token: empty id")
	case t.Hash == "":
		return fmt.Errorf("postgres ledger: create token %s: empty hash", t.ID)
	}
	return s.tx(ctx, "create token", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO tokens (`+tokenCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT DO NOTHING`,
			t.ID, t.Name, t.Kind, t.Owner, string(t.Role), t.Hash, pgTime(t.Created), pgNullTime(t.Expires),
			pgNullTime(t.LastUsed), t.LastFrom, pgNullTime(t.Revoked))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("token %s (or its hash): %w", t.ID, auth.ErrExists)
		}
		return nil
	})
}

func scanToken(r pgx.Row) (auth.Token, error) {
	var (
		t                      auth.Token
		role                   string
		expires, used, revoked *time.Time
	)
	if err := r.Scan(&t.ID, &t.Name, &t.Kind, &t.Owner, &role, &t.Hash, &t.Created, &expires, &used, &t.LastFrom, &revoked); err != nil {
		return t, err
	}
	t.Role, t.Created = auth.Role(role), t.Created.UTC()
	t.Expires, t.LastUsed, t.Revoked = fromNull(expires), fromNull(used), fromNull(revoked)
	return t, nil
}

// TokenByHash implements auth.Store.
func (s *Store) TokenByHash(ctx context.Context, hash string) (auth.Token, error) {
	if s.closed.Load() {
		return auth.Token{}, ledger.ErrClosed
	}
	t, err := scanToken(s.pool.QueryRow(ctx, "SELECT "+tokenCols+" FROM tokens WHERE hash = $1", hash))
	if errors.Is(err, pgx.ErrNoRows) {
		// The hash is a credential: it is not repeated in the error.
		return auth.Token{}, fmt.Errorf("postgres ledger: token: %w", auth.ErrNotFound)
	}
	if err != nil {
		return auth.Token{}, s.wrap("token by hash", err)
	}
	return t, nil
}

// ListTokens implements auth.Store: every token, oldest first.
func (s *Store) ListTokens(ctx context.Context) ([]auth.Token, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	rows, err := s.pool.Query(ctx, "SELECT "+tokenCols+" FROM tokens ORDER BY created, id")
	if err != nil {
		return nil, s.wrap("list tokens", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.Token, error) { return scanToken(r) })
	if err != nil {
		return nil, s.wrap("list tokens", err)
	}
	return out, nil
}

// tokenExists reports, inside tx, whether the token id exists.
func tokenExists(ctx context.Context, tx pgx.Tx, id string) error {
	var one int
	err := tx.QueryRow(ctx, "SELECT 1 FROM tokens WHERE id = $1", id).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("token %s: %w", id, auth.ErrNotFound)
	}
	return err
}

// RevokeToken implements auth.Store.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("postgres ledger: revoke token %s: zero time", id)
	}
	return s.tx(ctx, "revoke token", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE tokens SET revoked = $1 WHERE id = $2 AND revoked IS NULL", pgTime(at), id)
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		return tokenExists(ctx, tx, id) // revoked before: keep the first time
	})
}

// TouchToken implements auth.Store. An unknown id is an error wrapping
// auth.ErrNotFound.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time, from string) error {
	if at.IsZero() {
		return fmt.Errorf("postgres ledger: touch token %s: zero time", id)
	}
	return s.tx(ctx, "touch token", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE tokens SET last_used = $1, last_from = $2
			WHERE id = $3 AND (last_used IS NULL OR last_used <= $1)`, pgTime(at), from, id)
		if err != nil || tag.RowsAffected() == 1 {
			return err
		}
		return tokenExists(ctx, tx, id) // used later already: LastUsed never moves back
	})
}

// AppendAudit implements auth.Store. The transaction takes
// pg_advisory_xact_lock(AuditLockKey) before it reads the last entry, so
// appends from any number of pools and nodes on the database run one after
// the other; the lock is released at commit, after the new entry is
// visible to the next appender.
func (s *Store) AppendAudit(ctx context.Context, e auth.AuditEntry) (auth.AuditEntry, error) {
	if e.At.IsZero() {
		e.At = s.now()
	}
	e.At = pgTime(e.At)
	err := s.tx(ctx, "append audit", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", AuditLockKey); err != nil {
			return err
		}
		e.Seq, e.Prev = 1, ""
		var last int64
		err := tx.QueryRow(ctx, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").Scan(&last, &e.Prev)
		switch {
		case err == nil:
			e.Seq = last + 1
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		e.Hash = auth.ChainHash(e.Prev, e)
		_, err = tx.Exec(ctx, `INSERT INTO audit (`+auditCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			e.Seq, e.At, e.Actor, string(e.Role), string(e.Kind), e.Action, e.Target, e.From, e.Result,
			e.Detail, e.Prev, e.Hash)
		return err
	})
	if err != nil {
		return auth.AuditEntry{}, err
	}
	return e, nil
}

// ListAudit implements auth.Store.
func (s *Store) ListAudit(ctx context.Context, f auth.AuditFilter) ([]auth.AuditEntry, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	args := []any{f.AfterSeq}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	q := "SELECT " + auditCols + " FROM audit WHERE seq > $1"
	if !f.From.IsZero() {
		q += " AND at >= " + arg(pgTime(f.From))
	}
	if !f.To.IsZero() {
		q += " AND at < " + arg(pgTime(f.To))
	}
	if f.Actor != "" {
		q += " AND actor = " + arg(f.Actor)
	}
	q += " ORDER BY seq LIMIT " + arg(auditLimit(f.Limit))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, s.wrap("list audit", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.AuditEntry, error) {
		var (
			e          auth.AuditEntry
			role, kind string
		)
		err := r.Scan(&e.Seq, &e.At, &e.Actor, &role, &kind, &e.Action, &e.Target, &e.From, &e.Result,
			&e.Detail, &e.Prev, &e.Hash)
		e.At, e.Role, e.Kind = e.At.UTC(), auth.Role(role), auth.Kind(kind)
		return e, err
	})
	if err != nil {
		return nil, s.wrap("list audit", err)
	}
	return out, nil
}

func auditLimit(n int) int {
	if n <= 0 {
		return auditDefaultLimit
	}
	return min(n, auditMaxLimit)
}
