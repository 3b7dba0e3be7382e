package auth

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Route is one registered route and the action it performs.
type Route struct {
	Pattern string // as given to http.ServeMux: "METHOD /path/{var}"
	Action  Action
}

// Mux is an http.ServeMux that cannot take a route without an Action:
// every handler it serves runs behind the Guard, and Routes lists them
// all (the route test walks it, so a route cannot be forgotten).
type Mux struct {
	mux    *http.ServeMux
	guard  *Guard
	mu     sync.Mutex
	routes []Route
}

// NewMux returns an empty Mux whose routes are checked by g.
func NewMux(g *Guard) *Mux { return &Mux{mux: http.NewServeMux(), guard: g} }

// Handle registers h for pattern, performing action a. It panics if a is
// not in the permission table: a route must have an answer for every role.
func (m *Mux) Handle(pattern string, a Action, h http.Handler) {
	if !Known(a) {
		panic("auth: route " + pattern + ": action " + string(a) + " is not in the permission table")
	}
	m.mu.Lock()
	m.routes = append(m.routes, Route{Pattern: pattern, Action: a})
	m.mu.Unlock()
	m.mux.Handle(pattern, m.guard.wrap(a, h))
}

// HandleFunc is Handle for a function.
func (m *Mux) HandleFunc(pattern string, a Action, h http.HandlerFunc) { m.Handle(pattern, a, h) }

// Routes lists the registered routes in registration order.
func (m *Mux) Routes() []Route {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.routes)
}

// Guard returns the mux's guard.
func (m *Mux) Guard() *Guard { return m.guard }

// ServeHTTP serves the request.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.mux.ServeHTTP(w, r) }

// Auditor appends audit entries (a Store, or the Service that wraps one).
type Auditor interface {
	AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error)
}

// GuardOptions configure a Guard.
type GuardOptions struct {
	// Authenticators are asked in order; the first that recognises the
	// request's credential decides.
	Authenticators []Authenticator
	// Auditor records state-changing requests (nil: none are recorded).
	Auditor Auditor
	// OpenMetrics lets anyone read /metrics (action metrics.read).
	OpenMetrics bool
	Logger      *slog.Logger
	Registerer  prometheus.Registerer
	Now         func() time.Time
}

// Guard checks every request against an identity and the permission
// table, and audits what changed state.
type Guard struct {
	o        GuardOptions
	requests *prometheus.CounterVec
	auditErr prometheus.Counter
}

// NewGuard returns a Guard; its metrics are registered on o.Registerer.
func NewGuard(o GuardOptions) *Guard {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	g := &Guard{o: o,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "unyo_auth_requests_total",
			Help: "Requests checked by the guard, by result: ok, anonymous, invalid (a bad credential), denied (the role may not).",
		}, []string{"result"}),
		auditErr: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unyo_audit_write_errors_total",
			Help: "Audit entries that could not be written.",
		}),
	}
	for _, r := range []string{"ok", "anonymous", "invalid", "denied"} {
		g.requests.WithLabelValues(r)
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(g.requests, g.auditErr)
	}
	return g
}

// SetAuditor replaces the auditor (the node sets it once its store is
// open).
func (g *Guard) SetAuditor(a Auditor) { g.o.Auditor = a }

// Authenticate asks the authenticators in turn. With no credential it
// returns the anonymous identity and no error.
func (g *Guard) Authenticate(r *http.Request) (Identity, error) {
	from := RemoteIP(r)
	for _, a := range g.o.Authenticators {
		id, ok, err := a.Authenticate(r)
		if err != nil {
			return Identity{From: from}, err
		}
		if ok {
			id.From = from
			return id, nil
		}
	}
	return Identity{From: from}, nil
}

// DeniedHeader names the action the guard refused (on its 401, 403 and
// 503 answers), telling a refusal by the guard from a handler's own
// error.
const DeniedHeader = "X-Unyo-Denied"

// ErrNoCredential is the answer to a request that proves no identity.
var ErrNoCredential = errors.New("authentication required: give a token (Authorization: Bearer …; unyo login, UNYO_TOKEN)")

func (g *Guard) wrap(a Action, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a == Public || (a == ActionMetricsRead && g.o.OpenMetrics) {
			id, _ := g.Authenticate(r) // public routes still know who calls, if anyone says
			h.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
			return
		}
		id, err := g.Authenticate(r)
		switch {
		case errors.Is(err, ErrUnavailable):
			w.Header().Set("Retry-After", "1")
			g.deny(w, r, id, a, http.StatusServiceUnavailable, err.Error())
			return
		case err != nil:
			g.requests.WithLabelValues("invalid").Inc()
			g.deny(w, r, id, a, http.StatusUnauthorized, err.Error())
			return
		case id.Anonymous():
			g.requests.WithLabelValues("anonymous").Inc()
			g.deny(w, r, id, a, http.StatusUnauthorized, ErrNoCredential.Error())
			return
		case !Allowed(id.Role, a):
			g.requests.WithLabelValues("denied").Inc()
			g.deny(w, r, id, a, http.StatusForbidden,
				"forbidden: "+id.Actor()+" ("+string(id.Role)+") may not "+string(a))
			return
		}
		g.requests.WithLabelValues("ok").Inc()
		ctx := WithIdentity(r.Context(), id)
		if !mutating(r.Method) {
			h.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		note := &noteHolder{}
		ctx = context.WithValue(ctx, noteKey{}, note)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r.WithContext(ctx))
		g.Audit(r.Context(), id, string(a), auditTarget(r), resultOf(sw.status), note.text())
	})
}

// deny answers an error; a refused state-changing request by a known
// identity is audited (anonymous refusals are only counted and logged,
// so that nobody can fill the audit log without a credential).
func (g *Guard) deny(w http.ResponseWriter, r *http.Request, id Identity, a Action, status int, msg string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="unyo"`)
	}
	w.Header().Set(DeniedHeader, string(a))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":` + quoteJSON(msg) + `}` + "\n"))
	g.o.Logger.Debug("request refused", "action", a, "path", r.URL.Path, "actor", id.Actor(), "from", id.From, "status", status)
	if !id.Anonymous() && mutating(r.Method) && status != http.StatusServiceUnavailable {
		g.Audit(r.Context(), id, string(a), auditTarget(r), "denied", msg)
	}
}

// Audit appends an entry for id's action (errors are logged and counted:
// the action has happened).
func (g *Guard) Audit(ctx context.Context, id Identity, action, target, result, detail string) {
	if g.o.Auditor == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err := g.o.Auditor.AppendAudit(ctx, AuditEntry{
		At: g.o.Now(), Actor: id.Actor(), Role: id.Role, Kind: id.Kind, Action: action,
		Target: target, From: id.From, Result: result, Detail: detail,
	})
	if err != nil {
		g.auditErr.Inc()
		g.o.Logger.Error("audit entry not written", "actor", id.Actor(), "action", action, "target", target, "err", err)
	}
}

func mutating(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

func auditTarget(r *http.Request) string {
	t := r.Method + " " + r.URL.Path
	if len(t) > 512 {
		t = t[:512]
	}
	return t
}

func resultOf(status int) string {
	switch {
	case status < 400: // a redirect after a form's POST is its success
		return "ok"
	case status == http.StatusForbidden || status == http.StatusUnauthorized:
		return "denied"
	}
	return "error " + http.StatusText(status)
}

// RemoteIP is the request's remote address without the port.
func RemoteIP(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

type noteKey struct{}

type noteHolder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (n *noteHolder) text() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.b.String()
}

// Note adds detail to the audit entry of the request in ctx (for
// example "incident 3", or the hash of an applied configuration). It
// must never be given a secret.
func Note(ctx context.Context, detail string) {
	n, _ := ctx.Value(noteKey{}).(*noteHolder)
	if n == nil || detail == "" {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.b.Len() > 0 {
		n.b.WriteString("; ")
	}
	if n.b.Len()+len(detail) > 2048 {
		detail = detail[:max(0, 2048-n.b.Len())]
	}
	n.b.WriteString(detail)
}

type statusWriter struct {
	http.ResponseWriter
	status  int
	written bool
}

func (s *statusWriter) WriteHeader(code int) {
	if !s.written {
		s.status, s.written = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.written = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func quoteJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&0xf])
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// BearerToken returns the token of an "Authorization: Bearer …" header
// ("" if none).
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
