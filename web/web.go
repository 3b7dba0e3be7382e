package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/console"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// TimeLayout is how every time is shown: with its zone offset (the CLI's
// rule).
const TimeLayout = "2006-01-02 15:04:05 -07:00"

// Deps are what the pages are drawn from: the same stores and services
// the JSON API (package console) uses, plus the live hub.
type Deps struct {
	console.Deps
	// Hub carries live events to open pages (nil: a new one).
	Hub *Hub
	// Cluster reports this node's view of the Raft cluster (nil: none).
	Cluster func() (cluster.Status, bool)
	// SessionTTL is how long the session cookie lives (default 12h; the
	// session token itself expires by auth.Options.SessionTTL).
	SessionTTL time.Duration
	// TrustedOrigins are origins (scheme://host[:port]) allowed to post
	// besides the request's own host: http.external_url behind a proxy.
	TrustedOrigins []string
	// SecureCookie marks the session cookie Secure even on a plain HTTP
	// request: the console is reached over HTTPS through a proxy
	// (http.external_url is https://). Over TLS it is Secure anyway.
	SecureCookie bool
	// Agents serves the agents' pages (nil: the node manages no agents).
	Agents Agents
}

// Server draws the console's pages.
type Server struct {
	d     Deps
	log   *slog.Logger
	pages map[string]*template.Template
	loc   *time.Location

	mu       sync.Mutex
	sessions []auth.Session
	sessAt   time.Time

	avail availCache
}

// Register adds the console's pages to m (see routes.go) and returns the
// server. Wrap the node's whole handler with Server.Wrap.
func Register(m *auth.Mux, d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Hub == nil {
		d.Hub = NewHub(HubOptions{})
	}
	if d.SessionTTL == 0 {
		d.SessionTTL = 12 * time.Hour
	}
	s := &Server{d: d, log: d.Logger.With("component", "web"), loc: d.Alerting.Location}
	if s.loc == nil {
		s.loc = time.Local
	}
	s.pages = mustParse(s.funcs())
	s.routes(m)
	return s
}

// Hub returns the server's live hub: publish to it to update open pages.
func (s *Server) Hub() *Hub { return s.d.Hub }

// mustParse parses every page template with the shared layout and
// partials (templates/_*.html).
func mustParse(funcs template.FuncMap) map[string]*template.Template {
	base := template.Must(template.New("").Funcs(funcs).ParseFS(templateFS, "templates/_*.html"))
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		b := path.Base(n)
		if strings.HasPrefix(b, "_") {
			continue
		}
		t := template.Must(template.Must(base.Clone()).ParseFS(templateFS, n))
		out[strings.TrimSuffix(b, ".html")] = t
	}
	return out
}

func (s *Server) funcs() template.FuncMap {
	return template.FuncMap{
		"time": func(t any) string {
			switch v := t.(type) {
			case time.Time:
				if v.IsZero() {
					return "—"
				}
				return v.In(s.loc).Format(TimeLayout)
			case *time.Time:
				if v == nil || v.IsZero() {
					return "—"
				}
				return v.In(s.loc).Format(TimeLayout)
			}
			return "—"
		},
		"isotime":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ago":      func(t time.Time) string { return ago(s.d.Now().Sub(t)) },
		"dur":      ago,
		"pct":      func(f float64) string { return fmt.Sprintf("%.1f%%", f) },
		"sevrank":  func(sv incident.Severity) int { return sv.Rank() },
		"join":     strings.Join,
		"add":      func(a, b int) int { return a + b },
		"pathesc":  url.PathEscape,
		"list":     func(v ...string) []string { return v },
		"navItems": func() []NavItem { return Nav },
	}
}

// ago writes a duration for people: 45s, 12m, 3h20m, 2d4h.
func ago(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// Page is what every template gets: the common header data and the
// page's own Data.
type Page struct {
	Name   string // the template name: the nav highlights it
	User   auth.Identity
	Others []auth.Session // who else is logged in (one row per user)
	// LastEventID is the hub's newest event when the page was drawn: the
	// live stream starts after it.
	LastEventID string
	// Self is the page's own URL (path and query), for live regions.
	Self string
	Data any
	Now  time.Time
}

// Can reports whether the viewer may perform action a (a button the role
// cannot use is not drawn; the server refuses it anyway).
func (p Page) Can(a auth.Action) bool { return auth.Allowed(p.User.Role, a) }

// NavItem is one link of the navigation bar, shown to roles allowed
// Action.
type NavItem struct {
	Name   string // the page's template name (highlighted when current)
	Path   string
	Label  string
	Action auth.Action
}

// Nav is the navigation bar, in order. A new page adds its item here.
var Nav = []NavItem{
	{"overview", "/", "Overview", auth.ActionWebView},
	{"incidents", "/incidents", "Incidents", auth.ActionIncidentRead},
	{"jobnets", "/jobnets", "Jobs", auth.ActionJobnetRead},
	{"maintenance", "/maintenance", "Maintenance", auth.ActionMaintenanceRead},
	{"oncall", "/oncall", "On-call", auth.ActionOnCallRead},
	{"agents", "/agents", "Agents", auth.ActionAgentRead},
	{"reports", "/reports", "Reports", auth.ActionReportRead},
	{"runbooks", "/runbooks", "Runbooks", auth.ActionRunbookRead},
	{"audit", "/audit", "Audit", auth.ActionAuditRead},
}

// render draws page name with data, status 200. A request from htmx
// (HX-Request) gets only the part it asked for: the template named by its
// target id without the "r-" prefix (a live region), else "content".
func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, data any) {
	s.renderStatus(w, r, http.StatusOK, name, data)
}

func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	t := s.pages[name]
	if t == nil {
		s.log.Error("no such page template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	p := Page{Name: name, User: auth.FromRequest(r), LastEventID: s.d.Hub.LastID(), Self: r.URL.RequestURI(), Data: data, Now: s.d.Now()}
	if !p.User.Anonymous() && name != "login" {
		p.Others = s.others(r, p.User)
	}
	part := "layout"
	if r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Boosted") == "" {
		part = "content"
		if tg, ok := strings.CutPrefix(r.Header.Get("HX-Target"), "r-"); ok && t.Lookup(tg) != nil {
			part = tg
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, part, p); err != nil {
		s.log.Error("page not drawn", "page", name, "err", err)
		http.Error(w, "internal error: the page could not be drawn (see the node's log)", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Unyo-Event-Id", p.LastEventID)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// errorData is the body of the error page.
type errorData struct {
	Status  int
	Title   string
	Message string
}

// fail draws the error page. msg is shown to the browser: it must be in
// the operator's words, never an internal error's text.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.renderStatus(w, r, status, "error", errorData{Status: status, Title: http.StatusText(status), Message: msg})
}

// storeFail logs err and draws a 503 page that says what is down, not
// why: no store error text reaches the browser.
func (s *Server) storeFail(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, incident.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, "No such "+what+".")
		return
	}
	s.log.Error("page data", "page", r.URL.Path, "what", what, "err", err)
	w.Header().Set("Retry-After", "2")
	s.fail(w, r, http.StatusServiceUnavailable, "The ledger cannot be read now; the page will work again when it is back. The node's log says why.")
}

// others is who else is logged in, one row per user, cached 2 s.
func (s *Server) others(r *http.Request, me auth.Identity) []auth.Session {
	if s.d.Auth == nil {
		return nil
	}
	now := s.d.Now()
	s.mu.Lock()
	ss, at := s.sessions, s.sessAt
	s.mu.Unlock()
	if now.Sub(at) > 2*time.Second {
		all, err := s.d.Auth.Sessions(r.Context())
		if err != nil {
			s.log.Warn("who is logged in", "err", err)
		} else {
			seen := map[string]bool{}
			ss = ss[:0:0]
			for _, x := range all {
				if seen[x.User] {
					continue
				}
				seen[x.User] = true
				ss = append(ss, x)
			}
			s.mu.Lock()
			s.sessions, s.sessAt = ss, now
			s.mu.Unlock()
		}
	}
	out := make([]auth.Session, 0, len(ss))
	for _, x := range ss {
		if x.User != me.Name {
			out = append(out, x)
		}
	}
	return out
}
