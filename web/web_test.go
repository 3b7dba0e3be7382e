package web_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/agents"
	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/monitor/target"
	"github.com/unyo-ops/unyo/report"
	"github.com/unyo-ops/unyo/web"
)

const password = "correct horse battery"

type fixture struct {
	srv     *httptest.Server
	store   *sqlite.Store
	svc     *auth.Service
	web     *web.Server
	targets *fakeTargets
}

type fakeTargets struct{ list []console.TargetSummary }

func (f *fixture) setTargets(l []console.TargetSummary) { f.targets.list = l }

func (f *fakeTargets) Targets() []console.TargetSummary { return f.list }
func (f *fakeTargets) Target(name string) (console.TargetDetail, error) {
	for _, t := range f.list {
		if t.Name == name {
			now := time.Now()
			return console.TargetDetail{TargetSummary: t, Results: []target.Snapshot{{Target: name, Check: "ping", Status: t.Status,
				Last:        &target.Result{Time: now, OK: false, Message: "100% loss"},
				LastFailure: &target.Result{Time: now, OK: false, Message: "100% loss"},
				Recent:      []target.Result{{Time: now, OK: false, Message: "100% loss"}}}}}, nil
		}
	}
	return console.TargetDetail{}, console.ErrNoTarget
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	svc, err := auth.NewService(auth.Options{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	addRoleUsers(t, s)
	g := auth.NewGuard(auth.GuardOptions{Authenticators: []auth.Authenticator{svc.Authenticator(), web.CookieAuthenticator(svc)}, Auditor: svc})
	m := auth.NewMux(g)
	tg := &fakeTargets{list: []console.TargetSummary{
		{Name: "web-01", Status: target.Up}, {Name: "東京-db-01", Status: target.Down}, {Name: "mail-02", Status: target.Unknown}}}
	deps := console.Deps{Store: s, Auth: svc, Audit: g.Audit, Targets: tg, Reports: ledgerReports{&report.Archive{Store: s}}, Fleet: fakeFleet{}}
	console.Register(m, deps)
	ws := web.Register(m, web.Deps{Deps: deps, Agents: agents.New(agents.Options{Store: s})})
	srv := httptest.NewServer(ws.Wrap(m))
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, store: s, svc: svc, web: ws, targets: tg}
}

// passwordHash is password's Argon2id hash, made once per test binary:
// every fixture has one user per role with it, and five hashes per
// fixture (at OWASP's minimum cost, slow under -race) were most of the
// package's time. Login still verifies it every time.
var passwordHash = sync.OnceValues(func() (string, error) { return auth.HashPassword(password, auth.DefaultArgon2) })

// addRoleUsers makes user <role>1 with password for every user role, as
// `unyo user add` (auth.Service.AddUser) would.
func addRoleUsers(t testing.TB, s auth.Store) {
	t.Helper()
	h, err := passwordHash()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, r := range auth.UserRoles {
		if err := s.CreateUser(context.Background(), auth.User{Name: string(r) + "1", Role: r, Source: "local", Created: now, Updated: now, PasswordHash: h}); err != nil {
			t.Fatal(err)
		}
	}
}

// event opens (or adds to) an incident and returns its id.
func (f *fixture) event(t testing.TB, tgt, check string, sev incident.Severity, msg string) int64 {
	t.Helper()
	ev := incident.Event{ID: incident.NewID(), Target: tgt, Check: check, Severity: sev, Message: msg}
	ev.Normalize(time.Now())
	chs, err := f.store.ApplyEvents(context.Background(), []incident.Event{ev})
	if err != nil {
		t.Fatal(err)
	}
	return chs[0].IncidentID
}

// browser is a client with a cookie jar that does not follow redirects
// and sends what a browser sends on a same-origin request.
type browser struct {
	f   *fixture
	c   *http.Client
	who string
}

func (f *fixture) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{f: f, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// login logs in as role's user and returns the browser.
func (f *fixture) as(t testing.TB, role auth.Role) *browser {
	t.Helper()
	b := f.browser(t)
	b.who = string(role) + "1"
	code, _, h := b.post(t, "/login", url.Values{"user": {b.who}, "password": {password}, "next": {"/"}})
	if code != http.StatusSeeOther || h.Get("Location") != "/" {
		t.Fatalf("login as %s: %d %v", b.who, code, h)
	}
	return b
}

func (b *browser) get(t testing.TB, path string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.f.srv.URL+path, nil)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	return b.do(t, req)
}

func (b *browser) post(t testing.TB, path string, form url.Values) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", b.f.srv.URL)
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	return b.do(t, req)
}

func (b *browser) do(t testing.TB, req *http.Request) (int, string, http.Header) {
	t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header
}

// noLeak fails if a page shows what only a log may: Go error text, a
// stack, a SQL word.
func noLeak(t testing.TB, what, body string) {
	t.Helper()
	for _, bad := range []string{"goroutine ", "panic", ".go:", "sqlite", "SQL", "runtime error", "context deadline", "{\"error\""} {
		if strings.Contains(body, bad) {
			t.Errorf("%s: the page shows %q", what, bad)
		}
	}
}

func TestAnonymousGoesToLoginAndBack(t *testing.T) {
	f := newFixture(t)
	id := f.event(t, "web-01", "http", incident.Critical, "503 from /")
	b := f.browser(t)
	path := fmt.Sprintf("/incidents/%d", id)
	code, _, h := b.get(t, path)
	if code != http.StatusSeeOther || h.Get("Location") != "/login?next="+url.QueryEscape(path) {
		t.Fatalf("anonymous GET %s: %d Location %q", path, code, h.Get("Location"))
	}
	code, body, _ := b.get(t, h.Get("Location"))
	if code != http.StatusOK || !strings.Contains(body, `name="next" value="`+path+`"`) {
		t.Fatalf("login page: %d, next not kept:\n%s", code, body)
	}
	// A wrong password stays on the login page, and says so.
	code, body, _ = b.post(t, "/login", url.Values{"user": {"operator1"}, "password": {"wrong password!"}, "next": {path}})
	if code != http.StatusUnauthorized || !strings.Contains(body, "Wrong user name or password") {
		t.Fatalf("wrong password: %d\n%s", code, body)
	}
	code, _, h = b.post(t, "/login", url.Values{"user": {"operator1"}, "password": {password}, "next": {path}})
	if code != http.StatusSeeOther || h.Get("Location") != path {
		t.Fatalf("login: %d Location %q, want %s", code, h.Get("Location"), path)
	}
	var cookie string
	for _, c := range strings.Split(h.Get("Set-Cookie"), ";") {
		cookie += strings.TrimSpace(c) + ";"
	}
	for _, want := range []string{"HttpOnly", "SameSite=Lax", web.CookieName + "=unyo_"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("cookie %q lacks %s", cookie, want)
		}
	}
	code, body, _ = b.get(t, path)
	if code != http.StatusOK || !strings.Contains(body, "503 from /") {
		t.Fatalf("after login: %d\n%s", code, body)
	}
	// Logout ends the session: the same cookie no longer works.
	if code, _, _ := b.post(t, "/logout", nil); code != http.StatusSeeOther {
		t.Fatalf("logout: %d", code)
	}
	if code, _, _ := b.get(t, path); code != http.StatusSeeOther {
		t.Fatalf("after logout: %d, want a redirect to the login page", code)
	}
}

func TestLoginNextStaysOnSite(t *testing.T) {
	f := newFixture(t)
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "/login?next=/"} {
		b := f.browser(t)
		code, _, h := b.post(t, "/login", url.Values{"user": {"viewer1"}, "password": {password}, "next": {next}})
		if code != http.StatusSeeOther || h.Get("Location") != "/" {
			t.Errorf("next=%q: %d Location %q, want /", next, code, h.Get("Location"))
		}
	}
}

func TestCookieDoesNotAuthoriseTheAPI(t *testing.T) {
	f := newFixture(t)
	b := f.as(t, auth.RoleAdmin)
	if code, _, _ := b.get(t, "/api/v1/incidents"); code != http.StatusUnauthorized {
		t.Fatalf("GET /api/v1/incidents with only the session cookie: %d, want 401", code)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	f := newFixture(t)
	id := f.event(t, "web-01", "http", incident.Major, "slow")
	b := f.as(t, auth.RoleAdmin)
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "https://evil.example"},
	} {
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/incidents/%d/ack", f.srv.URL, id), strings.NewReader(""))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range h {
			req.Header.Set(k, v)
		}
		code, _, _ := b.do(t, req)
		if code != http.StatusForbidden {
			t.Errorf("cross-origin POST %v: %d, want 403", h, code)
		}
	}
	inc, err := f.store.Incident(context.Background(), id)
	if err != nil || inc.State != incident.Open {
		t.Fatalf("incident after refused posts: %v %v, want still open", inc.State, err)
	}
}

// pages lists every page (GET) with what it must show.
var pages = []struct {
	path, want string
	roles      []auth.Role // allowed; the others get 403
}{
	{"/", "東京-db-01", auth.UserRoles},
	{"/incidents", "disk full", auth.UserRoles},
	{"/incidents?f=1&state=open&severity=critical&target=web-01&from=2000-01-01T00:00", "503 from /", auth.UserRoles},
	{"/incidents/1", "503 from /", auth.UserRoles},
	{"/targets/web-01", "web-01", auth.UserRoles},
	{"/targets/" + url.PathEscape("東京-db-01"), "100% loss", auth.UserRoles},
	{"/maintenance", "Maintenance windows", auth.UserRoles},
	{"/oncall", "On-call", auth.UserRoles},
	{"/audit", "Audit log", []auth.Role{auth.RoleSiteManager, auth.RoleAdmin}},
	{"/runbooks", "host-down", auth.UserRoles},
	{"/runbooks/disk-full", "First isolation steps", auth.UserRoles},
	{"/reports", "Monthly reports", auth.UserRoles},
	{"/agents", "db-07", auth.UserRoles},
	{"/agents/db-07", "6.1.0-28-amd64", auth.UserRoles},
}

func TestPagesByRole(t *testing.T) {
	f := newFixture(t)
	f.event(t, "web-01", "http", incident.Critical, "503 from /")
	f.event(t, "東京-db-01", "disk", incident.Major, "disk full")
	seedAgents(t, f)
	for _, role := range auth.UserRoles {
		b := f.as(t, role)
		for _, p := range pages {
			t.Run(string(role)+p.path, func(t *testing.T) {
				code, body, h := b.get(t, p.path)
				allowed := false
				for _, r := range p.roles {
					allowed = allowed || r == role
				}
				noLeak(t, p.path, body)
				if !allowed {
					if code != http.StatusForbidden || !strings.Contains(h.Get("Content-Type"), "text/html") {
						t.Fatalf("%s as %s: %d %s, want a 403 page", p.path, role, code, h.Get("Content-Type"))
					}
					return
				}
				if code != http.StatusOK || !strings.Contains(body, p.want) {
					t.Fatalf("%s as %s: %d, want 200 showing %q:\n%s", p.path, role, code, p.want, body)
				}
				if !strings.Contains(body, ">"+b.who+"<") || !strings.Contains(body, string(role)) {
					t.Errorf("%s: the header does not show the user and role", p.path)
				}
				ackButton := strings.Contains(body, "Acknowledge")
				if role == auth.RoleViewer && ackButton {
					t.Errorf("%s: a viewer sees an acknowledge button", p.path)
				}
				if role != auth.RoleViewer && (p.path == "/incidents/1" || p.path == "/incidents") && !ackButton {
					t.Errorf("%s: %s sees no acknowledge button", p.path, role)
				}
				if p.path == "/maintenance" && (role == auth.RoleViewer || role == auth.RoleOperator) == strings.Contains(body, "Add a window") {
					t.Errorf("/maintenance as %s: the add form is shown wrongly", role)
				}
			})
		}
	}
}

func TestViewerPostsAreRefused(t *testing.T) {
	f := newFixture(t)
	id := f.event(t, "web-01", "http", incident.Critical, "503 from /")
	b := f.as(t, auth.RoleViewer)
	for _, p := range []struct {
		path string
		form url.Values
	}{
		{fmt.Sprintf("/incidents/%d/ack", id), nil},
		{"/incidents/ack", url.Values{"id": {fmt.Sprint(id)}}},
		{fmt.Sprintf("/incidents/%d/comment", id), url.Values{"comment": {"hi"}}},
		{fmt.Sprintf("/incidents/%d/resolve", id), nil},
		{fmt.Sprintf("/incidents/%d/report", id), url.Values{"resolve": {"1"}, "cause": {"c"}, "action": {"a"}, "prevention": {"p"}}},
		{"/maintenance", url.Values{"name": {"x"}, "scope": {"target"}, "match": {"web-01"}}},
		{"/maintenance/1/end", nil},
	} {
		code, body, _ := b.post(t, p.path, p.form)
		if code != http.StatusForbidden {
			t.Errorf("viewer POST %s: %d, want 403", p.path, code)
		}
		noLeak(t, p.path, body)
	}
	inc, _ := f.store.Incident(context.Background(), id)
	if inc.State != incident.Open {
		t.Fatalf("incident is %s after a viewer's posts", inc.State)
	}
}

func TestUnknownIDsAre404Pages(t *testing.T) {
	f := newFixture(t)
	b := f.as(t, auth.RoleAdmin)
	for _, p := range []string{"/incidents/999", "/incidents/abc", "/targets/nope", "/no/such/page", "/incidents/0", "/agents/nope"} {
		code, body, h := b.get(t, p)
		if code != http.StatusNotFound || !strings.Contains(h.Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: %d %s, want a 404 page", p, code, h.Get("Content-Type"))
		}
		noLeak(t, p, body)
	}
	for _, p := range []string{"/incidents/999/ack", "/incidents/999/report", "/maintenance/999/end"} {
		code, body, _ := b.post(t, p, url.Values{"cause": {"c"}, "action": {"a"}, "prevention": {"p"}, "resolve": {"1"}})
		if code != http.StatusNotFound {
			t.Errorf("POST %s: %d, want 404", p, code)
		}
		noLeak(t, p, body)
	}
}

func TestStoreDownShowsNoInternalText(t *testing.T) {
	f := newFixture(t)
	b := f.as(t, auth.RoleAdmin)
	f.store.Close()
	for _, p := range []string{"/", "/incidents", "/incidents/1", "/maintenance"} {
		code, body, _ := b.get(t, p)
		if code < 500 && code != http.StatusSeeOther && code != http.StatusUnauthorized {
			t.Errorf("GET %s with the store closed: %d", p, code)
		}
		noLeak(t, p, body)
	}
}

func TestAcknowledgeCommentResolveReport(t *testing.T) {
	f := newFixture(t)
	id := f.event(t, "web-01", "http", incident.Critical, "503 from /")
	b := f.as(t, auth.RoleOperator)
	path := fmt.Sprintf("/incidents/%d", id)
	if code, _, h := b.post(t, path+"/ack", nil); code != http.StatusSeeOther || h.Get("Location") != path {
		t.Fatalf("ack: %d %v", code, h)
	}
	if code, _, _ := b.post(t, path+"/comment", url.Values{"comment": {"restarting nginx"}}); code != http.StatusSeeOther {
		t.Fatalf("comment: %d", code)
	}
	// The report form checks its fields and keeps what was typed.
	code, body, _ := b.post(t, path+"/report", url.Values{"resolve": {"1"}, "cause": {"config typo"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "config typo") {
		t.Fatalf("incomplete report: %d\n%s", code, body)
	}
	code, _, _ = b.post(t, path+"/report", url.Values{"resolve": {"1"}, "cause": {"config typo"}, "action": {"fixed and reloaded"}, "prevention": {"lint in CI"}})
	if code != http.StatusSeeOther {
		t.Fatalf("resolve with report: %d", code)
	}
	inc, _ := f.store.Incident(context.Background(), id)
	if inc.State != incident.Resolved || inc.AckedBy != "operator1" || inc.ResolvedBy != "operator1" {
		t.Fatalf("incident: %s acked by %q resolved by %q", inc.State, inc.AckedBy, inc.ResolvedBy)
	}
	_, body, _ = b.get(t, path)
	for _, want := range []string{"restarting nginx", "lint in CI", "operator1"} {
		if !strings.Contains(body, want) {
			t.Errorf("incident page lacks %q", want)
		}
	}
	// Every action is in the audit log, by the user who did it.
	es, _ := f.svc.Store().ListAudit(context.Background(), auth.AuditFilter{Actor: "operator1"})
	var actions []string
	for _, e := range es {
		actions = append(actions, e.Action+" "+e.Result)
	}
	for _, want := range []string{"login ok", "incident.ack ok", "incident.comment ok", "incident.report ok"} {
		if !strings.Contains(strings.Join(actions, ","), want) {
			t.Errorf("audit log lacks %q: %v", want, actions)
		}
	}
}

func TestBulkAcknowledge(t *testing.T) {
	f := newFixture(t)
	a := f.event(t, "web-01", "http", incident.Critical, "down")
	c := f.event(t, "mail-02", "smtp", incident.Minor, "slow")
	d := f.event(t, "東京-db-01", "disk", incident.Major, "full")
	b := f.as(t, auth.RoleOperator)
	code, _, h := b.post(t, "/incidents/ack", url.Values{"id": {fmt.Sprint(a), fmt.Sprint(c), "999"}, "back": {"f=1&state=open"}})
	if code != http.StatusSeeOther || !strings.Contains(h.Get("Location"), "acked=2") || !strings.Contains(h.Get("Location"), "failed=1") {
		t.Fatalf("bulk ack: %d %q", code, h.Get("Location"))
	}
	for id, want := range map[int64]incident.State{a: incident.Acknowledged, c: incident.Acknowledged, d: incident.Open} {
		if inc, _ := f.store.Incident(context.Background(), id); inc.State != want {
			t.Errorf("incident %d: %s, want %s", id, inc.State, want)
		}
	}
	_, body, _ := b.get(t, h.Get("Location"))
	if !strings.Contains(body, "Acknowledged 2; 1 could not be") {
		t.Errorf("the list does not say what the bulk action did")
	}
}

func TestHeaderShowsWhoElseIsLoggedIn(t *testing.T) {
	f := newFixture(t)
	op := f.as(t, auth.RoleOperator)
	op.get(t, "/") // logged in: a session used lately
	b := f.as(t, auth.RoleAdmin)
	// The session list is cached 2 s: wait for it to include operator1.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body, _ := b.get(t, "/")
		if strings.Contains(body, "operator1 (operator)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the header does not show operator1:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestPagesAreGzipped(t *testing.T) {
	f := newFixture(t)
	b := f.as(t, auth.RoleAdmin)
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("overview Content-Encoding %q, want gzip", resp.Header.Get("Content-Encoding"))
	}
}

func TestLiveStream(t *testing.T) {
	f := newFixture(t)
	b := f.as(t, auth.RoleViewer)
	since := f.web.Hub().LastID()
	f.web.Hub().Publish("incident", map[string]any{"id": 1})
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/events?since="+url.QueryEscape(since), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req = req.WithContext(ctx)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("/events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	r := bufio.NewReader(resp.Body)
	next := func() (id, typ string) {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "event: "):
				typ = line[7:]
			case line == "" && typ != "":
				return id, typ
			}
		}
	}
	// What it missed between being drawn and connecting comes first.
	id1, typ := next()
	if typ != "incident" || id1 == since {
		t.Fatalf("first event %s %s, want the missed incident", id1, typ)
	}
	f.web.Hub().Publish("incident", map[string]any{"id": 2})
	id2, typ := next()
	if typ != "incident" || id2 == id1 {
		t.Fatalf("second event %s %s", id2, typ)
	}
	// An unknown id (another epoch: the node restarted) gets a refresh.
	req2, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/events", nil)
	req2.Header.Set("Last-Event-ID", "zzz-5")
	req2 = req2.WithContext(ctx)
	resp2, err := b.c.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	r = bufio.NewReader(resp2.Body)
	if _, typ := next(); typ != "refresh" {
		t.Fatalf("stale Last-Event-ID: first event %q, want refresh", typ)
	}
}

func TestMaintenanceAddAndEnd(t *testing.T) {
	f := newFixture(t)
	b := f.as(t, auth.RoleOpsSE)
	// A bad window is refused with the field named, and the form kept.
	code, body, _ := b.post(t, "/maintenance", url.Values{"name": {"patching"}, "scope": {"planet"}, "match": {"web-*"}, "duration": {"2h"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "scope") || !strings.Contains(body, `value="patching"`) {
		t.Fatalf("bad scope: %d\n%s", code, body)
	}
	code, _, _ = b.post(t, "/maintenance", url.Values{"name": {"patching 東京"}, "scope": {"target"}, "match": {"web-*"}, "duration": {"2h"}})
	if code != http.StatusSeeOther {
		t.Fatalf("add: %d", code)
	}
	_, body, _ = b.get(t, "/maintenance")
	if !strings.Contains(body, "patching 東京") || !strings.Contains(body, "in force until") || !strings.Contains(body, "End now") {
		t.Fatalf("the new window is not shown in force:\n%s", body)
	}
	if code, _, _ := b.post(t, "/maintenance/1/end", nil); code != http.StatusSeeOther {
		t.Fatalf("end: %d", code)
	}
	_, body, _ = b.get(t, "/maintenance")
	if strings.Contains(body, "in force until") || !strings.Contains(body, "ended by opsse1") && !strings.Contains(body, "ended by ops-se1") {
		t.Fatalf("the ended window:\n%s", body)
	}
}

func TestTimesShowTheirZone(t *testing.T) {
	f := newFixture(t)
	f.event(t, "web-01", "http", incident.Critical, "503 from /")
	b := f.as(t, auth.RoleViewer)
	_, body, _ := b.get(t, "/incidents/1")
	if !regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (\+|&#43;|-)\d\d:\d\d`).MatchString(body) {
		t.Fatalf("no time with its zone offset on the incident page:\n%s", body)
	}
}

func TestLiveRegionIsAPartOnly(t *testing.T) {
	f := newFixture(t)
	f.event(t, "web-01", "http", incident.Critical, "503 from /")
	b := f.as(t, auth.RoleViewer)
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Target", "r-summary")
	code, body, h := b.do(t, req)
	if code != http.StatusOK || strings.Contains(body, "<html") || !strings.Contains(body, "503 from /") || strings.Contains(body, "tile") {
		t.Fatalf("summary region: %d\n%s", code, body)
	}
	if h.Get("X-Unyo-Event-Id") == "" {
		t.Error("a region carries no event id: the page cannot tell whether it is current")
	}
	// An expired session on a live redraw sends the page to the login page.
	b2 := f.browser(t)
	req, _ = http.NewRequest(http.MethodGet, f.srv.URL+"/", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Current-URL", f.srv.URL+"/incidents/1")
	code, _, h = b2.do(t, req)
	if code != http.StatusUnauthorized || h.Get("HX-Redirect") != "/login?next=%2Fincidents%2F1" {
		t.Fatalf("anonymous redraw: %d HX-Redirect %q", code, h.Get("HX-Redirect"))
	}
}

// TestLiveStreamOutlivesServerTimeouts: a stream stays open past the
// server's read and write timeouts (the node sets 10 s and 30 s).
func TestLiveStreamOutlivesServerTimeouts(t *testing.T) {
	f := newFixture(t)
	b := f.as(t, auth.RoleViewer) // cookies go by host, not port: the session works on the server below
	f.srv.Close()
	srv := httptest.NewUnstartedServer(f.srv.Config.Handler)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	f.srv = srv
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/events", nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	// Publish until an event has come through well after both timeouts.
	start := time.Now()
	got := make(chan error, 1)
	go func() {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				got <- err
				return
			}
			if strings.HasPrefix(line, "event: incident") && time.Since(start) > time.Second {
				got <- nil
				return
			}
		}
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-got:
			if err != nil {
				t.Fatalf("the stream ended after %v: %v", time.Since(start), err)
			}
			return
		case <-tick.C:
			f.web.Hub().Publish("incident", nil)
		case <-time.After(30 * time.Second):
			t.Fatal("no event through the stream")
		}
	}
}

func TestCookieSecureOverHTTPS(t *testing.T) {
	f := newFixture(t)
	tls := httptest.NewTLSServer(f.srv.Config.Handler)
	t.Cleanup(tls.Close)
	c := tls.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.PostForm(tls.URL+"/login", url.Values{"user": {"viewer1"}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if sc := resp.Header.Get("Set-Cookie"); resp.StatusCode != http.StatusSeeOther || !strings.Contains(sc, "Secure") {
		t.Fatalf("login over HTTPS: %d, cookie %q is not Secure", resp.StatusCode, sc)
	}
}
