package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/unyo-ops/unyo/runbooks"
)

// Runbooks lists the node's runbooks (without their text).
func (c *Client) Runbooks(ctx context.Context) ([]runbooks.Runbook, error) {
	var out struct {
		Runbooks []runbooks.Runbook `json:"runbooks"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/runbooks", nil, nil, &out)
	return out.Runbooks, err
}

// Runbook returns one runbook with its Markdown.
func (c *Client) Runbook(ctx context.Context, id string) (runbooks.Runbook, error) {
	var rb runbooks.Runbook
	err := c.do(ctx, http.MethodGet, "/api/v1/runbooks/"+url.PathEscape(id), nil, nil, &rb)
	return rb, err
}
