package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

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

// SamplesQuery selects a target's samples (see GET
// /api/v1/targets/{name}/samples); zero values take the server's defaults.
type SamplesQuery struct {
	Metric   string
	Labels   string // k=v,k2=v2
	From, To time.Time
	Step     string // auto, raw, 1m, 1h, 1d
}

// Samples returns a target's samples or rollups.
func (c *Client) Samples(ctx context.Context, name string, q SamplesQuery) (console.SamplesResponse, error) {
	v := url.Values{}
	for k, s := range map[string]string{"metric": q.Metric, "labels": q.Labels, "step": q.Step} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !q.From.IsZero() {
		v.Set("from", q.From.UTC().Format(time.RFC3339))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.UTC().Format(time.RFC3339))
	}
	var out console.SamplesResponse
	err := c.do(ctx, http.MethodGet, "/api/v1/targets/"+url.PathEscape(name)+"/samples", v, nil, &out)
	return out, err
}
