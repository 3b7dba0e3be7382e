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
	"time"

	"github.com/hashicorp/raft"

	"github.com/unyo-ops/unyo/auth"
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
	Result *Result       `json:"result,omitempty"`
	Join   *JoinAnswer   `json:"join,omitempty"`
	Token  *CreatedToken `json:"token,omitempty"`
	Error  *APIError     `json:"error,omitempty"`
}

// JoinAnswer is what a joining node receives, once: its member
// credential and the cluster secret key (SecretKeySize bytes; base64 in
// JSON). It writes both to its DataDir before it applies any shared
// configuration.
type JoinAnswer struct {
	Credential string `json:"credential"`
	SecretKey  []byte `json:"secret_key"`
}

// Body limits of the cluster routes, sized from their real messages.
const (
	// MaxConfigSize bounds a shared configuration (the node's config
	// route and a forwarded config.set).
	MaxConfigSize = 2 << 20
	// MaxForwardBody bounds a forwarded request: a config.set carries the
	// configuration in base64 (4/3 of its size) plus its envelope.
	MaxForwardBody = MaxConfigSize*4/3 + 64<<10
	// MaxJoinBody bounds a join request (four short strings).
	MaxJoinBody = 8 << 10
	// MaxSmallBody bounds leave, transfer and token requests.
	MaxSmallBody = 4 << 10
)

// ErrForbidden is the answer to a forwarded request a member may not
// forward (a raw membership or assignment command).
var ErrForbidden = errors.New("cluster: not allowed")

// ErrTooLarge is the answer to a request body over its route's limit.
var ErrTooLarge = errors.New("cluster: request body too large")

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
	{"forbidden", ErrForbidden, http.StatusForbidden},
	{"too_large", ErrTooLarge, http.StatusRequestEntityTooLarge},
	{"bad_credential", ErrBadCredential, http.StatusUnauthorized},
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

// decodeBody decodes one JSON value of at most limit bytes as a stream;
// a larger body is ErrTooLarge (413), and the connection is closed
// rather than drained.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, apiResponse{Error: &APIError{Code: "method", Message: "use POST"}})
		return false
	}
	if r.ContentLength > limit {
		w.Header().Set("Connection", "close")
		writeError(w, fmt.Errorf("%w: %d bytes, this route takes at most %d", ErrTooLarge, r.ContentLength, limit))
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			writeError(w, fmt.Errorf("%w: this route takes at most %d bytes", ErrTooLarge, limit))
			return false
		}
		writeError(w, fmt.Errorf("%w: request body: %v", ErrBadCommand, err))
		return false
	}
	return true
}

// ForwardHandler runs a Request forwarded by a follower, here only (never
// forwarding again, so requests cannot loop). On a follower it answers
// not_leader with the leader it knows.
//
// Only what a follower legitimately forwards is taken (see
// checkForwarded): a follower never forwards raw membership, assignment
// or target commands, which only the leader proposes itself.
func (n *Node) ForwardHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req Request
		if !decodeBody(w, r, MaxForwardBody, &req) {
			return
		}
		if err := n.checkForwarded(&req, time.Now()); err != nil {
			writeError(w, err)
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
	// KeyOnly asks only for the cluster secret key: the first step of a
	// join, so the joiner can answer the Raft handshake (handshake.go)
	// before the leader adds it as a voter.
	KeyOnly bool `json:"key_only,omitempty"`
}

// JoinHandler adds the node in the body (Join, forwarded to the leader if
// needed) and answers its JoinAnswer. A new node's `unyo cluster join
// ADDR` posts here on any member, with a join token (the node's router
// checks it).
func (n *Node) JoinHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req JoinRequest
		if !decodeBody(w, r, MaxJoinBody, &req) {
			return
		}
		if err := req.validate(true); err != nil {
			writeError(w, err)
			return
		}
		key, err := n.SecretKey()
		if err != nil {
			writeError(w, fmt.Errorf("cluster: this member cannot hand out the cluster secret key: %w", err))
			return
		}
		if req.KeyOnly {
			writeJSON(w, http.StatusOK, apiResponse{Result: &Result{}, Join: &JoinAnswer{SecretKey: key}})
			return
		}
		n.log.Info("join requested", "node_id", req.NodeID, "by", auth.FromRequest(r).Actor())
		cred, err := n.JoinMember(r.Context(), req)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, apiResponse{Result: &Result{}, Join: &JoinAnswer{Credential: cred, SecretKey: key}})
	})
}

// TokenHandler makes a join token ({"ttl": "1h"}); by is who asked.
func (n *Node) TokenHandler(by func(*http.Request) string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			TTL string `json:"ttl"`
		}
		if !decodeBody(w, r, MaxSmallBody, &req) {
			return
		}
		ttl := time.Hour
		if req.TTL != "" {
			d, err := time.ParseDuration(req.TTL)
			if err != nil {
				writeError(w, fmt.Errorf("%w: ttl: %v", ErrBadCommand, err))
				return
			}
			ttl = d
		}
		t, err := n.CreateJoinToken(r.Context(), ttl, by(r))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, apiResponse{Result: &Result{}, Token: &t})
	})
}

// TokenListHandler lists the live join tokens (no hashes).
func (n *Node) TokenListHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"tokens": n.JoinTokens()})
	})
}

// TokenRevokeHandler forgets the join token {"id": ...}.
func (n *Node) TokenRevokeHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req TokenRevoke
		if !decodeBody(w, r, MaxSmallBody, &req) {
			return
		}
		if err := n.RevokeJoinToken(r.Context(), req.ID); err != nil {
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
		if !decodeBody(w, r, MaxSmallBody, &req) {
			return
		}
		n.log.Info("leave requested", "node_id", req.NodeID, "by", auth.FromRequest(r).Actor())
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
		if !decodeBody(w, r, MaxSmallBody, &req) {
			return
		}
		n.log.Info("leadership transfer requested", "to", req.To, "by", auth.FromRequest(r).Actor())
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
	// Header, if set, adds headers to every request.
	Header http.Header
	// Credential, if set, returns the bearer credential to send (the
	// node's member credential; "" sends none).
	Credential func() string
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
	if f.Credential != nil {
		if c := f.Credential(); c != "" {
			hr.Header.Set("Authorization", "Bearer "+c)
		}
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
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		// The router's refusal ({"error": "text"}), not the cluster's.
		var e struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&e)
		sentinel := ErrForbidden
		if resp.StatusCode == http.StatusUnauthorized {
			sentinel = ErrBadCredential
		}
		return Result{}, fmt.Errorf("%w: forward to %s: %s: %s", sentinel, leader.ID, resp.Status, e.Error)
	}
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
