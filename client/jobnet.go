package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/console"
)

// Jobnets lists the configured jobnets.
func (c *Client) Jobnets(ctx context.Context) ([]console.JobnetSummary, error) {
	var out struct {
		Jobnets []console.JobnetSummary `json:"jobnets"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/jobnets", nil, nil, &out)
	return out.Jobnets, err
}

// Jobnet returns one jobnet with its DAG.
func (c *Client) Jobnet(ctx context.Context, name string) (console.JobnetDetail, error) {
	var out console.JobnetDetail
	err := c.do(ctx, http.MethodGet, "/api/v1/jobnets/"+url.PathEscape(name), nil, nil, &out)
	return out, err
}

// StartRun starts a run of a jobnet now and returns its id.
func (c *Client) StartRun(ctx context.Context, name string, params map[string]string) (string, error) {
	var out console.StartResponse
	err := c.do(ctx, http.MethodPost, "/api/v1/jobnets/"+url.PathEscape(name)+"/runs", nil,
		console.StartRequest{Params: params}, &out)
	return out.Run, err
}

// Runs lists runs newest first; jobnet "" lists all; limit 0 is the
// server's default.
func (c *Client) Runs(ctx context.Context, jobnet string, limit int) ([]ledger.RunRecord, error) {
	var out struct {
		Runs []ledger.RunRecord `json:"runs"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/runs", listQuery(limit, "jobnet", jobnet), nil, &out)
	return out.Runs, err
}

// Run returns one run with its jobs.
func (c *Client) Run(ctx context.Context, id string) (ledger.RunRecord, error) {
	var out ledger.RunRecord
	err := c.do(ctx, http.MethodGet, "/api/v1/runs/"+url.PathEscape(id), nil, nil, &out)
	return out, err
}

// ActRun applies an operator action (hold, release, skip, kill, rerun) to
// a run and returns the run after it.
func (c *Client) ActRun(ctx context.Context, id string, a console.RunAction) (ledger.RunRecord, error) {
	var out ledger.RunRecord
	err := c.do(ctx, http.MethodPost, "/api/v1/runs/"+url.PathEscape(id)+"/"+url.PathEscape(a.Verb), nil, a, &out)
	return out, err
}
