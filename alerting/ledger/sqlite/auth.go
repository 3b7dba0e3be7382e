package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/auth"
)

var _ auth.Store = (*Store)(nil)

// Audit listing limits (auth.AuditFilter.Limit).
const (
	auditDefaultLimit = 1000
	auditMaxLimit     = 10000
)

const userCols = `name, role, password_hash, disabled, source, created, updated`

const tokenCols = `id, name, kind, owner, role, hash, created, expires, last_used, last_from, revoked`

const auditCols = `seq, at, actor, role, kind, action, target, from_addr, result, detail, prev, hash`

// CreateUser implements auth.Store.
func (s *Store) CreateUser(ctx context.Context, u auth.User) error {
	if u.Name == "" {
		return errors.New("sqlite ledger: create user: empty name")
	}
	err := s.writeTx(ctx, "create user", func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`,
			u.Name, string(u.Role), u.PasswordHash, u.Disabled, u.Source, micros(u.Created), micros(u.Updated))
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("user %q: %w", u.Name, auth.ErrExists)
		}
		return nil
	})
	return err
}

func scanUser(sc scanner) (auth.User, error) {
	var (
		u                auth.User
		role             string
		created, updated int64
	)
	if err := sc.Scan(&u.Name, &role, &u.PasswordHash, &u.Disabled, &u.Source, &created, &updated); err != nil {
		return u, err
	}
	u.Role, u.Created, u.Updated = auth.Role(role), fromMicros(created), fromMicros(updated)
	return u, nil
}

// GetUser implements auth.Store.
func (s *Store) GetUser(ctx context.Context, name string) (auth.User, error) {
	if s.closed.Load() {
		return auth.User{}, ledger.ErrClosed
	}
	u, err := scanUser(s.r.QueryRowContext(ctx, "SELECT "+userCols+" FROM users WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return auth.User{}, fmt.Errorf("sqlite ledger: user %q: %w", name, auth.ErrNotFound)
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
	rows, err := s.r.QueryContext(ctx, "SELECT "+userCols+" FROM users ORDER BY name")
	if err != nil {
		return nil, s.wrap("list users", err)
	}
	defer rows.Close()
	var out []auth.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, s.wrap("list users", err)
		}
		out = append(out, u)
	}
	return out, s.wrapNil("list users", rows.Err())
}

// UpdateUser implements auth.Store.
func (s *Store) UpdateUser(ctx context.Context, u auth.User) error {
	err := s.writeTx(ctx, "update user", func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE users SET role = ?, password_hash = ?, disabled = ?, updated = ? WHERE name = ?`,
			string(u.Role), u.PasswordHash, u.Disabled, micros(u.Updated), u.Name)
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("user %q: %w", u.Name, auth.ErrNotFound)
		}
		return nil
	})
	return err
}

// CreateToken implements auth.Store. A token whose id or hash is taken is
// refused with ErrExists.
func (s *Store) CreateToken(ctx context.Context, t auth.Token) error {
	switch {
	case t.ID == "":
		return errors.New("sqlite ledger: create token: empty id")
	case t.Hash == "":
		return fmt.Errorf("sqlite ledger: create token %s: empty hash", t.ID)
	}
	err := s.writeTx(ctx, "create token", func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `INSERT INTO tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`,
			t.ID, t.Name, t.Kind, t.Owner, string(t.Role), t.Hash, micros(t.Created), microsOrZero(t.Expires),
			microsOrZero(t.LastUsed), t.LastFrom, microsOrZero(t.Revoked))
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("token %s (or its hash): %w", t.ID, auth.ErrExists)
		}
		return nil
	})
	return err
}

func scanToken(sc scanner) (auth.Token, error) {
	var (
		t                                 auth.Token
		role                              string
		created, expires, used, revokedAt int64
	)
	if err := sc.Scan(&t.ID, &t.Name, &t.Kind, &t.Owner, &role, &t.Hash, &created, &expires, &used, &t.LastFrom, &revokedAt); err != nil {
		return t, err
	}
	t.Role, t.Created = auth.Role(role), fromMicros(created)
	t.Expires, t.LastUsed, t.Revoked = timeOrZero(expires), timeOrZero(used), timeOrZero(revokedAt)
	return t, nil
}

// TokenByHash implements auth.Store.
func (s *Store) TokenByHash(ctx context.Context, hash string) (auth.Token, error) {
	if s.closed.Load() {
		return auth.Token{}, ledger.ErrClosed
	}
	t, err := scanToken(s.r.QueryRowContext(ctx, "SELECT "+tokenCols+" FROM tokens WHERE hash = ?", hash))
	if errors.Is(err, sql.ErrNoRows) {
		// The hash is a credential: it is not repeated in the error.
		return auth.Token{}, fmt.Errorf("sqlite ledger: token: %w", auth.ErrNotFound)
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
	rows, err := s.r.QueryContext(ctx, "SELECT "+tokenCols+" FROM tokens ORDER BY created, id")
	if err != nil {
		return nil, s.wrap("list tokens", err)
	}
	defer rows.Close()
	var out []auth.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, s.wrap("list tokens", err)
		}
		out = append(out, t)
	}
	return out, s.wrapNil("list tokens", rows.Err())
}

// tokenExists reports, inside tx, whether the token id exists.
func tokenExists(ctx context.Context, tx *sql.Tx, id string) error {
	var one int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM tokens WHERE id = ?", id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("token %s: %w", id, auth.ErrNotFound)
	}
	return err
}

// RevokeToken implements auth.Store.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("sqlite ledger: revoke token %s: zero time", id)
	}
	err := s.writeTx(ctx, "revoke token", func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, "UPDATE tokens SET revoked = ? WHERE id = ? AND revoked = 0", micros(at), id)
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil || n == 1 {
			return err
		}
		return tokenExists(ctx, tx, id) // revoked before: keep the first time
	})
	return err
}

// TouchToken implements auth.Store. An unknown id is an error wrapping
// auth.ErrNotFound.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time, from string) error {
	if at.IsZero() {
		return fmt.Errorf("sqlite ledger: touch token %s: zero time", id)
	}
	err := s.writeTx(ctx, "touch token", func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, "UPDATE tokens SET last_used = ?, last_from = ? WHERE id = ? AND last_used <= ?",
			micros(at), from, id, micros(at))
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil || n == 1 {
			return err
		}
		return tokenExists(ctx, tx, id) // used later already: LastUsed never moves back
	})
	return err
}

// AppendAudit implements auth.Store. The single write connection and
// BEGIN IMMEDIATE serialise appends, also against other processes that
// open the file (they wait for the write lock up to the busy timeout).
func (s *Store) AppendAudit(ctx context.Context, e auth.AuditEntry) (auth.AuditEntry, error) {
	if e.At.IsZero() {
		e.At = s.now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	err := s.writeTx(ctx, "append audit", func(tx *sql.Tx) error {
		e.Seq, e.Prev = 1, ""
		var last int64
		err := tx.QueryRowContext(ctx, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").Scan(&last, &e.Prev)
		switch {
		case err == nil:
			e.Seq = last + 1
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		e.Hash = auth.ChainHash(e.Prev, e)
		_, err = tx.ExecContext(ctx, `INSERT INTO audit (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Seq, micros(e.At), e.Actor, string(e.Role), string(e.Kind), e.Action, e.Target, e.From, e.Result,
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
	q := "SELECT " + auditCols + " FROM audit WHERE seq > ?"
	args := []any{f.AfterSeq}
	if !f.From.IsZero() {
		q += " AND at >= ?"
		args = append(args, micros(f.From))
	}
	if !f.To.IsZero() {
		q += " AND at < ?"
		args = append(args, micros(f.To))
	}
	if f.Actor != "" {
		q += " AND actor = ?"
		args = append(args, f.Actor)
	}
	q += " ORDER BY seq LIMIT ?"
	args = append(args, auditLimit(f.Limit))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.wrap("list audit", err)
	}
	defer rows.Close()
	var out []auth.AuditEntry
	for rows.Next() {
		var (
			e          auth.AuditEntry
			at         int64
			role, kind string
		)
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &role, &kind, &e.Action, &e.Target, &e.From, &e.Result,
			&e.Detail, &e.Prev, &e.Hash); err != nil {
			return nil, s.wrap("list audit", err)
		}
		e.At, e.Role, e.Kind = fromMicros(at), auth.Role(role), auth.Kind(kind)
		out = append(out, e)
	}
	return out, s.wrapNil("list audit", rows.Err())
}

func auditLimit(n int) int {
	if n <= 0 {
		return auditDefaultLimit
	}
	return min(n, auditMaxLimit)
}
