package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/auth"
)

// Audit listing limits (auth.AuditFilter.Limit).
const (
	auditDefaultLimit = 1000
	auditMaxLimit     = 10000
)

// UserCols, TokenCols and AuditCols are the columns of users, tokens and
// the audit log, in the order the scans read them.
const (
	UserCols  = `name, role, password_hash, disabled, source, created, updated`
	TokenCols = `id, name, kind, owner, role, hash, created, expires, last_used, last_from, revoked`
	AuditCols = `seq, at, actor, role, kind, action, target, from_addr, result, detail, prev, hash`
)

// errorNew is an error of the store's own making, not wrapped.
func (c *Core) errorNew(format string, args ...any) error {
	return errors.New(c.d.Name() + ": " + fmt.Sprintf(format, args...))
}

// CreateUser implements auth.Store.
func (c *Core) CreateUser(ctx context.Context, u auth.User) error {
	if u.Name == "" {
		return c.errorNew("create user: empty name")
	}
	return c.writeTx(ctx, "create user", func(tx DB) error {
		n, err := tx.Exec(ctx, `INSERT INTO users (`+UserCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`,
			u.Name, string(u.Role), u.PasswordHash, u.Disabled, u.Source, c.d.Time(u.Created), c.d.Time(u.Updated))
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("user %q: %w", u.Name, auth.ErrExists)
		}
		return nil
	})
}

func (c *Core) scanUser(r Row) (auth.User, error) {
	var (
		u    auth.User
		role string
	)
	err := r.Scan(&u.Name, &role, &u.PasswordHash, &u.Disabled, &u.Source, c.d.ScanTime(&u.Created), c.d.ScanTime(&u.Updated))
	u.Role = auth.Role(role)
	return u, err
}

// GetUser implements auth.Store.
func (c *Core) GetUser(ctx context.Context, name string) (auth.User, error) {
	if c.closed.Load() {
		return auth.User{}, ledger.ErrClosed
	}
	u, err := c.scanUser(c.read.QueryRow(ctx, "SELECT "+UserCols+" FROM users WHERE name = ?", name))
	if c.d.NoRows(err) {
		return auth.User{}, c.errorf(fmt.Sprintf("user %q", name), auth.ErrNotFound)
	}
	if err != nil {
		return auth.User{}, c.wrap("get user", err)
	}
	return u, nil
}

// ListUsers implements auth.Store: every user, by name.
func (c *Core) ListUsers(ctx context.Context) ([]auth.User, error) {
	if c.closed.Load() {
		return nil, ledger.ErrClosed
	}
	rows, err := c.read.Query(ctx, "SELECT "+UserCols+" FROM users ORDER BY name")
	out, err := collect(rows, err, c.scanUser)
	return out, c.wrapNil("list users", err)
}

// UpdateUser implements auth.Store.
func (c *Core) UpdateUser(ctx context.Context, u auth.User) error {
	return c.writeTx(ctx, "update user", func(tx DB) error {
		n, err := tx.Exec(ctx, `UPDATE users SET role = ?, password_hash = ?, disabled = ?, updated = ? WHERE name = ?`,
			string(u.Role), u.PasswordHash, u.Disabled, c.d.Time(u.Updated), u.Name)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("user %q: %w", u.Name, auth.ErrNotFound)
		}
		return nil
	})
}

// CreateToken implements auth.Store. A token whose id or hash is taken is
// refused with ErrExists.
func (c *Core) CreateToken(ctx context.Context, t auth.Token) error {
	switch {
	case t.ID == "":
		return c.errorNew("create token: empty id")
	case t.Hash == "":
		return c.errorNew("create token %s: empty hash", t.ID)
	}
	d := c.d
	return c.writeTx(ctx, "create token", func(tx DB) error {
		n, err := tx.Exec(ctx, `INSERT INTO tokens (`+TokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`,
			t.ID, t.Name, t.Kind, t.Owner, string(t.Role), t.Hash, d.Time(t.Created), d.OptTime(t.Expires),
			d.OptTime(t.LastUsed), t.LastFrom, d.OptTime(t.Revoked))
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("token %s (or its hash): %w", t.ID, auth.ErrExists)
		}
		return nil
	})
}

func (c *Core) scanToken(r Row) (auth.Token, error) {
	var (
		t    auth.Token
		role string
		d    = c.d
	)
	err := r.Scan(&t.ID, &t.Name, &t.Kind, &t.Owner, &role, &t.Hash, d.ScanTime(&t.Created), d.ScanOptTime(&t.Expires),
		d.ScanOptTime(&t.LastUsed), &t.LastFrom, d.ScanOptTime(&t.Revoked))
	t.Role = auth.Role(role)
	return t, err
}

// TokenByHash implements auth.Store.
func (c *Core) TokenByHash(ctx context.Context, hash string) (auth.Token, error) {
	if c.closed.Load() {
		return auth.Token{}, ledger.ErrClosed
	}
	t, err := c.scanToken(c.read.QueryRow(ctx, "SELECT "+TokenCols+" FROM tokens WHERE hash = ?", hash))
	if c.d.NoRows(err) {
		// The hash is a credential: it is not repeated in the error.
		return auth.Token{}, c.errorf("token", auth.ErrNotFound)
	}
	if err != nil {
		return auth.Token{}, c.wrap("token by hash", err)
	}
	return t, nil
}

// ListTokens implements auth.Store: every token, oldest first.
func (c *Core) ListTokens(ctx context.Context) ([]auth.Token, error) {
	if c.closed.Load() {
		return nil, ledger.ErrClosed
	}
	rows, err := c.read.Query(ctx, "SELECT "+TokenCols+" FROM tokens ORDER BY created, id")
	out, err := collect(rows, err, c.scanToken)
	return out, c.wrapNil("list tokens", err)
}

// tokenExists reports, inside tx, whether the token id exists.
func (c *Core) tokenExists(ctx context.Context, tx DB, id string) error {
	var one int
	err := tx.QueryRow(ctx, "SELECT 1 FROM tokens WHERE id = ?", id).Scan(&one)
	if c.d.NoRows(err) {
		return fmt.Errorf("token %s: %w", id, auth.ErrNotFound)
	}
	return err
}

// RevokeToken implements auth.Store.
func (c *Core) RevokeToken(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return c.errorNew("revoke token %s: zero time", id)
	}
	return c.writeTx(ctx, "revoke token", func(tx DB) error {
		n, err := tx.Exec(ctx, "UPDATE tokens SET revoked = ? WHERE id = ? AND "+c.d.Unset("revoked"), c.d.Time(at), id)
		if err != nil || n == 1 {
			return err
		}
		return c.tokenExists(ctx, tx, id) // revoked before: keep the first time
	})
}

// TouchToken implements auth.Store. An unknown id is an error wrapping
// auth.ErrNotFound.
func (c *Core) TouchToken(ctx context.Context, id string, at time.Time, from string) error {
	if at.IsZero() {
		return c.errorNew("touch token %s: zero time", id)
	}
	t := c.d.Time(at)
	return c.writeTx(ctx, "touch token", func(tx DB) error {
		n, err := tx.Exec(ctx, "UPDATE tokens SET last_used = ?, last_from = ? WHERE id = ? AND ("+
			c.d.Unset("last_used")+" OR last_used <= ?)", t, from, id, t)
		if err != nil || n == 1 {
			return err
		}
		return c.tokenExists(ctx, tx, id) // used later already: LastUsed never moves back
	})
}

// AppendAudit implements auth.Store. Bulk.LockAudit serialises appends of
// every writer of the database, so they make one chain with no gap.
func (c *Core) AppendAudit(ctx context.Context, e auth.AuditEntry) (auth.AuditEntry, error) {
	if e.At.IsZero() {
		e.At = c.now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	err := c.writeTx(ctx, "append audit", func(tx DB) error {
		if err := c.bulk.LockAudit(ctx, tx); err != nil {
			return err
		}
		e.Seq, e.Prev = 1, ""
		var last int64
		err := tx.QueryRow(ctx, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").Scan(&last, &e.Prev)
		switch {
		case err == nil:
			e.Seq = last + 1
		case !c.d.NoRows(err):
			return err
		}
		e.Hash = auth.ChainHash(e.Prev, e)
		_, err = tx.Exec(ctx, `INSERT INTO audit (`+AuditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Seq, c.d.Time(e.At), e.Actor, string(e.Role), string(e.Kind), e.Action, e.Target, e.From, e.Result,
			e.Detail, e.Prev, e.Hash)
		return err
	})
	if err != nil {
		return auth.AuditEntry{}, err
	}
	return e, nil
}

// ListAudit implements auth.Store.
func (c *Core) ListAudit(ctx context.Context, f auth.AuditFilter) ([]auth.AuditEntry, error) {
	if c.closed.Load() {
		return nil, ledger.ErrClosed
	}
	q := "SELECT " + AuditCols + " FROM audit WHERE seq > ?"
	args := []any{f.AfterSeq}
	if !f.From.IsZero() {
		q += " AND at >= ?"
		args = append(args, c.d.Time(f.From))
	}
	if !f.To.IsZero() {
		q += " AND at < ?"
		args = append(args, c.d.Time(f.To))
	}
	if f.Actor != "" {
		q += " AND actor = ?"
		args = append(args, f.Actor)
	}
	rows, err := c.read.Query(ctx, q+" ORDER BY seq LIMIT ?", append(args, auditLimit(f.Limit))...)
	out, err := collect(rows, err, func(r Row) (auth.AuditEntry, error) {
		var (
			e          auth.AuditEntry
			role, kind string
		)
		err := r.Scan(&e.Seq, c.d.ScanTime(&e.At), &e.Actor, &role, &kind, &e.Action, &e.Target, &e.From, &e.Result,
			&e.Detail, &e.Prev, &e.Hash)
		e.Role, e.Kind = auth.Role(role), auth.Kind(kind)
		return e, err
	})
	return out, c.wrapNil("list audit", err)
}

func auditLimit(n int) int {
	if n <= 0 {
		return auditDefaultLimit
	}
	return min(n, auditMaxLimit)
}
