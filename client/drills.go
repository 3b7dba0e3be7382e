package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/console"
)

// Drills lists failover drills newest first; name and month (YYYY-MM)
// filter when not empty; limit 0 is the server's default.
func (c *Client) Drills(ctx context.Context, name, month string, limit int) ([]ledger.DrillRecord, error) {
	var out struct {
		Drills []ledger.DrillRecord `json:"drills"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/drills", listQuery(limit, "name", name, "month", month), nil, &out)
	return out.Drills, err
}

// Drill returns one drill with its steps.
func (c *Client) Drill(ctx context.Context, id string) (ledger.DrillRecord, error) {
	var out ledger.DrillRecord
	err := c.do(ctx, http.MethodGet, "/api/v1/drills/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// Passwords lists the accounts whose passwords rotate (no password).
func (c *Client) Passwords(ctx context.Context) ([]ledger.PasswordRecord, error) {
	var out struct {
		Accounts []ledger.PasswordRecord `json:"accounts"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/passwords", nil, nil, &out)
	return out.Accounts, err
}

// RevealPassword returns an account's password in clear (audited).
func (c *Client) RevealPassword(ctx context.Context, account, slot string) (console.RevealResponse, error) {
	var out console.RevealResponse
	err := c.do(ctx, http.MethodPost, "/api/v1/passwords/reveal", nil, console.RevealRequest{Account: account, Slot: slot}, &out)
	return out, err
}
