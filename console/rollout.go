package console

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/internal/jsondur"
	"github.com/unyo-ops/unyo/rollout"
)

// Fleet is agent releases, rollouts and re-homing as the API sees them;
// the node implements it over rollout.Service (node/fleet.go). Nil: the
// endpoints answer 503.
//
// Errors are matched with errors.Is against ErrInvalid (400), ErrNoRun
// (404, "no such release or rollout"), ErrConflict (409), ErrTooLarge
// (413) and ErrUnavailable (503).
type Fleet interface {
	// AddRelease reads the binary from body (at most the configured
	// size), checks its signature and stores it.
	AddRelease(ctx context.Context, r rollout.Release, body io.Reader, by string) (rollout.Release, error)
	Releases() []rollout.Release
	SetMode(ctx context.Context, version, platform, mode, message, by string) error
	StartRollout(ctx context.Context, req RolloutRequest, by string) (string, error)
	Rollouts() []RolloutStatus
	// Rollout is one rollout ("current": the live one, else the last).
	Rollout(id string) (RolloutStatus, error)
	ControlRollout(ctx context.Context, id, verb, by string) error
	Move(ctx context.Context, req MoveRequest, by string) ([]string, error)
	NotMoved() []rollout.NotMoved
	Decommission(ctx context.Context, waiver, by string) ([]rollout.NotMoved, error)
}

// ErrTooLarge (413): a release binary over the limit.
var ErrTooLarge = errors.New("too large")

// RolloutRequest is the body of POST /api/v1/rollouts.
type RolloutRequest struct {
	Version           string `json:"version"`
	Platform          string `json:"platform,omitempty"` // default linux/amd64
	Canary            int    `json:"canary,omitempty"`
	Wave              int    `json:"wave,omitempty"`
	MaxConcurrent     int    `json:"max_concurrent,omitempty"`
	ContinueOnFailure bool   `json:"continue_on_failure,omitempty"`
	// Full: agents download the whole binary, not only the chunks their
	// running binary lacks (a repair).
	Full bool `json:"full,omitempty"`
	// Agents limits the rollout to these (default: every agent known).
	Agents []string `json:"agents,omitempty"`
	// Watch overrides releases.watch_period.
	Watch jsondur.Duration `json:"watch,omitempty"`
}

// RolloutStatus is a rollout with its agents' records.
type RolloutStatus struct {
	rollout.Rollout
	Counts map[string]int `json:"counts"`
	// Updating is how many agents hold a slot now.
	Updating int                `json:"updating"`
	Agents   []RolloutAgent     `json:"agents,omitempty"`
	Log      []rollout.LogEntry `json:"log,omitempty"`
}

// RolloutAgent is one agent's line of a rollout's status.
type RolloutAgent struct {
	rollout.AgentUpdate
	Level    string    `json:"level"` // normal, abnormal, failed
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// MoveRequest is the body of POST /api/v1/agents/move.
type MoveRequest struct {
	To        string `json:"to"`
	TrustKeys string `json:"trust_keys"`
	Group     string `json:"group,omitempty"`
	All       bool   `json:"all,omitempty"`
}

// MoveResponse lists the agents ordered to move.
type MoveResponse struct {
	Agents []string `json:"agents"`
}

// ModeRequest is the body of POST /api/v1/releases/{name}/mode.
type ModeRequest struct {
	Platform string `json:"platform,omitempty"`
	Mode     string `json:"mode"`
	Message  string `json:"message,omitempty"`
}

// DecommissionRequest is the body of POST /api/v1/cluster/decommission.
type DecommissionRequest struct {
	Waiver string `json:"waiver,omitempty"`
}

// DecommissionResponse answers a decommission (and a refused one, 409).
type DecommissionResponse struct {
	NotMoved []rollout.NotMoved `json:"not_moved"`
	Error    string             `json:"error,omitempty"`
}

// SignatureHeader carries the release's minisign signature file,
// base64-encoded, with POST /api/v1/releases.
const SignatureHeader = "Unyo-Signature"

func registerFleet(m *auth.Mux, a *api, f Fleet) {
	m.HandleFunc("GET /api/v1/releases", auth.ActionReleaseRead, func(w http.ResponseWriter, r *http.Request) {
		if f == nil {
			writeError(w, http.StatusServiceUnavailable, "", "releases are not served by this node")
			return
		}
		writeJSON(w, http.StatusOK, f.Releases())
	})
	m.HandleFunc("POST /api/v1/releases", auth.ActionReleaseWrite, func(w http.ResponseWriter, r *http.Request) {
		if f == nil {
			writeError(w, http.StatusServiceUnavailable, "", "releases are not served by this node")
			return
		}
		q := r.URL.Query()
		sig, err := base64.StdEncoding.DecodeString(r.Header.Get(SignatureHeader))
		if err != nil || len(sig) == 0 {
			writeError(w, http.StatusBadRequest, "signature", "want the minisign signature file, base64, in header "+SignatureHeader)
			return
		}
		rel := rollout.Release{Version: q.Get("version"), Platform: q.Get("platform"), Mode: q.Get("mode"),
			Message: q.Get("message"), Signature: string(sig)}
		if rel.Platform == "" {
			rel.Platform = "linux/amd64"
		}
		if rel.Mode == "" {
			rel.Mode = rollout.ModeOptional
		}
		for field, err := range map[string]error{"version": rollout.ValidVersion(rel.Version),
			"platform": rollout.ValidPlatform(rel.Platform), "mode": rollout.ValidMode(rel.Mode)} {
			if err != nil {
				writeError(w, http.StatusBadRequest, field, err.Error())
				return
			}
		}
		out, err := f.AddRelease(r.Context(), rel, r.Body, actor(r))
		if err != nil {
			a.fleetError(w, err)
			return
		}
		auth.Note(r.Context(), "release "+out.Version+" "+out.Platform+" sha256 "+out.SHA256+" mode "+out.Mode)
		writeJSON(w, http.StatusCreated, out)
	})
	m.HandleFunc("POST /api/v1/releases/{name}/mode", auth.ActionReleaseWrite, func(w http.ResponseWriter, r *http.Request) {
		var req ModeRequest
		if !decodeBody(w, r, &req) {
			return
		}
		if f == nil {
			writeError(w, http.StatusServiceUnavailable, "", "releases are not served by this node")
			return
		}
		if req.Platform == "" {
			req.Platform = "linux/amd64"
		}
		if err := rollout.ValidMode(req.Mode); err != nil {
			writeError(w, http.StatusBadRequest, "mode", err.Error())
			return
		}
		if err := f.SetMode(r.Context(), r.PathValue("name"), req.Platform, req.Mode, req.Message, actor(r)); err != nil {
			a.fleetError(w, err)
			return
		}
		auth.Note(r.Context(), "mode "+req.Mode+": "+req.Message)
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET /api/v1/rollouts", auth.ActionRolloutRead, func(w http.ResponseWriter, r *http.Request) {
		if f == nil {
			writeError(w, http.StatusServiceUnavailable, "", "rollouts are not served by this node")
			return
		}
		writeJSON(w, http.StatusOK, f.Rollouts())
	})
	m.HandleFunc("GET /api/v1/rollouts/{id}", auth.ActionRolloutRead, func(w http.ResponseWriter, r *http.Request) {
		if f == nil {
			writeError(w, http.StatusServiceUnavailable, "", "rollouts are not served by this node")
			return
		}
		st, err := f.Rollout(r.PathValue("id"))
		if err != nil {
			a.fleetError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	m.HandleFunc("POST /api/v1/rollouts", auth.ActionRolloutStart, func(w http.ResponseWriter, r *http.Request) {
		var req RolloutRequest
		if !decodeBody(w, r, &req) {
			return
		}
		if f == nil {
			writeError(w, http.StatusServiceUnavailable, "", "rollouts are not served by this node")
			return
		}
		if err := rollout.ValidVersion(req.Version); err != nil {
			writeError(w, http.StatusBadRequest, "version", err.Error())
			return
		}
		if req.Canary < 0 || req.Wave < 0 || req.MaxConcurrent < 0 || req.Watch < 0 {
			writeError(w, http.StatusBadRequest, "canary", "canary, wave, max_concurrent and watch must not be negative")
			return
		}
		id, err := f.StartRollout(r.Context(), req, actor(r))
		if err != nil {
			a.fleetError(w, err)
			return
		}
		auth.Note(r.Context(), "rollout "+id+" of "+req.Version)
		writeJSON(w, http.StatusCreated, map[string]string{"id": id})
	})
	for _, verb := range []string{"pause", "resume"} {
		m.HandleFunc("POST /api/v1/rollouts/{id}/"+verb, auth.ActionRolloutControl, func(w http.ResponseWriter, r *http.Request) {
			if f == nil {
				writeError(w, http.StatusServiceUnavailable, "", "rollouts are not served by this node")
				return
			}
			if err := f.ControlRollout(r.Context(), r.PathValue("id"), verb, actor(r)); err != nil {
				a.fleetError(w, err)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
	}
	m.HandleFunc("POST /api/v1/agents/move", auth.ActionAgentMove, func(w http.ResponseWriter, r *http.Request) {
		var req MoveRequest
		if !decodeBody(w, r, &req) {
			return
		}
		if f == nil {
			writeError(w, http.StatusServiceUnavailable, "", "agents are not served by this node")
			return
		}
		if u, err := url.Parse(req.To); err != nil || req.To == "" || u.Host == "" {
			writeError(w, http.StatusBadRequest, "to", "want the new cluster's NATS URL, e.g. nats://new-node:4222")
			return
		}
		if req.All == (req.Group != "") {
			writeError(w, http.StatusBadRequest, "group", "give a group or all (one of them)")
			return
		}
		agents, err := f.Move(r.Context(), req, actor(r))
		if err != nil {
			a.fleetError(w, err)
			return
		}
		auth.Note(r.Context(), strconv.Itoa(len(agents))+" agents to "+req.To)
		writeJSON(w, http.StatusAccepted, MoveResponse{Agents: agents})
	})
	m.HandleFunc("GET /api/v1/agents/not-moved", auth.ActionAgentNotMoved, func(w http.ResponseWriter, r *http.Request) {
		if f == nil {
			writeError(w, http.StatusServiceUnavailable, "", "agents are not served by this node")
			return
		}
		writeJSON(w, http.StatusOK, f.NotMoved())
	})
	m.HandleFunc("POST /api/v1/cluster/decommission", auth.ActionClusterDecommission, func(w http.ResponseWriter, r *http.Request) {
		var req DecommissionRequest
		if !decodeBody(w, r, &req) {
			return
		}
		if f == nil {
			writeError(w, http.StatusServiceUnavailable, "", "this node cannot decommission")
			return
		}
		if len(req.Waiver) > 1024 {
			writeError(w, http.StatusBadRequest, "waiver", "longer than 1024 bytes")
			return
		}
		left, err := f.Decommission(r.Context(), req.Waiver, actor(r))
		if left == nil {
			left = []rollout.NotMoved{}
		}
		if err != nil {
			if errors.Is(err, ErrConflict) {
				writeJSON(w, http.StatusConflict, DecommissionResponse{NotMoved: left, Error: err.Error()})
				return
			}
			a.fleetError(w, err)
			return
		}
		if req.Waiver != "" {
			auth.Note(r.Context(), "waiver: "+req.Waiver+" ("+strconv.Itoa(len(left))+" agents not moved)")
		}
		writeJSON(w, http.StatusOK, DecommissionResponse{NotMoved: left})
	})
}

func (a *api) fleetError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrInvalid):
		writeError(w, http.StatusBadRequest, "", err.Error())
	case errors.Is(err, ErrNoRun):
		writeError(w, http.StatusNotFound, "", err.Error())
	case errors.Is(err, ErrConflict):
		writeError(w, http.StatusConflict, "", err.Error())
	case errors.Is(err, ErrTooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "", err.Error())
	case errors.Is(err, ErrUnavailable):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "", err.Error())
	default:
		a.Logger.Error("fleet", "err", err)
		writeError(w, http.StatusInternalServerError, "", "internal error")
	}
}
