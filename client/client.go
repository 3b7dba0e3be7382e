package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/console"
)

// DefaultServer is the node the CLI talks to when none is given.
const DefaultServer = "http://127.0.0.1:9780"

// Client talks to one node.
type Client struct {
	base  *url.URL
	hc    *http.Client
	token string
}

// Option configures a Client.
type Option func(*Client)

// WithToken authenticates every request with an API or session token
// (Authorization: Bearer).
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// New returns a client for the node at server (http://host:port).
func New(server string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(server, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server %q: want http://host:port or https://host:port", server)
	}
	c := &Client{base: u, hc: &http.Client{Timeout: 30 * time.Second, Transport: &explain{http.DefaultTransport}}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Base is the node's URL.
func (c *Client) Base() string { return c.base.String() }

// Do sends req with the client's credentials.
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return c.hc.Do(req)
}

// Error is an error answer from the API.
type Error struct {
	Status int
	Field  string
	Msg    string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (HTTP %d)", e.Field, e.Msg, e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Msg, e.Status)
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read: %w", method, u.Redacted(), err)
	}
	notAPI := !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json")
	if resp.StatusCode >= 300 {
		var e struct{ Error, Field string }
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
			if notAPI {
				e.Error = fmt.Sprintf("%s %s answered %s, not a unyo API error: is --server a unyo node?", method, u.Redacted(), contentType(resp))
			}
		}
		return &Error{Status: resp.StatusCode, Field: e.Field, Msg: e.Error}
	}
	if out != nil {
		if notAPI {
			return fmt.Errorf("%s %s answered %s, not JSON: is --server a unyo node?", method, u.Redacted(), contentType(resp))
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, u.Redacted(), err)
		}
	}
	return nil
}

// ListOptions filter Incidents.
type ListOptions struct {
	States []incident.State
	Target string
	Limit  int
	Before int64
}

// Incidents lists incidents, newest first.
func (c *Client) Incidents(ctx context.Context, o ListOptions) ([]incident.Incident, error) {
	q := url.Values{}
	for _, s := range o.States {
		q.Add("state", string(s))
	}
	if o.Target != "" {
		q.Set("target", o.Target)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Before > 0 {
		q.Set("before", strconv.FormatInt(o.Before, 10))
	}
	var out struct {
		Incidents []incident.Incident `json:"incidents"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/incidents", q, nil, &out)
	return out.Incidents, err
}

// Incident returns one incident with its timeline.
func (c *Client) Incident(ctx context.Context, id int64) (console.IncidentDetail, error) {
	var out console.IncidentDetail
	err := c.do(ctx, http.MethodGet, "/api/v1/incidents/"+strconv.FormatInt(id, 10), nil, nil, &out)
	return out, err
}

// Act applies an operator action: verb is ack, resolve, close or comment.
// Who acts is the client's token's identity.
func (c *Client) Act(ctx context.Context, id int64, verb, comment string) (console.ActionResponse, error) {
	var out console.ActionResponse
	err := c.do(ctx, http.MethodPost, "/api/v1/incidents/"+strconv.FormatInt(id, 10)+"/"+verb, nil,
		console.ActionRequest{Comment: comment}, &out)
	return out, err
}

// SendEvents posts events and returns their ids once the bus stored them.
func (c *Client) SendEvents(ctx context.Context, evs ...incident.Event) ([]string, error) {
	if len(evs) == 0 {
		return nil, errors.New("no events")
	}
	var out console.EventsResponse
	err := c.do(ctx, http.MethodPost, "/api/v1/events", nil, evs, &out)
	return out.IDs, err
}

// Ready returns nil when the node's /readyz answers 200, else what it said.
func (c *Client) Ready(ctx context.Context) error {
	var out map[string]any
	err := c.do(ctx, http.MethodGet, "/readyz", nil, nil, &out)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusServiceUnavailable {
		return fmt.Errorf("not ready: %s", e.Msg)
	}
	return err
}

func contentType(resp *http.Response) string {
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		return ct
	}
	return "no Content-Type"
}
