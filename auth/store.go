package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"
)

// Errors of a Store.
var (
	// ErrNotFound: no such user or token.
	ErrNotFound = errors.New("not found")
	// ErrExists: a user of that name (or a token of that id) exists.
	ErrExists = errors.New("already exists")
)

// User is a person (or a service account) who can log in.
type User struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
	// PasswordHash is an Argon2id PHC string; empty: no password login
	// (tokens or single sign-on only).
	PasswordHash string    `json:"-"`
	Disabled     bool      `json:"disabled"`
	Source       string    `json:"source"` // "local", or the SSO issuer
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
}

// Token kinds.
const (
	TokenAPI     = "api"     // for the CLI and automation, made by `unyo token create`
	TokenSession = "session" // made by a login, short-lived
)

// Token is an API or session token. Only its SHA-256 is stored; the
// secret is shown once, when it is made.
type Token struct {
	ID    string `json:"id"`   // public, for listing and revoking ("tok_" + 16 hex)
	Name  string `json:"name"` // what it is for
	Kind  string `json:"kind"` // TokenAPI or TokenSession
	Owner string `json:"owner"`
	// Role is what the token may do: at most its owner's role.
	Role     Role      `json:"role"`
	Hash     string    `json:"-"` // hex SHA-256 of the secret
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires,omitzero"` // zero: never
	LastUsed time.Time `json:"last_used,omitzero"`
	LastFrom string    `json:"last_from,omitempty"` // remote address of the last use
	Revoked  time.Time `json:"revoked,omitzero"`
}

// Live reports whether the token can be used at now.
func (t Token) Live(now time.Time) bool {
	return t.Revoked.IsZero() && (t.Expires.IsZero() || now.Before(t.Expires))
}

// AuditEntry is one line of the audit log. Entries are appended, never
// edited; each carries the hash of the one before (ChainHash), so an
// entry changed in the database breaks the chain (Verify).
type AuditEntry struct {
	Seq    int64     `json:"seq"` // 1, 2, … assigned by the store
	At     time.Time `json:"at"`  // stored to the microsecond, UTC
	Actor  string    `json:"actor"`
	Role   Role      `json:"role"`
	Kind   Kind      `json:"kind"`   // how the actor proved itself
	Action string    `json:"action"` // an Action, or "login", "logout"
	Target string    `json:"target"` // what it acted on (path, id, name)
	From   string    `json:"from"`   // remote address
	Result string    `json:"result"` // "ok", "denied", "error", or an HTTP status
	Detail string    `json:"detail,omitempty"`
	Prev   string    `json:"prev"` // hex SHA-256 of the entry before ("" for the first)
	Hash   string    `json:"hash"` // ChainHash(Prev, this entry)
}

// ChainHash is the hash of an entry given the one before it: SHA-256 over
// prev and the entry's fields (not Hash, and At to the microsecond in
// UTC). Stores call it inside the appending transaction.
func ChainHash(prev string, e AuditEntry) string {
	b, _ := json.Marshal(struct {
		Prev   string `json:"prev"`
		Seq    int64  `json:"seq"`
		At     string `json:"at"`
		Actor  string `json:"actor"`
		Role   Role   `json:"role"`
		Kind   Kind   `json:"kind"`
		Action string `json:"action"`
		Target string `json:"target"`
		From   string `json:"from"`
		Result string `json:"result"`
		Detail string `json:"detail"`
	}{prev, e.Seq, e.At.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano), e.Actor, e.Role, e.Kind,
		e.Action, e.Target, e.From, e.Result, e.Detail})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// AuditFilter selects audit entries, oldest first.
type AuditFilter struct {
	From, To time.Time // At in [From, To); zero: unbounded
	AfterSeq int64     // only entries with a larger Seq (paging)
	Actor    string    // "" for all
	Limit    int       // 0 means 1000; at most 10000
}

// Store keeps users, tokens and the audit log. Both ledger stores
// implement it; auth/authtest checks the rules below against each.
//
//   - Names and ids are unique: CreateUser and CreateToken return an
//     error wrapping ErrExists for a taken one and change nothing.
//   - GetUser, TokenByHash, UpdateUser, RevokeToken return an error
//     wrapping ErrNotFound for an unknown one.
//   - UpdateUser replaces role, password hash, disabled, updated (by
//     name); Created and Source are kept.
//   - RevokeToken sets Revoked once (a second revoke keeps the first
//     time); TouchToken sets LastUsed and LastFrom (never moving LastUsed
//     back).
//   - AppendAudit assigns Seq (one more than the last), Prev (the last
//     entry's Hash), At truncated to the microsecond in UTC, and Hash =
//     ChainHash(Prev, e), all in one transaction serialised against other
//     appends (also from other processes sharing the database), and
//     returns the stored entry.
//   - ListAudit returns entries oldest first (by Seq) as filtered.
type Store interface {
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, name string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	UpdateUser(ctx context.Context, u User) error

	CreateToken(ctx context.Context, t Token) error
	TokenByHash(ctx context.Context, hash string) (Token, error)
	ListTokens(ctx context.Context) ([]Token, error)
	RevokeToken(ctx context.Context, id string, at time.Time) error
	TouchToken(ctx context.Context, id string, at time.Time, from string) error

	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}
