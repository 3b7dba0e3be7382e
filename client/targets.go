package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/unyo-ops/unyo/console"
)

// Targets lists the monitored targets with their state, last check and
// last RTT.
func (c *Client) Targets(ctx context.Context) ([]console.TargetSummary, error) {
	var out struct {
		Targets []console.TargetSummary `json:"targets"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/targets", nil, nil, &out)
	return out.Targets, err
}

// Target returns one target with its checks' recent results and failures.
func (c *Client) Target(ctx context.Context, name string) (console.TargetDetail, error) {
	var out console.TargetDetail
	err := c.do(ctx, http.MethodGet, "/api/v1/targets/"+url.PathEscape(name), nil, nil, &out)
	return out, err
}
