package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/hashicorp/raft"
)

// HTTP glue, for the node to mount on its API mux (behind its own auth).
// Handlers hold no logic beyond decoding and encoding; suggested paths:
//
//	POST /v1/cluster/forward              ForwardHandler (follower → leader)
//	POST /v1/cluster/join                 JoinHandler
//	POST /v1/cluster/leave                LeaveHandler
//	POST /v1/cluster/transfer-leadership  TransferHandler
//	GET  /v1/cluster/status               StatusHandler
//
// Errors come back as {"error":{"code":..., "message":..., "leader":{...}}}
// with a status code to match; HTTPForwarder turns them back into the
// package's sentinel errors.

// ForwardPath is where HTTPForwarder posts forwarded requests by default.
const ForwardPath = "/v1/cluster/forward"

// APIError is the JSON error body.
type APIError struct {
	Code    string      `json:"code"`
	Message string      `json:"message"`
	Leader  *LeaderInfo `json:"leader,omitempty"`
}

type apiResponse struct {
	Result *Result   `json:"result,omitempty"`
	Error  *APIError `json:"error,omitempty"`
}

var errorCodes = []struct {
	code   string
	err    error
	status int
}{
	{"no_leader", ErrNoLeader, http.StatusServiceUnavailable},
	{"not_leader", raft.ErrNotLeader, http.StatusServiceUnavailable},
	{"leadership_lost", raft.ErrLeadershipLost, http.StatusServiceUnavailable},
	{"leadership_transfer", raft.ErrLeadershipTransferInProgress, http.StatusServiceUnavailable},
	{"stale_config", ErrStaleConfig, http.StatusConflict},
	{"unknown_command", ErrUnknownCommand, http.StatusBadRequest},
	{"unsupported_version", ErrUnsupportedVersion, http.StatusBadRequest},
	{"bad_command", ErrBadCommand, http.StatusBadRequest},
	{"unknown_member", ErrUnknownMember, http.StatusNotFound},
	{"stopped", ErrStopped, http.StatusServiceUnavailable},
	{"not_started", ErrNotStarted, http.StatusServiceUnavailable},
	{"timeout", context.DeadlineExceeded, http.StatusGatewayTimeout},
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	ae := &APIError{Code: "internal", Message: err.Error()}
	status := http.StatusInternalServerError
	for _, c := range errorCodes {
		if errors.Is(err, c.err) {
			ae.Code, status = c.code, c.status
			break
		}
	}
	var nl *NotLeaderError
	if errors.As(err, &nl) && nl.Leader.ID != "" {
		l := nl.Leader
		ae.Leader = &l
		ae.Code = "not_leader"
	}
	writeJSON(w, status, apiResponse{Error: ae})
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, apiResponse{Error: &APIError{Code: "method", Message: "use POST"}})
		return false
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, fmt.Errorf("%w: request body: %v", ErrBadCommand, err))
		return false
	}
	return true
}

// ForwardHandler runs a Request forwarded by a follower, here only (never
// forwarding again, so requests cannot loop). On a follower it answers
// not_leader with the leader it knows.
func (n *Node) ForwardHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req Request
		if !decodeBody(w, r, &req) {
			return
		}
		res, err := n.Handle(r.Context(), req)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, apiResponse{Result: &res})
	})
}

// JoinRequest is the body of the join endpoint.
type JoinRequest struct {
	NodeID   string `json:"node_id"`
	RaftAddr string `json:"raft_addr"`
	Site     string `json:"site,omitempty"`
	APIAddr  string `json:"api_addr,omitempty"`
}

// JoinHandler adds the node in the body (Join, forwarded to the leader if
// needed). A new node's `unyo cluster join ADDR` posts here on any member.
func (n *Node) JoinHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req JoinRequest
		if !decodeBody(w, r, &req) {
			return
		}
		if err := n.Join(r.Context(), req.NodeID, req.RaftAddr, req.Site, req.APIAddr); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, apiResponse{Result: &Result{}})
	})
}

// LeaveHandler removes {"node_id": ...} from the cluster (Leave).
func (n *Node) LeaveHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			NodeID string `json:"node_id"`
		}
		if !decodeBody(w, r, &req) {
			return
		}
		if err := n.Leave(r.Context(), req.NodeID); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, apiResponse{Result: &Result{}})
	})
}

// TransferHandler hands leadership to {"to": ...} ("" = any).
func (n *Node) TransferHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			To string `json:"to"`
		}
		if !decodeBody(w, r, &req) {
			return
		}
		if err := n.TransferLeadership(r.Context(), req.To); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, apiResponse{Result: &Result{}})
	})
}

// StatusHandler serves Status as JSON.
func (n *Node) StatusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, n.Status())
	})
}

// HTTPForwarder is a Forwarder that posts the Request as JSON to
// Scheme://leader.APIAddr + Path, where the leader mounts ForwardHandler.
type HTTPForwarder struct {
	Client *http.Client // nil: http.DefaultClient
	Scheme string       // "" = "http"
	Path   string       // "" = ForwardPath
	// Header, if set, adds headers (an auth token) to every request.
	Header http.Header
}

// Forward implements Forwarder.
func (f *HTTPForwarder) Forward(ctx context.Context, leader LeaderInfo, req Request) (Result, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Result{}, fmt.Errorf("cluster: forward: %w", err)
	}
	scheme, path := f.Scheme, f.Path
	if scheme == "" {
		scheme = "http"
	}
	if path == "" {
		path = ForwardPath
	}
	url := scheme + "://" + leader.APIAddr + path
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Result{}, fmt.Errorf("cluster: forward to %s: %w", leader.ID, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	for k, v := range f.Header {
		hr.Header[k] = v
	}
	c := f.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(hr)
	if err != nil {
		// An unreachable leader is most likely a dead one: let the caller
		// retry against whoever is elected next.
		return Result{}, errors.Join(fmt.Errorf("cluster: forward to %s at %s: %w", leader.ID, url, err), &NotLeaderError{})
	}
	defer resp.Body.Close()
	var ar apiResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&ar); err != nil {
		return Result{}, fmt.Errorf("cluster: forward to %s: %s: bad response: %w", leader.ID, resp.Status, err)
	}
	if ar.Error != nil {
		return Result{}, ar.Error.err()
	}
	if ar.Result == nil {
		return Result{}, fmt.Errorf("cluster: forward to %s: %s: empty response", leader.ID, resp.Status)
	}
	return *ar.Result, nil
}

// err turns an APIError back into an error that matches the sentinel its
// code names.
func (e *APIError) err() error {
	if e.Code == "not_leader" || e.Code == "no_leader" {
		nl := &NotLeaderError{}
		if e.Leader != nil {
			nl.Leader = *e.Leader
		}
		return nl
	}
	for _, c := range errorCodes {
		if c.code == e.Code {
			return &remoteError{msg: e.Message, sentinel: c.err}
		}
	}
	return &remoteError{msg: e.Message}
}

type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string {
	return "cluster: leader: " + strings.TrimPrefix(e.msg, "cluster: ")
}
func (e *remoteError) Unwrap() error { return e.sentinel }
