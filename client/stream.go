package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// postStream posts in as JSON to path and returns the response of a
// streaming endpoint (newline-delimited progress lines): no client timeout,
// the stream lasts as long as the work and ctx ends it. An answer of 300 or
// more is returned as an *Error with the node's message. The caller closes
// the body; u is the redactable address for its own errors.
func (c *Client) postStream(ctx context.Context, path string, in any) (*http.Response, *url.URL, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, nil, err
	}
	u := *c.base
	u.Path += path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	hc := *c.hc
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("POST %s: %w", u.Redacted(), err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var e struct{ Error, Field string }
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("POST %s answered %s", u.Redacted(), resp.Status)
		}
		return nil, nil, &Error{Status: resp.StatusCode, Field: e.Field, Msg: e.Error}
	}
	return resp, &u, nil
}
