package rotate

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Postgres is a PostgreSQL role, changed through Admin (a superuser's
// connection URL without a password).
type Postgres struct {
	Host, Role, Admin string
}

// Name implements Account.
func (p Postgres) Name() string { return p.Host + "/postgres/" + p.Role }

func (p Postgres) admin(ctx context.Context) (*pgx.Conn, error) {
	return pgx.Connect(ctx, p.Admin)
}

// Save implements Account: the role's stored verifier, put back verbatim.
func (p Postgres) Save(ctx context.Context) (func(context.Context) error, error) {
	c, err := p.admin(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close(context.WithoutCancel(ctx))
	var old *string
	if err := c.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", p.Role).Scan(&old); err != nil {
		return nil, fmt.Errorf("role %q: %w", p.Role, err)
	}
	return func(ctx context.Context) error {
		lit := "NULL"
		if old != nil {
			lit = quoteLiteral(*old)
		}
		return p.exec(ctx, "ALTER ROLE "+pgx.Identifier{p.Role}.Sanitize()+" PASSWORD "+lit)
	}, nil
}

func (p Postgres) exec(ctx context.Context, sql string) error {
	c, err := p.admin(ctx)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	_, err = c.Exec(ctx, sql)
	return err
}

// Set implements Account: a SCRAM-SHA-256 verifier made here, so the
// server never sees the password in clear.
func (p Postgres) Set(ctx context.Context, pw string) error {
	v, err := SCRAMVerifier(pw)
	if err != nil {
		return err
	}
	return p.exec(ctx, "ALTER ROLE "+pgx.Identifier{p.Role}.Sanitize()+" PASSWORD "+quoteLiteral(v))
}

// Verify implements Account: a login as the role with the password, to
// Admin's server and database.
func (p Postgres) Verify(ctx context.Context, pw string) error {
	cfg, err := pgx.ParseConfig(p.Admin)
	if err != nil {
		return err
	}
	cfg.User, cfg.Password = p.Role, pw
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("log in as %s: %w", p.Role, err)
	}
	return c.Close(ctx)
}

// SCRAMVerifier is PostgreSQL's stored form of pw (RFC 5802/7677,
// 4096 iterations, 16-byte salt), as psql's \password makes it.
func SCRAMVerifier(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	const iter = 4096
	salted, err := pbkdf2.Key(sha256.New, pw, salt, iter, 32)
	if err != nil {
		return "", err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	server := mac(salted, "Server Key")
	b := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iter, b(salt), b(stored[:]), b(server)), nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
