package console

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/unyo-ops/unyo/auth"
)

// Identity endpoints (each with its action, auth/actions.go):
//
//	POST   /api/v1/login              LoginRequest → LoginResponse (public; audited)
//	POST   /api/v1/logout             ends the caller's session
//	GET    /api/v1/whoami             the caller's identity
//	GET    /api/v1/sessions           who is logged in (sessions and tokens in use)
//	GET    /api/v1/users              users (admin)
//	POST   /api/v1/users              UserRequest → 201 (admin)
//	POST   /api/v1/users/{name}       UserChangeRequest (admin)
//	POST   /api/v1/password           PasswordRequest: the caller's own password
//	GET    /api/v1/tokens?all=1       the caller's tokens (all: everyone's, admin)
//	POST   /api/v1/tokens             TokenRequest → 201 TokenResponse (secret shown once)
//	POST   /api/v1/tokens/{id}/revoke the caller's token (any, for an admin)
//	GET    /api/v1/audit?from=&to=&actor=&after=&limit=   audit entries, oldest first
//	GET    /api/v1/audit/verify       checks the hash chain

// LoginRequest is the body of POST /api/v1/login.
type LoginRequest struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// LoginResponse answers a login: the session token, shown once.
type LoginResponse struct {
	Token   string    `json:"token"`
	User    string    `json:"user"`
	Role    auth.Role `json:"role"`
	Expires time.Time `json:"expires"`
}

// UserRequest is the body of POST /api/v1/users.
type UserRequest struct {
	Name     string    `json:"name"`
	Role     auth.Role `json:"role"`
	Password string    `json:"password,omitempty"`
}

// UserChangeRequest is the body of POST /api/v1/users/{name}.
type UserChangeRequest struct {
	Role     *auth.Role `json:"role,omitempty"`
	Password *string    `json:"password,omitempty"`
	Disabled *bool      `json:"disabled,omitempty"`
}

// PasswordRequest is the body of POST /api/v1/password.
type PasswordRequest struct {
	Old string `json:"old"`
	New string `json:"new"`
}

// TokenRequest is the body of POST /api/v1/tokens. Role defaults to the
// owner's; TTL is a Go duration ("" or "0s": no expiry).
type TokenRequest struct {
	Name  string    `json:"name"`
	Role  auth.Role `json:"role,omitempty"`
	TTL   string    `json:"ttl,omitempty"`
	Owner string    `json:"owner,omitempty"` // admin only
}

// TokenResponse answers a token creation; Secret is shown this once.
type TokenResponse struct {
	Secret string     `json:"secret"`
	Token  auth.Token `json:"token"`
}

// maxLoginBody bounds a login body: a name and a password.
const maxLoginBody = 4 << 10

func (a *api) registerAuth(m *auth.Mux) {
	m.HandleFunc("POST /api/v1/login", auth.Public, a.login)
	m.HandleFunc("POST /api/v1/logout", auth.ActionSelf, a.logout)
	m.HandleFunc("GET /api/v1/whoami", auth.ActionSelf, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, auth.FromRequest(r))
	})
	m.HandleFunc("GET /api/v1/sessions", auth.ActionSessionRead, a.withAuth(func(s *auth.Service, w http.ResponseWriter, r *http.Request) {
		ss, err := s.Sessions(r.Context())
		if err != nil {
			a.authError(w, err)
			return
		}
		if ss == nil {
			ss = []auth.Session{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"sessions": ss})
	}))
	m.HandleFunc("GET /api/v1/users", auth.ActionUserRead, a.withAuth(func(s *auth.Service, w http.ResponseWriter, r *http.Request) {
		us, err := s.Users(r.Context())
		if err != nil {
			a.authError(w, err)
			return
		}
		if us == nil {
			us = []auth.User{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"users": us})
	}))
	m.HandleFunc("POST /api/v1/users", auth.ActionUserWrite, a.withAuth(a.addUser))
	m.HandleFunc("POST /api/v1/users/{name}", auth.ActionUserWrite, a.withAuth(a.changeUser))
	m.HandleFunc("POST /api/v1/password", auth.ActionSelf, a.withAuth(a.changeOwnPassword))
	m.HandleFunc("GET /api/v1/tokens", auth.ActionSelf, a.withAuth(func(s *auth.Service, w http.ResponseWriter, r *http.Request) {
		ts, err := s.Tokens(r.Context(), auth.FromRequest(r), r.URL.Query().Get("all") != "")
		if err != nil {
			a.authError(w, err)
			return
		}
		if ts == nil {
			ts = []auth.Token{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"tokens": ts})
	}))
	m.HandleFunc("POST /api/v1/tokens", auth.ActionSelf, a.withAuth(a.createToken))
	m.HandleFunc("POST /api/v1/tokens/{id}/revoke", auth.ActionSelf, a.withAuth(func(s *auth.Service, w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := s.RevokeToken(r.Context(), auth.FromRequest(r), id); err != nil {
			a.authError(w, err)
			return
		}
		auth.Note(r.Context(), "token "+id)
		writeJSON(w, http.StatusOK, map[string]string{"revoked": id})
	}))
	m.HandleFunc("GET /api/v1/audit", auth.ActionAuditRead, a.withAuth(a.listAudit))
	m.HandleFunc("GET /api/v1/audit/verify", auth.ActionAuditRead, a.withAuth(func(s *auth.Service, w http.ResponseWriter, r *http.Request) {
		res, err := auth.VerifyAudit(r.Context(), s.Store())
		if err != nil {
			a.authError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}))
}

func (a *api) withAuth(f func(*auth.Service, http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.Auth == nil {
			writeError(w, http.StatusServiceUnavailable, "", "identities are not available on this node")
			return
		}
		f(a.Auth, w, r)
	}
}

func (a *api) authError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, auth.ErrNotFound):
		writeError(w, http.StatusNotFound, "", err.Error())
	case errors.Is(err, auth.ErrExists):
		writeError(w, http.StatusConflict, "", err.Error())
	case errors.Is(err, auth.ErrInvalid):
		writeError(w, http.StatusBadRequest, "", err.Error())
	case errors.Is(err, auth.ErrForbidden):
		writeError(w, http.StatusForbidden, "", err.Error())
	case errors.Is(err, auth.ErrInvalidCredentials):
		writeError(w, http.StatusUnauthorized, "", auth.ErrInvalidCredentials.Error())
	case errors.Is(err, auth.ErrBusy):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "", err.Error())
	default:
		a.Logger.Error("identities", "err", err)
		writeError(w, http.StatusServiceUnavailable, "", "identities: "+err.Error())
	}
}

func (a *api) login(w http.ResponseWriter, r *http.Request) {
	if a.Auth == nil {
		writeError(w, http.StatusServiceUnavailable, "", "identities are not available on this node")
		return
	}
	var req LoginRequest
	if !decodeLimited(w, r, &req, maxLoginBody) {
		return
	}
	secret, tok, err := a.Auth.Login(r.Context(), req.User, req.Password)
	who := auth.Identity{Kind: auth.KindPassword, Name: req.User, From: auth.RemoteIP(r)}
	if len(who.Name) > 64 {
		who.Name = who.Name[:64]
	}
	if err != nil {
		if a.Audit != nil && errors.Is(err, auth.ErrInvalidCredentials) {
			a.Audit(r.Context(), who, "login", "user "+who.Name, "denied", "")
		}
		a.authError(w, err)
		return
	}
	who.Role, who.TokenID = tok.Role, tok.ID
	if a.Audit != nil {
		a.Audit(r.Context(), who, "login", "user "+who.Name, "ok", "session "+tok.ID)
	}
	writeJSON(w, http.StatusOK, LoginResponse{Token: secret, User: tok.Owner, Role: tok.Role, Expires: tok.Expires})
}

func (a *api) logout(w http.ResponseWriter, r *http.Request) {
	id := auth.FromRequest(r)
	if id.Kind != auth.KindSession {
		writeError(w, http.StatusBadRequest, "", "not a session: an API token is ended with unyo token revoke")
		return
	}
	if a.Auth == nil {
		writeError(w, http.StatusServiceUnavailable, "", "identities are not available on this node")
		return
	}
	if err := a.Auth.RevokeToken(r.Context(), id, id.TokenID); err != nil {
		a.authError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"logged_out": id.Name})
}

func (a *api) addUser(s *auth.Service, w http.ResponseWriter, r *http.Request) {
	var req UserRequest
	if !decodeLimited(w, r, &req, maxLoginBody) {
		return
	}
	u, err := s.AddUser(r.Context(), req.Name, req.Role, req.Password)
	if err != nil {
		a.authError(w, err)
		return
	}
	auth.Note(r.Context(), "user "+u.Name+" role "+string(u.Role))
	writeJSON(w, http.StatusCreated, u)
}

func (a *api) changeUser(s *auth.Service, w http.ResponseWriter, r *http.Request) {
	var req UserChangeRequest
	if !decodeLimited(w, r, &req, maxLoginBody) {
		return
	}
	name := r.PathValue("name")
	u, err := s.UpdateUser(r.Context(), name, auth.UserChange{Role: req.Role, Password: req.Password, Disabled: req.Disabled})
	if err != nil {
		a.authError(w, err)
		return
	}
	note := "user " + name
	if req.Role != nil {
		note += " role " + string(*req.Role)
	}
	if req.Password != nil {
		note += " password set"
	}
	if req.Disabled != nil {
		note += " disabled " + strconv.FormatBool(*req.Disabled)
	}
	auth.Note(r.Context(), note)
	writeJSON(w, http.StatusOK, u)
}

func (a *api) changeOwnPassword(s *auth.Service, w http.ResponseWriter, r *http.Request) {
	id := auth.FromRequest(r)
	var req PasswordRequest
	if !decodeLimited(w, r, &req, maxLoginBody) {
		return
	}
	if _, _, err := s.Login(r.Context(), id.Name, req.Old); err != nil {
		if errors.Is(err, auth.ErrInvalidCredentials) {
			writeError(w, http.StatusBadRequest, "old", "the current password is wrong")
			return
		}
		a.authError(w, err)
		return
	}
	if _, err := s.UpdateUser(r.Context(), id.Name, auth.UserChange{Password: &req.New}); err != nil {
		a.authError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"password": "changed"})
}

func (a *api) createToken(s *auth.Service, w http.ResponseWriter, r *http.Request) {
	var req TokenRequest
	if !decodeLimited(w, r, &req, maxLoginBody) {
		return
	}
	var ttl time.Duration
	if req.TTL != "" {
		d, err := time.ParseDuration(req.TTL)
		if err != nil {
			writeError(w, http.StatusBadRequest, "ttl", fmt.Sprintf("%q: want a duration such as 720h", req.TTL))
			return
		}
		ttl = d
	}
	secret, t, err := s.CreateToken(r.Context(), auth.FromRequest(r), req.Owner, req.Name, req.Role, ttl)
	if err != nil {
		a.authError(w, err)
		return
	}
	auth.Note(r.Context(), "token "+t.ID+" for "+t.Owner+" role "+string(t.Role))
	writeJSON(w, http.StatusCreated, TokenResponse{Secret: secret, Token: t})
}

func (a *api) listAudit(s *auth.Service, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := auth.AuditFilter{Actor: q.Get("actor")}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeError(w, http.StatusBadRequest, p.name, fmt.Sprintf("%q: want an RFC 3339 time", v))
				return
			}
			*p.dst = t
		}
	}
	for _, p := range []struct {
		name string
		max  int64
		set  func(int64)
	}{{"after", 1 << 62, func(n int64) { f.AfterSeq = n }}, {"limit", 10000, func(n int64) { f.Limit = int(n) }}} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 || n > p.max {
				writeError(w, http.StatusBadRequest, p.name, fmt.Sprintf("%q: want a whole number from 0 to %d", v, p.max))
				return
			}
			p.set(n)
		}
	}
	es, err := s.Store().ListAudit(r.Context(), f)
	if err != nil {
		a.authError(w, err)
		return
	}
	if es == nil {
		es = []auth.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": es})
}

// decodeLimited decodes a JSON body of at most limit bytes, strictly.
func decodeLimited(w http.ResponseWriter, r *http.Request, v any, limit int64) bool {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	return decodeBody(w, r, v)
}
