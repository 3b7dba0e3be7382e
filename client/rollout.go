package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/rollout"
)

// AddRelease uploads a release binary with its minisign signature file.
func (c *Client) AddRelease(ctx context.Context, version, platform, mode, message string, sig []byte, bin io.Reader) (rollout.Release, error) {
	var out rollout.Release
	u := *c.base
	u.Path += "/api/v1/releases"
	u.RawQuery = url.Values{"version": {version}, "platform": {platform}, "mode": {mode}, "message": {message}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bin)
	if err != nil {
		return out, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(console.SignatureHeader, base64.StdEncoding.EncodeToString(sig))
	resp, err := c.Do(req)
	if err != nil {
		return out, fmt.Errorf("POST %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return out, err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error, Field string }
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return out, &Error{Status: resp.StatusCode, Field: e.Field, Msg: e.Error}
	}
	return out, json.Unmarshal(data, &out)
}

// Releases lists the releases, newest first.
func (c *Client) Releases(ctx context.Context) ([]rollout.Release, error) {
	var out []rollout.Release
	return out, c.do(ctx, http.MethodGet, "/api/v1/releases", nil, nil, &out)
}

// SetReleaseMode changes a release's mode and message.
func (c *Client) SetReleaseMode(ctx context.Context, version string, req console.ModeRequest) error {
	return c.do(ctx, http.MethodPost, "/api/v1/releases/"+url.PathEscape(version)+"/mode", nil, req, nil)
}

// StartRollout starts a rollout and returns its id.
func (c *Client) StartRollout(ctx context.Context, req console.RolloutRequest) (string, error) {
	var out struct{ ID string }
	err := c.do(ctx, http.MethodPost, "/api/v1/rollouts", nil, req, &out)
	return out.ID, err
}

// Rollout returns a rollout's status ("current": the live or last one).
func (c *Client) Rollout(ctx context.Context, id string) (console.RolloutStatus, error) {
	var out console.RolloutStatus
	return out, c.do(ctx, http.MethodGet, "/api/v1/rollouts/"+url.PathEscape(id), nil, nil, &out)
}

// Rollouts lists rollouts, newest first.
func (c *Client) Rollouts(ctx context.Context) ([]console.RolloutStatus, error) {
	var out []console.RolloutStatus
	return out, c.do(ctx, http.MethodGet, "/api/v1/rollouts", nil, nil, &out)
}

// ControlRollout pauses or resumes a rollout (verb "pause" or "resume").
func (c *Client) ControlRollout(ctx context.Context, id, verb string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/rollouts/"+url.PathEscape(id)+"/"+verb, nil, struct{}{}, nil)
}

// MoveAgents orders agents to a new cluster.
func (c *Client) MoveAgents(ctx context.Context, req console.MoveRequest) ([]string, error) {
	var out console.MoveResponse
	return out.Agents, c.do(ctx, http.MethodPost, "/api/v1/agents/move", nil, req, &out)
}

// NotMoved lists the agents left on this cluster.
func (c *Client) NotMoved(ctx context.Context) ([]rollout.NotMoved, error) {
	var out []rollout.NotMoved
	return out, c.do(ctx, http.MethodGet, "/api/v1/agents/not-moved", nil, nil, &out)
}

// Decommission retires the cluster (refused, 409, while agents have not
// moved unless waiver is given).
func (c *Client) Decommission(ctx context.Context, waiver string) (console.DecommissionResponse, error) {
	var out console.DecommissionResponse
	return out, c.do(ctx, http.MethodPost, "/api/v1/cluster/decommission", nil, console.DecommissionRequest{Waiver: waiver}, &out)
}
