package client

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/unyo-ops/unyo/agent/ops"
	"github.com/unyo-ops/unyo/agents"
	"github.com/unyo-ops/unyo/internal/jsondur"
)

// Agents lists the enrolled agents with their liveness.
func (c *Client) Agents(ctx context.Context) ([]agents.AgentView, error) {
	var out struct {
		Agents []agents.AgentView `json:"agents"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/agents", nil, nil, &out)
	return out.Agents, err
}

// Agent returns one agent.
func (c *Client) Agent(ctx context.Context, name string) (agents.AgentView, error) {
	var out agents.AgentView
	err := c.do(ctx, http.MethodGet, "/api/v1/agents/"+url.PathEscape(name), nil, nil, &out)
	return out, err
}

// AgentInventory returns an agent's newest inventory.
func (c *Client) AgentInventory(ctx context.Context, name string) (agents.InventoryView, error) {
	var out agents.InventoryView
	err := c.do(ctx, http.MethodGet, "/api/v1/agents/"+url.PathEscape(name)+"/inventory", nil, nil, &out)
	return out, err
}

// AgentDiff returns what changed between an agent's last two inventories.
func (c *Client) AgentDiff(ctx context.Context, name string) (agents.DiffView, error) {
	var out agents.DiffView
	err := c.do(ctx, http.MethodGet, "/api/v1/agents/"+url.PathEscape(name)+"/diff", nil, nil, &out)
	return out, err
}

// AgentOperate runs a remote operation.
func (c *Client) AgentOperate(ctx context.Context, name string, in agents.OpInput) (ops.Result, error) {
	var out ops.Result
	err := c.do(ctx, http.MethodPost, "/api/v1/agents/"+url.PathEscape(name)+"/ops", nil, in, &out)
	return out, err
}

// AgentImport imports a standalone server's collected file.
func (c *Client) AgentImport(ctx context.Context, f agents.CollectFile) (map[string]any, error) {
	var out map[string]any
	err := c.do(ctx, http.MethodPost, "/api/v1/agents-import", nil, f, &out)
	return out, err
}

// CreateAgentToken makes an enrolment token (its secret in the answer, once).
func (c *Client) CreateAgentToken(ctx context.Context, group string, ttl time.Duration, maxUses int) (agents.TokenResponse, error) {
	var out agents.TokenResponse
	err := c.do(ctx, http.MethodPost, "/api/v1/agent-tokens", nil,
		agents.TokenRequest{Group: group, TTL: jsondur.Duration(ttl), MaxUses: maxUses}, &out)
	return out, err
}

// AgentTokens lists the enrolment tokens.
func (c *Client) AgentTokens(ctx context.Context) ([]agents.EnrollToken, error) {
	var out struct {
		Tokens []agents.EnrollToken `json:"tokens"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/agent-tokens", nil, nil, &out)
	return out.Tokens, err
}

// RevokeAgentToken revokes an enrolment token.
func (c *Client) RevokeAgentToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/agent-tokens/"+url.PathEscape(id), nil, nil, nil)
}
