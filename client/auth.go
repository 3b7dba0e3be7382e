package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/console"
)

// Login checks a user's password and returns a session token.
func (c *Client) Login(ctx context.Context, user, password string) (console.LoginResponse, error) {
	var out console.LoginResponse
	err := c.do(ctx, http.MethodPost, "/api/v1/login", nil, console.LoginRequest{User: user, Password: password}, &out)
	return out, err
}

// Logout ends the client's session.
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/api/v1/logout", nil, struct{}{}, nil)
}

// WhoAmI returns the client's identity.
func (c *Client) WhoAmI(ctx context.Context) (auth.Identity, error) {
	var out auth.Identity
	err := c.do(ctx, http.MethodGet, "/api/v1/whoami", nil, nil, &out)
	return out, err
}

// Sessions lists who is logged in.
func (c *Client) Sessions(ctx context.Context) ([]auth.Session, error) {
	var out struct {
		Sessions []auth.Session `json:"sessions"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/sessions", nil, nil, &out)
	return out.Sessions, err
}

// Users lists the users.
func (c *Client) Users(ctx context.Context) ([]auth.User, error) {
	var out struct {
		Users []auth.User `json:"users"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/users", nil, nil, &out)
	return out.Users, err
}

// AddUser creates a user.
func (c *Client) AddUser(ctx context.Context, r console.UserRequest) (auth.User, error) {
	var out auth.User
	err := c.do(ctx, http.MethodPost, "/api/v1/users", nil, r, &out)
	return out, err
}

// ChangeUser changes a user's role, password or disabled flag.
func (c *Client) ChangeUser(ctx context.Context, name string, r console.UserChangeRequest) (auth.User, error) {
	var out auth.User
	err := c.do(ctx, http.MethodPost, "/api/v1/users/"+url.PathEscape(name), nil, r, &out)
	return out, err
}

// ChangePassword changes the caller's own password.
func (c *Client) ChangePassword(ctx context.Context, old, new string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/password", nil, console.PasswordRequest{Old: old, New: new}, nil)
}

// Tokens lists the caller's tokens, or everyone's (all, admin).
func (c *Client) Tokens(ctx context.Context, all bool) ([]auth.Token, error) {
	q := url.Values{}
	if all {
		q.Set("all", "1")
	}
	var out struct {
		Tokens []auth.Token `json:"tokens"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/tokens", q, nil, &out)
	return out.Tokens, err
}

// CreateToken makes an API token; the secret is in the answer only.
func (c *Client) CreateToken(ctx context.Context, r console.TokenRequest) (console.TokenResponse, error) {
	var out console.TokenResponse
	err := c.do(ctx, http.MethodPost, "/api/v1/tokens", nil, r, &out)
	return out, err
}

// RevokeToken revokes a token by id.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/tokens/"+url.PathEscape(id)+"/revoke", nil, struct{}{}, nil)
}

// AuditQuery selects audit entries.
type AuditQuery struct {
	From, To time.Time
	Actor    string
	After    int64
	Limit    int
}

// Audit lists audit entries, oldest first.
func (c *Client) Audit(ctx context.Context, f AuditQuery) ([]auth.AuditEntry, error) {
	q := url.Values{}
	if !f.From.IsZero() {
		q.Set("from", f.From.Format(time.RFC3339))
	}
	if !f.To.IsZero() {
		q.Set("to", f.To.Format(time.RFC3339))
	}
	if f.Actor != "" {
		q.Set("actor", f.Actor)
	}
	if f.After > 0 {
		q.Set("after", strconv.FormatInt(f.After, 10))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out struct {
		Entries []auth.AuditEntry `json:"entries"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/audit", q, nil, &out)
	return out.Entries, err
}

// VerifyAudit checks the audit log's hash chain.
func (c *Client) VerifyAudit(ctx context.Context) (auth.VerifyResult, error) {
	var out auth.VerifyResult
	err := c.do(ctx, http.MethodGet, "/api/v1/audit/verify", nil, nil, &out)
	return out, err
}
