package web

import (
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/internal/dag"
)

// Limits of the job network pages.
const (
	maxStartForm = 64 << 10 // a start's parameters
	maxNameLen   = 256      // a jobnet, run or job name in a path
	pageRuns     = 30       // runs listed on a jobnet's page
	listRuns     = 100      // runs listed on the runs page
)

// jobRoutes registers the job network pages (called from routes).
func (s *Server) jobRoutes(m *auth.Mux) {
	m.HandleFunc("GET /jobnets", auth.ActionJobnetRead, s.jobnetsPage)
	m.HandleFunc("GET /jobnets/{name}", auth.ActionJobnetRead, s.jobnetPage)
	m.HandleFunc("POST /jobnets/{name}/start", auth.ActionJobnetStart, s.startRun)
	m.HandleFunc("GET /runs", auth.ActionRunRead, s.runsPage)
	m.HandleFunc("GET /runs/{id}", auth.ActionRunRead, s.runPage)
	m.HandleFunc("GET /runs/{id}/dag.svg", auth.ActionRunRead, s.runSVG)
	m.HandleFunc("GET /runs/{id}/jobs/{job}", auth.ActionRunRead, s.runJobPage)
	for _, verb := range console.RunVerbs {
		m.HandleFunc("POST /runs/{id}/"+verb, console.RunVerbActions[verb], s.runAction(verb))
	}
}

// rerunMode is one rerun mode and what it does, for a run and for a job
// ("" when it does not apply to a job).
type rerunMode struct{ Mode, Run, Job string }

// rerunModes are the rerun modes, as the API takes them, with what each
// does in the operator's words.
var rerunModes = []rerunMode{
	{"failed", "Rerun the failed jobs and what follows them", "Rerun this job and what follows it"},
	{"after", "Rerun only what follows the failed jobs", "Rerun only what follows this job"},
	{"all", "Rerun every job", ""},
	{"warnings", "Rerun the jobs that ended with a warning", ""},
}

type jobnetsData struct {
	Configured bool
	Jobnets    []console.JobnetSummary
}

func (s *Server) jobnetsPage(w http.ResponseWriter, r *http.Request) {
	d := jobnetsData{Configured: s.d.Jobnets != nil}
	if d.Configured {
		d.Jobnets = s.d.Jobnets.Jobnets()
	}
	s.render(w, r, "jobnets", d)
}

type jobnetData struct {
	Detail  console.JobnetDetail
	Params  []paramField
	DAG     template.HTML
	DAGErr  string
	Runs    []ledger.RunRecord
	RunsErr string
	Error   string // why a start was refused
}

type paramField struct{ Name, Value, Pattern string }

// noJobnets answers 404 when the node runs no job network.
func (s *Server) noJobnets(w http.ResponseWriter, r *http.Request) bool {
	if s.d.Jobnets == nil {
		s.fail(w, r, http.StatusNotFound, "This node runs no job network.")
		return true
	}
	return false
}

func (s *Server) jobnetPage(w http.ResponseWriter, r *http.Request) {
	s.drawJobnet(w, r, http.StatusOK, nil, "")
}

func (s *Server) drawJobnet(w http.ResponseWriter, r *http.Request, status int, typed map[string]string, msg string) {
	if s.noJobnets(w, r) {
		return
	}
	name := r.PathValue("name")
	det, err := s.d.Jobnets.Jobnet(name)
	if err != nil || len(name) > maxNameLen {
		s.jobnetFail(w, r, err, "jobnet", name)
		return
	}
	d := jobnetData{Detail: det, Error: msg}
	for _, p := range slices.Sorted(maps.Keys(det.Params)) {
		v := det.Params[p]
		if t, ok := typed[p]; ok {
			v = t
		}
		d.Params = append(d.Params, paramField{Name: p, Value: v, Pattern: det.ParamPatterns[p]})
	}
	if g, err := dag.Layout(defJobs(det)); err != nil {
		s.log.Warn("jobnet graph", "jobnet", name, "err", err)
		d.DAGErr = "The jobs cannot be drawn."
	} else {
		d.DAG = g.HTML(dag.Options{ID: "dag", Title: "Jobs of " + det.Name})
	}
	runs, err := s.d.Jobnets.Runs(r.Context(), ledger.RunFilter{Jobnet: name, Limit: pageRuns})
	if err != nil {
		s.log.Warn("jobnet runs", "jobnet", name, "err", err)
		d.RunsErr = "The run history cannot be read now."
	}
	d.Runs = runs
	s.renderStatus(w, r, status, "jobnet", d)
}

// startRun starts a run of a jobnet with the parameters of the form
// (fields p.NAME for the declared parameters) and shows it.
func (s *Server) startRun(w http.ResponseWriter, r *http.Request) {
	if s.noJobnets(w, r) {
		return
	}
	name := r.PathValue("name")
	det, err := s.d.Jobnets.Jobnet(name)
	if err != nil {
		s.jobnetFail(w, r, err, "jobnet", name)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxStartForm)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "The form could not be read (too long?).")
		return
	}
	params := map[string]string{}
	for p, def := range det.Params {
		if v, ok := r.PostForm["p."+p]; ok && len(v) == 1 && v[0] != def {
			params[p] = v[0]
		}
	}
	id, err := s.d.Jobnets.StartRun(r.Context(), name, params, auth.FromRequest(r).Actor())
	if err != nil {
		if msg, status, ok := actionRefusal(err); ok {
			s.drawJobnet(w, r, status, params, "Not started: "+msg)
			return
		}
		s.jobnetFail(w, r, err, "jobnet", name)
		return
	}
	auth.Note(r.Context(), "run "+id+" of "+name)
	http.Redirect(w, r, "/runs/"+url.PathEscape(id), http.StatusSeeOther)
}

// actionRefusal turns the job network's refusals (a bad parameter, a
// state that does not allow the action) into a message for the page.
// The texts are the job network's own validation messages.
func actionRefusal(err error) (string, int, bool) {
	var fe *incident.FieldError
	switch {
	case errors.Is(err, console.ErrInvalid) && errors.As(err, &fe):
		return fe.Field + ": " + fe.Msg, http.StatusBadRequest, true
	case errors.Is(err, console.ErrInvalid):
		return "the request is not valid (" + shortReason(err) + ").", http.StatusBadRequest, true
	case errors.Is(err, console.ErrConflict):
		return "the run's state does not allow it now (" + shortReason(err) + ").", http.StatusConflict, true
	}
	return "", 0, false
}

// shortReason is the last part of a refusal's text ("...: skip x in
// state running" → "skip x in state running"), bounded.
func shortReason(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// jobnetFail draws the page for a job network error: 404 for an unknown
// jobnet or run, 503 with no detail otherwise.
func (s *Server) jobnetFail(w http.ResponseWriter, r *http.Request, err error, what, name string) {
	switch {
	case err == nil, errors.Is(err, console.ErrNoJobnet), errors.Is(err, console.ErrNoRun), errors.Is(err, incident.ErrNotFound):
		s.fail(w, r, http.StatusNotFound, fmt.Sprintf("No %s named %s.", what, quoteName(name)))
	default:
		s.log.Error("job network page", "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "2")
		s.fail(w, r, http.StatusServiceUnavailable, "The job network cannot be read now; the node's log says why.")
	}
}

type runsData struct {
	Jobnet string
	Runs   []ledger.RunRecord
}

func (s *Server) runsPage(w http.ResponseWriter, r *http.Request) {
	if s.noJobnets(w, r) {
		return
	}
	f := ledger.RunFilter{Jobnet: r.URL.Query().Get("jobnet"), Limit: listRuns}
	if len(f.Jobnet) > maxNameLen {
		s.fail(w, r, http.StatusBadRequest, "The jobnet name is too long.")
		return
	}
	runs, err := s.d.Jobnets.Runs(r.Context(), f)
	if err != nil {
		s.jobnetFail(w, r, err, "run", "")
		return
	}
	s.render(w, r, "runs", runsData{Jobnet: f.Jobnet, Runs: runs})
}
