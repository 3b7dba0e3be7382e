package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/unyo-ops/unyo/agents"
)

// SetAgentGroupSecret sets a group's uninstall secret (only its hash is
// kept; the answer does not carry it).
func (c *Client) SetAgentGroupSecret(ctx context.Context, group, secret string) (agents.GroupSecret, error) {
	var out agents.GroupSecret
	err := c.do(ctx, http.MethodPut, "/api/v1/agent-groups/"+url.PathEscape(group)+"/uninstall-secret", nil,
		agents.SecretRequest{Secret: secret}, &out)
	return out, err
}
