package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/auth"
)

// CookieName is the browser session's cookie: the session token of a
// login (auth.Service.Login), HttpOnly, SameSite=Lax, Secure on HTTPS.
const CookieName = "unyo_session"

// PagePath reports whether p is a console page (or its assets and live
// stream), as opposed to the JSON API, the cluster routes and the
// health and metrics endpoints. Only page paths take the session cookie:
// the API takes bearer tokens only, so a cookie never authorises it.
func PagePath(p string) bool {
	switch {
	case strings.HasPrefix(p, "/api/"), strings.HasPrefix(p, "/v1/"),
		p == "/healthz", p == "/readyz", p == "/metrics":
		return false
	}
	return true
}

// CookieAuthenticator proves an identity from the session cookie, on
// page paths only (PagePath).
func CookieAuthenticator(s *auth.Service) auth.Authenticator {
	return auth.AuthenticatorFunc(func(r *http.Request) (auth.Identity, bool, error) {
		if s == nil || !PagePath(r.URL.Path) || auth.BearerToken(r) != "" {
			return auth.Identity{}, false, nil
		}
		c, err := r.Cookie(CookieName)
		if err != nil || c.Value == "" {
			return auth.Identity{}, false, nil
		}
		id, err := s.AuthenticateToken(r.Context(), c.Value, auth.RemoteIP(r))
		return id, err == nil, err
	})
}

// safeNext keeps a redirect after login on this site: a path, not
// "//host" or a scheme.
func safeNext(next string) string {
	if next == "" || len(next) > 2048 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	if next == "/login" || strings.HasPrefix(next, "/login?") || strings.HasPrefix(next, "/logout") {
		return "/"
	}
	return next
}

type loginData struct {
	Next  string
	User  string
	Error string
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if id := auth.FromRequest(r); !id.Anonymous() {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	s.render(w, r, "login", loginData{Next: next})
}

// maxLoginForm bounds the login form: a name, a password and a path.
const maxLoginForm = 8 << 10

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginForm)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "The login form could not be read.")
		return
	}
	user, pw, next := strings.TrimSpace(r.PostFormValue("user")), r.PostFormValue("password"), safeNext(r.PostFormValue("next"))
	if s.d.Auth == nil {
		s.fail(w, r, http.StatusServiceUnavailable, "Identities are not available on this node.")
		return
	}
	secret, tok, err := s.d.Auth.Login(r.Context(), user, pw)
	who := auth.Identity{Kind: auth.KindPassword, Name: user, From: auth.RemoteIP(r)}
	if len(who.Name) > 64 {
		who.Name = who.Name[:64]
	}
	if err != nil {
		status, msg := http.StatusServiceUnavailable, "Logins cannot be checked now; try again in a moment."
		switch {
		case errors.Is(err, auth.ErrInvalidCredentials), errors.Is(err, auth.ErrInvalid):
			status, msg = http.StatusUnauthorized, "Wrong user name or password."
			if s.d.Audit != nil {
				s.d.Audit(r.Context(), who, "login", "user "+who.Name, "denied", "web")
			}
		case errors.Is(err, auth.ErrBusy):
			w.Header().Set("Retry-After", "1")
		default:
			s.log.Error("login", "err", err)
		}
		s.renderStatus(w, r, status, "login", loginData{Next: next, User: user, Error: msg})
		return
	}
	who.Role, who.TokenID = tok.Role, tok.ID
	if s.d.Audit != nil {
		s.d.Audit(r.Context(), who, "login", "user "+who.Name, "ok", "web session "+tok.ID)
	}
	maxAge := int(time.Until(tok.Expires).Seconds())
	if tok.Expires.IsZero() || maxAge <= 0 {
		maxAge = int(s.d.SessionTTL.Seconds())
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: secret, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: r.TLS != nil || s.d.SecureCookie, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	id := auth.FromRequest(r)
	if id.Kind == auth.KindSession && s.d.Auth != nil {
		if err := s.d.Auth.RevokeToken(r.Context(), id, id.TokenID); err != nil {
			s.log.Warn("logout: session not revoked", "user", id.Name, "err", err)
		}
		auth.Note(r.Context(), "session "+id.TokenID)
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil || s.d.SecureCookie, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
