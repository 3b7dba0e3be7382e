package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/monitor/target"
	"github.com/unyo-ops/unyo/web"
)

// fakeJobnets is a job network of one jobnet, "nightly", with two runs:
// r1 live (a job running, one waiting, one held), r2 ended abnormally.
type fakeJobnets struct {
	mu     sync.Mutex
	runs   map[string]ledger.RunRecord
	acts   []console.RunAction
	starts []string // "name by params"
	refuse error    // ActRun and StartRun answer this when set
}

var nightly = console.JobnetDetail{
	JobnetSummary: console.JobnetSummary{Name: "nightly", Description: "the nightly batch", Schedules: []string{"0 2 * * *"},
		Concurrency: "skip", Jobs: 4},
	Params:        map[string]string{"day": "today"},
	ParamPatterns: map[string]string{"day": `today|\d{4}-\d{2}-\d{2}`},
	Jobs: []console.JobNode{{Name: "extract", Kind: "command"}, {Name: "transform", Needs: []string{"extract"}},
		{Name: "load", Needs: []string{"transform"}}, {Name: "report", Needs: []string{"load", "extract"}}},
}

func newFakeJobnets() *fakeJobnets {
	t0 := time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)
	code0, code3 := 0, 3
	jobs := func(run string, states ...string) []ledger.JobRecord {
		var out []ledger.JobRecord
		for i, n := range []string{"extract", "transform", "load", "report"} {
			j := ledger.JobRecord{Run: run, Job: n, State: states[i]}
			if states[i] != "waiting" && states[i] != "held" {
				j.Attempt, j.Started = 1, t0
			}
			out = append(out, j)
		}
		return out
	}
	r1 := ledger.RunRecord{ID: "r1", Jobnet: "nightly", Trigger: "schedule", Status: "running", Created: t0,
		Jobs: jobs("r1", "ended-normal", "running", "waiting", "held")}
	r1.Jobs[0].Code, r1.Jobs[0].Output, r1.Jobs[0].Ended = &code0, "hello <world>\n", t0.Add(time.Minute)
	r2 := ledger.RunRecord{ID: "r2", Jobnet: "nightly", Trigger: "operator", By: "admin1", Status: "ended-abnormal", Created: t0.Add(-24 * time.Hour),
		Ended: t0.Add(-23 * time.Hour), Jobs: jobs("r2", "ended-abnormal", "killed", "killed", "killed")}
	r2.Jobs[0].Code = &code3
	// an older attempt of extract in r2's history
	r2.Jobs = append(r2.Jobs, ledger.JobRecord{Run: "r2", Job: "extract", Attempt: 0, State: "waiting"})
	return &fakeJobnets{runs: map[string]ledger.RunRecord{"r1": r1, "r2": r2}}
}

func (f *fakeJobnets) Jobnets() []console.JobnetSummary {
	next := time.Date(2026, 12, 3, 2, 0, 0, 0, time.UTC)
	s := nightly.JobnetSummary
	s.Next, s.Live = &next, 1
	return []console.JobnetSummary{s}
}

func (f *fakeJobnets) Jobnet(name string) (console.JobnetDetail, error) {
	if name != "nightly" {
		return console.JobnetDetail{}, fmt.Errorf("%w %q", console.ErrNoJobnet, name)
	}
	return nightly, nil
}

func (f *fakeJobnets) StartRun(_ context.Context, name string, params map[string]string, by string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return "", f.refuse
	}
	f.starts = append(f.starts, fmt.Sprintf("%s by %s %v", name, by, params))
	return "r9", nil
}

func (f *fakeJobnets) Runs(_ context.Context, flt ledger.RunFilter) ([]ledger.RunRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []ledger.RunRecord
	for _, id := range []string{"r1", "r2"} {
		r := f.runs[id]
		if flt.Jobnet == "" || flt.Jobnet == r.Jobnet {
			r.Jobs = nil
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeJobnets) Run(_ context.Context, id string) (ledger.RunRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.runs[id]
	if !ok {
		return r, fmt.Errorf("%w %q", console.ErrNoRun, id)
	}
	return r, nil
}

func (f *fakeJobnets) ActRun(_ context.Context, id string, a console.RunAction) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return f.refuse
	}
	if _, ok := f.runs[id]; !ok {
		return fmt.Errorf("%w %q", console.ErrNoRun, id)
	}
	f.acts = append(f.acts, a)
	return nil
}

func (f *fakeJobnets) actions() []console.RunAction {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.acts)
}

// newJobFixture is newFixture with a job network and a target with samples.
func newJobFixture(t testing.TB, jn console.Jobnets) *fixture {
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
	now := time.Now()
	var samples []ledger.Sample
	for i := range 120 {
		samples = append(samples, ledger.Sample{Target: "web-01", Name: "cpu_percent", Value: float64(i % 50), Time: now.Add(-time.Duration(i) * time.Minute)},
			ledger.Sample{Target: "web-01", Name: "fs_used_bytes", Labels: map[string]string{"mount": "/<var>"}, Value: 1e9, Time: now.Add(-time.Duration(i) * time.Minute)})
	}
	if err := s.AddSamples(ctx, samples); err != nil {
		t.Fatal(err)
	}
	g := auth.NewGuard(auth.GuardOptions{Authenticators: []auth.Authenticator{svc.Authenticator(), web.CookieAuthenticator(svc)}, Auditor: svc})
	m := auth.NewMux(g)
	deps := console.Deps{Store: s, Auth: svc, Audit: g.Audit, Jobnets: jn,
		Targets: &fakeTargets{list: []console.TargetSummary{{Name: "web-01", Status: target.Up}}}}
	console.Register(m, deps)
	ws := web.Register(m, web.Deps{Deps: deps})
	srv := httptest.NewServer(ws.Wrap(m))
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, store: s, svc: svc, web: ws}
}

func TestJobPagesByRole(t *testing.T) {
	jn := newFakeJobnets()
	f := newJobFixture(t, jn)
	// buttons (element ids) and the least role that sees each
	type button struct {
		id   string
		from auth.Role
	}
	opUp := auth.RoleOperator
	for _, p := range []struct {
		path, want string
		buttons    []button
		absent     []string // never shown on this page
	}{
		{"/jobnets", "the nightly batch", nil, nil},
		{"/jobnets/nightly", `id="job-report"`, []button{{`id="start"`, opUp}}, nil},
		{"/runs", `href="/runs/r2"`, nil, nil},
		{"/runs?jobnet=nightly", `href="/runs/r1"`, nil, nil},
		{"/runs/r1", `data-state="running"`, []button{{`id="run-hold"`, opUp}, {`id="run-release"`, opUp}, {`id="run-kill"`, opUp}},
			[]string{`id="rerun-`}}, // a job is running
		{"/runs/r2", `data-state="ended-abnormal"`, []button{{`id="rerun-failed"`, opUp}, {`id="rerun-after"`, opUp}, {`id="rerun-all"`, opUp}},
			[]string{`id="rerun-warnings"`, `id="run-kill"`, `id="run-hold"`}},
		{"/runs/r1/jobs/extract", "hello &lt;world&gt;", nil, []string{`id="job-kill"`, `id="job-rerun-`}},
		{"/runs/r1/jobs/load", `data-state="waiting"`, []button{{`id="job-hold"`, opUp}, {`id="job-skip"`, auth.RoleOpsSE}, {`id="job-kill"`, opUp}},
			[]string{`id="job-release"`}},
		{"/runs/r1/jobs/report", `data-state="held"`, []button{{`id="job-release"`, opUp}, {`id="job-skip"`, auth.RoleOpsSE}}, []string{`id="job-hold"`}},
		{"/runs/r2/jobs/extract", "end code 3", []button{{`id="job-rerun-failed"`, opUp}, {`id="job-rerun-after"`, opUp}}, []string{`id="job-kill"`}},
		{"/targets/web-01", `class="plot plot-time"`, nil, nil},
		{"/targets/web-01?range=7d", `aria-current="true">7d`, nil, nil},
	} {
		for i, role := range auth.UserRoles {
			b := f.as(t, role)
			t.Run(string(role)+p.path, func(t *testing.T) {
				code, body, _ := b.get(t, p.path)
				noLeak(t, p.path, body)
				if code != http.StatusOK || !strings.Contains(body, p.want) {
					t.Fatalf("%s as %s: %d, want 200 showing %q:\n%s", p.path, role, code, p.want, body)
				}
				for _, bt := range p.buttons {
					want := i >= slices.Index(auth.UserRoles, bt.from)
					if strings.Contains(body, bt.id) != want {
						t.Errorf("%s as %s: button %s shown %v, want %v", p.path, role, bt.id, !want, want)
					}
				}
				for _, a := range p.absent {
					if strings.Contains(body, a) {
						t.Errorf("%s as %s: shows %s", p.path, role, a)
					}
				}
			})
		}
	}
	// the DAG alone, as an SVG document
	b := f.as(t, auth.RoleViewer)
	code, body, h := b.get(t, "/runs/r1/dag.svg")
	if code != http.StatusOK || h.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(body, "<svg") ||
		!strings.Contains(body, `id="job-transform"`) || strings.Count(body, `class="dag-job `) != 4 {
		t.Fatalf("dag.svg: %d %s\n%s", code, h.Get("Content-Type"), body)
	}
	if len(jn.actions()) != 0 {
		t.Fatal("reading pages acted on a run")
	}
}

func TestRunPostsRefused(t *testing.T) {
	jn := newFakeJobnets()
	f := newJobFixture(t, jn)
	viewer, operator := f.as(t, auth.RoleViewer), f.as(t, auth.RoleOperator)
	for _, verb := range console.RunVerbs {
		code, body, _ := viewer.post(t, "/runs/r1/"+verb, url.Values{"job": {"load"}})
		if code != http.StatusForbidden {
			t.Errorf("viewer POST %s: %d, want 403", verb, code)
		}
		noLeak(t, verb, body)
	}
	if code, _, _ := viewer.post(t, "/jobnets/nightly/start", nil); code != http.StatusForbidden {
		t.Errorf("viewer start: %d, want 403", code)
	}
	if code, _, _ := operator.post(t, "/runs/r1/skip", url.Values{"job": {"load"}}); code != http.StatusForbidden {
		t.Errorf("operator skip: %d, want 403 (ops-se and up)", code)
	}
	anon := f.browser(t)
	if code, _, h := anon.post(t, "/runs/r1/kill", nil); code < 300 || code == http.StatusSeeOther && strings.HasPrefix(h.Get("Location"), "/runs/") {
		t.Errorf("anonymous kill: %d %v", code, h.Get("Location"))
	}
	// cross-origin, as an admin
	admin := f.as(t, auth.RoleAdmin)
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/runs/r1/kill", strings.NewReader(""))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if code, _, _ := admin.do(t, req); code != http.StatusForbidden {
		t.Errorf("cross-origin kill: %d, want 403", code)
	}
	if a := jn.actions(); len(a) != 0 || len(jn.starts) != 0 {
		t.Fatalf("refused posts acted: %+v %v", a, jn.starts)
	}
}

func TestRunActions(t *testing.T) {
	jn := newFakeJobnets()
	f := newJobFixture(t, jn)
	ops := f.as(t, auth.RoleOpsSE)
	for _, tc := range []struct {
		path     string
		form     url.Values
		code     int
		location string
		want     console.RunAction
	}{
		{"/runs/r1/hold", url.Values{"job": {"load"}, "back": {"job"}, "by": {"mallory"}}, http.StatusSeeOther, "/runs/r1/jobs/load",
			console.RunAction{Verb: "hold", Job: "load", By: "ops-se1"}},
		{"/runs/r1/release", nil, http.StatusSeeOther, "/runs/r1", console.RunAction{Verb: "release", By: "ops-se1"}},
		{"/runs/r1/skip", url.Values{"job": {"load"}}, http.StatusSeeOther, "/runs/r1", console.RunAction{Verb: "skip", Job: "load", By: "ops-se1"}},
		{"/runs/r1/kill", nil, http.StatusSeeOther, "/runs/r1", console.RunAction{Verb: "kill", By: "ops-se1"}},
		{"/runs/r2/rerun", url.Values{"from": {"after"}}, http.StatusSeeOther, "/runs/r2", console.RunAction{Verb: "rerun", From: "after", By: "ops-se1"}},
		{"/runs/r2/rerun", url.Values{"job": {"extract"}, "from": {"failed"}, "back": {"job"}}, http.StatusSeeOther, "/runs/r2/jobs/extract",
			console.RunAction{Verb: "rerun", Job: "extract", From: "failed", By: "ops-se1"}},
		{"/runs/r2/rerun", url.Values{"from": {"sideways"}}, http.StatusBadRequest, "", console.RunAction{}},
		{"/runs/r1/hold", url.Values{"from": {"all"}}, http.StatusBadRequest, "", console.RunAction{}},
		{"/runs/r1/skip", nil, http.StatusBadRequest, "", console.RunAction{}},
		{"/runs/r1/hold", url.Values{"job": {"nope"}}, http.StatusNotFound, "", console.RunAction{}},
		{"/runs/r404/hold", nil, http.StatusNotFound, "", console.RunAction{}},
	} {
		before := len(jn.actions())
		code, body, h := ops.post(t, tc.path, tc.form)
		noLeak(t, tc.path, body)
		if code != tc.code || h.Get("Location") != tc.location {
			t.Errorf("POST %s %v: %d %q, want %d %q", tc.path, tc.form, code, h.Get("Location"), tc.code, tc.location)
			continue
		}
		acts := jn.actions()
		if tc.code != http.StatusSeeOther {
			if len(acts) != before {
				t.Errorf("POST %s %v: refused, but acted", tc.path, tc.form)
			}
			if !strings.Contains(h.Get("Content-Type"), "text/html") {
				t.Errorf("POST %s: %s, want a page", tc.path, h.Get("Content-Type"))
			}
			continue
		}
		if len(acts) != before+1 || acts[len(acts)-1] != tc.want {
			t.Errorf("POST %s %v: acted %+v, want %+v", tc.path, tc.form, acts[before:], tc.want)
		}
	}
	// the job network's refusal is shown in the operator's words
	jn.refuse = fmt.Errorf("%w: %w", console.ErrConflict, errors.New("jobnet: not in a state for this: skip load in state running"))
	code, body, _ := ops.post(t, "/runs/r1/skip", url.Values{"job": {"load"}, "back": {"job"}})
	if code != http.StatusConflict || !strings.Contains(body, "does not allow it now (skip load in state running)") || !strings.Contains(body, `data-state="waiting"`) {
		t.Errorf("refused skip: %d\n%s", code, body)
	}
	noLeak(t, "refused skip", body)
	jn.refuse = errors.New("raft: leadership lost while committing log")
	code, body, _ = ops.post(t, "/runs/r1/kill", nil)
	if code != http.StatusServiceUnavailable || strings.Contains(body, "raft") {
		t.Errorf("failed kill: %d\n%s", code, body)
	}
}

func TestStartRunPage(t *testing.T) {
	jn := newFakeJobnets()
	f := newJobFixture(t, jn)
	op := f.as(t, auth.RoleOperator)
	code, _, h := op.post(t, "/jobnets/nightly/start", url.Values{"p.day": {"2026-12-01"}, "p.undeclared": {"x"}})
	if code != http.StatusSeeOther || h.Get("Location") != "/runs/r9" {
		t.Fatalf("start: %d %q", code, h.Get("Location"))
	}
	if want := "nightly by operator1 map[day:2026-12-01]"; len(jn.starts) != 1 || jn.starts[0] != want {
		t.Errorf("started %v, want %q", jn.starts, want)
	}
	jn.refuse = fmt.Errorf("%w: %w", console.ErrInvalid, &incident.FieldError{Field: "params.day", Msg: `"tomorrow" does not match today|\d{4}-\d{2}-\d{2}`})
	code, body, _ := op.post(t, "/jobnets/nightly/start", url.Values{"p.day": {"tomorrow"}})
	if code != http.StatusBadRequest || !strings.Contains(body, "Not started: params.day: &#34;tomorrow&#34; does not match") ||
		!strings.Contains(body, `value="tomorrow"`) {
		t.Errorf("bad parameter: %d\n%s", code, body)
	}
	if code, _, _ := op.post(t, "/jobnets/nope/start", nil); code != http.StatusNotFound {
		t.Errorf("start of an unknown jobnet: %d", code)
	}
}

func TestJobPages404(t *testing.T) {
	f := newJobFixture(t, newFakeJobnets())
	b := f.as(t, auth.RoleAdmin)
	for _, p := range []string{"/jobnets/nope", "/runs/nope", "/runs/r1/jobs/nope", "/runs/nope/dag.svg", "/runs/" + strings.Repeat("x", 300)} {
		code, body, h := b.get(t, p)
		if code != http.StatusNotFound || !strings.Contains(h.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %s, want a 404 page", p, code, h.Get("Content-Type"))
		}
		noLeak(t, p, body)
	}
	// no job network on this node
	f = newJobFixture(t, nil)
	b = f.as(t, auth.RoleAdmin)
	if code, body, _ := b.get(t, "/jobnets"); code != http.StatusOK || !strings.Contains(body, "runs no job network") {
		t.Errorf("/jobnets without a job network: %d", code)
	}
	if code, _, _ := b.get(t, "/runs/r1"); code != http.StatusNotFound {
		t.Errorf("/runs/r1 without a job network: %d", code)
	}
}

func TestJobPagesNeedLogin(t *testing.T) {
	jn := newFakeJobnets()
	f := newJobFixture(t, jn)
	anon := f.browser(t)
	for _, p := range []string{"/jobnets", "/jobnets/nightly", "/runs", "/runs/r1", "/runs/r1/dag.svg", "/runs/r1/jobs/extract"} {
		code, body, h := anon.get(t, p)
		if code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login?next=") || strings.Contains(body, "dag-job") || strings.Contains(body, "the nightly batch") {
			t.Errorf("anonymous GET %s: %d %q", p, code, h.Get("Location"))
		}
	}
	for _, p := range []string{"/jobnets/nightly/start", "/runs/r1/hold", "/runs/r1/release", "/runs/r1/skip", "/runs/r1/kill", "/runs/r1/rerun"} {
		code, _, h := anon.post(t, p, url.Values{"job": {"load"}})
		if code < 300 || code == http.StatusSeeOther && !strings.HasPrefix(h.Get("Location"), "/login") {
			t.Errorf("anonymous POST %s: %d %q", p, code, h.Get("Location"))
		}
	}
	// a forged session cookie is no session
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/runs/r1", nil)
	req.AddCookie(&http.Cookie{Name: web.CookieName, Value: "unyo_forged"})
	if code, _, _ := anon.do(t, req); code == http.StatusOK {
		t.Error("a forged session cookie opened the run page")
	}
	if len(jn.actions()) != 0 || len(jn.starts) != 0 {
		t.Fatal("anonymous posts acted")
	}
}
