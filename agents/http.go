package agents

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/unyo-ops/unyo/agent/ops"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/internal/jsondur"
)

// maxBody bounds a request body (an import carries an inventory).
const maxBody = MaxInventoryBytes*2 + 64<<10

// Register adds the agents' API to m (each route with its action in the
// permission table). Handlers only decode, call the Service and encode.
func Register(m *auth.Mux, s *Service, nc func() *nats.Conn) {
	h := &api{s: s, nc: nc}
	m.HandleFunc("POST /api/v1/agents/enroll", auth.ActionAgentEnroll, h.enroll)
	m.HandleFunc("GET /api/v1/agents", auth.ActionAgentRead, h.list)
	m.HandleFunc("GET /api/v1/agents/{name}", auth.ActionAgentRead, h.get)
	m.HandleFunc("GET /api/v1/agents/{name}/inventory", auth.ActionAgentRead, h.inventory)
	m.HandleFunc("GET /api/v1/agents/{name}/diff", auth.ActionAgentRead, h.diff)
	m.HandleFunc("DELETE /api/v1/agents/{name}", auth.ActionAgentAdmin, h.delete)
	m.HandleFunc("POST /api/v1/agents/{name}/ops", auth.ActionAgentInfo, h.operate)
	m.HandleFunc("POST /api/v1/agents-import", auth.ActionAgentAdmin, h.importFile)
	m.HandleFunc("GET /api/v1/agent-tokens", auth.ActionAgentToken, h.tokens)
	m.HandleFunc("POST /api/v1/agent-tokens", auth.ActionAgentToken, h.createToken)
	m.HandleFunc("DELETE /api/v1/agent-tokens/{id}", auth.ActionAgentToken, h.revokeToken)
	registerSecrets(m, h)
	registerTags(m, h)
}

type api struct {
	s  *Service
	nc func() *nats.Conn
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	code := http.StatusServiceUnavailable
	switch {
	case errors.Is(err, ErrBadRequest):
		code = http.StatusBadRequest
	case errors.Is(err, ErrForbidden):
		code = http.StatusForbidden
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrExists), errors.Is(err, ErrHostTaken):
		code = http.StatusConflict
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func decode(w http.ResponseWriter, r *http.Request, v any, limit int64) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
		return false
	}
	return true
}

func (h *api) enroll(w http.ResponseWriter, r *http.Request) {
	var req EnrollRequest
	if !decode(w, r, &req, 64<<10) {
		return
	}
	resp, err := h.s.Enroll(r.Context(), auth.FromRequest(r), req)
	if err != nil {
		writeErr(w, err)
		return
	}
	auth.Note(r.Context(), "agent "+resp.Name+" group "+resp.Group)
	writeJSON(w, http.StatusOK, resp)
}

func (h *api) list(w http.ResponseWriter, r *http.Request) {
	list, err := h.s.List(r.Context())
	if err != nil {
		writeErr(w, err)
		return
	}
	if list == nil {
		list = []AgentView{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"agents": list})
}

func (h *api) get(w http.ResponseWriter, r *http.Request) {
	a, err := h.s.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (h *api) inventory(w http.ResponseWriter, r *http.Request) {
	v, err := h.s.Inventory(r.Context(), r.PathValue("name"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (h *api) diff(w http.ResponseWriter, r *http.Request) {
	v, err := h.s.Diff(r.Context(), r.PathValue("name"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (h *api) delete(w http.ResponseWriter, r *http.Request) {
	if err := h.s.o.Store.DeleteAgent(r.Context(), r.PathValue("name")); err != nil {
		writeErr(w, err)
		return
	}
	_ = h.s.Refresh(r.Context())
	writeJSON(w, http.StatusOK, map[string]string{"deleted": r.PathValue("name")})
}

func (h *api) operate(w http.ResponseWriter, r *http.Request) {
	var in OpInput
	if !decode(w, r, &in, ops.MaxRequest) {
		return
	}
	res, err := h.s.Operate(r.Context(), h.nc(), auth.FromRequest(r), r.PathValue("name"), in)
	if err != nil {
		writeErr(w, err)
		return
	}
	code := http.StatusOK
	if res.Refused {
		code = http.StatusForbidden
	}
	writeJSON(w, code, res)
}

func (h *api) importFile(w http.ResponseWriter, r *http.Request) {
	var f CollectFile
	if !decode(w, r, &f, maxBody) {
		return
	}
	a, n, err := h.s.Import(r.Context(), auth.FromRequest(r), f)
	if err != nil {
		writeErr(w, err)
		return
	}
	auth.Note(r.Context(), fmt.Sprintf("agent %s host %s, %d changes", a.Name, a.HostID, n))
	writeJSON(w, http.StatusOK, map[string]any{"agent": a, "changes": n})
}

func (h *api) tokens(w http.ResponseWriter, r *http.Request) {
	list, err := h.s.Tokens(r.Context())
	if err != nil {
		writeErr(w, err)
		return
	}
	if list == nil {
		list = []EnrollToken{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": list})
}

// TokenRequest asks for an enrolment token.
type TokenRequest struct {
	Group   string           `json:"group"`
	TTL     jsondur.Duration `json:"ttl"`
	MaxUses int              `json:"max_uses,omitempty"`
}

// TokenResponse carries the secret, shown once.
type TokenResponse struct {
	EnrollToken
	Secret string `json:"secret"`
}

func (h *api) createToken(w http.ResponseWriter, r *http.Request) {
	var req TokenRequest
	if !decode(w, r, &req, 4096) {
		return
	}
	ttl := time.Duration(req.TTL)
	if ttl == 0 {
		ttl = 24 * time.Hour
	}
	t, secret, err := h.s.CreateToken(r.Context(), auth.FromRequest(r), req.Group, ttl, req.MaxUses)
	if err != nil {
		writeErr(w, err)
		return
	}
	auth.Note(r.Context(), "token "+t.ID+" group "+t.Group)
	writeJSON(w, http.StatusOK, TokenResponse{EnrollToken: t, Secret: secret})
}

func (h *api) revokeToken(w http.ResponseWriter, r *http.Request) {
	if err := h.s.RevokeToken(r.Context(), r.PathValue("id")); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"revoked": r.PathValue("id")})
}
