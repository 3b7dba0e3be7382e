package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/unyo-ops/unyo/agents"
)

// SetAgentTags changes an agent's tags and returns them.
func (c *Client) SetAgentTags(ctx context.Context, name string, req agents.TagsRequest) ([]string, error) {
	var out agents.TagsNotice
	err := c.do(ctx, http.MethodPut, "/api/v1/agents/"+url.PathEscape(name)+"/tags", nil, req, &out)
	return out.Tags, err
}
