package web

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/internal/dag"
	"github.com/unyo-ops/unyo/jobnet/runstate"
)

type runData struct {
	Run    ledger.RunRecord
	Jobs   []ledger.JobRecord // each job's latest attempt, in the run's order
	DAG    template.HTML
	DAGErr string
	Modes  []rerunMode
	Error  string // why an action was refused
}

// Live: the run has not ended (actions apply to live runs only).
func (d runData) Live() bool { return d.Run.Ended.IsZero() }

// Count is how many jobs are in one of states.
func (d runData) Count(states ...string) int {
	n := 0
	for _, j := range d.Jobs {
		if slices.Contains(states, j.State) {
			n++
		}
	}
	return n
}

// CanRerun: no job is running (the state machine refuses a rerun then).
func (d runData) CanRerun() bool { return d.Count(string(runstate.Running)) == 0 }

// RerunOK says whether a run-level rerun mode has anything to do.
func (d runData) RerunOK(mode string) bool {
	switch mode {
	case runstate.RerunFailed, runstate.RerunAfter:
		return d.Count(string(runstate.EndedAbnormal), string(runstate.Lost), string(runstate.Killed)) > 0
	case runstate.RerunWarnings:
		return d.Count(string(runstate.EndedWarning)) > 0
	}
	return true
}

// loadRun reads a run (404 page when unknown).
func (s *Server) loadRun(w http.ResponseWriter, r *http.Request) (ledger.RunRecord, bool) {
	if s.noJobnets(w, r) {
		return ledger.RunRecord{}, false
	}
	id := r.PathValue("id")
	if id == "" || len(id) > maxNameLen {
		s.fail(w, r, http.StatusNotFound, "No such run.")
		return ledger.RunRecord{}, false
	}
	run, err := s.d.Jobnets.Run(r.Context(), id)
	if err != nil {
		s.jobnetFail(w, r, err, "run", id)
		return run, false
	}
	return run, true
}

// runGraph draws a run's DAG, each job linked to its page.
func (s *Server) runGraph(run ledger.RunRecord) (template.HTML, string) {
	def, err := s.d.Jobnets.Jobnet(run.Jobnet) // needs come from the definition
	if err != nil {
		def = console.JobnetDetail{}
	}
	g, err := dag.Layout(runJobs(def, run))
	if err != nil {
		s.log.Warn("run graph", "run", run.ID, "err", err)
		return "", "The jobs cannot be drawn."
	}
	return g.HTML(dag.Options{ID: "dag", Title: "Jobs of run " + run.ID + " (" + run.Jobnet + ")",
		Href: func(job string) string { return "/runs/" + url.PathEscape(run.ID) + "/jobs/" + url.PathEscape(job) }}), ""
}

func (s *Server) runPage(w http.ResponseWriter, r *http.Request) {
	run, ok := s.loadRun(w, r)
	if !ok {
		return
	}
	s.drawRun(w, r, http.StatusOK, run, "")
}

func (s *Server) drawRun(w http.ResponseWriter, r *http.Request, status int, run ledger.RunRecord, msg string) {
	d := runData{Run: run, Jobs: latestAttempts(run), Modes: rerunModes, Error: msg}
	d.DAG, d.DAGErr = s.runGraph(run)
	s.renderStatus(w, r, status, "run", d)
}

// runSVG answers the run's DAG alone, as an SVG document.
func (s *Server) runSVG(w http.ResponseWriter, r *http.Request) {
	run, ok := s.loadRun(w, r)
	if !ok {
		return
	}
	svg, msg := s.runGraph(run)
	if msg != "" {
		s.fail(w, r, http.StatusInternalServerError, msg)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "image/svg+xml")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	_, _ = w.Write([]byte(svg))
}

type runJobData struct {
	Run      ledger.RunRecord
	Job      ledger.JobRecord   // the latest attempt
	Attempts []ledger.JobRecord // every attempt the ledger holds, newest first
	Needs    []string
	Modes    []rerunMode
	Error    string
}

func (d runJobData) Live() bool { return d.Run.Ended.IsZero() }

// Final: the job has ended (rerun from it is possible).
func (d runJobData) Final() bool { return runstate.JobState(d.Job.State).Final() }

// In reports whether the job is in one of states.
func (d runJobData) In(states ...string) bool { return slices.Contains(states, d.Job.State) }

func (s *Server) runJobPage(w http.ResponseWriter, r *http.Request) {
	run, ok := s.loadRun(w, r)
	if !ok {
		return
	}
	s.drawRunJob(w, r, http.StatusOK, run, r.PathValue("job"), "")
}

func (s *Server) drawRunJob(w http.ResponseWriter, r *http.Request, status int, run ledger.RunRecord, job, msg string) {
	d := runJobData{Run: run, Modes: rerunModes, Error: msg}
	found := false
	for _, j := range run.Jobs {
		if j.Job == job {
			d.Attempts = append(d.Attempts, j)
			found = true
		}
	}
	if !found {
		s.fail(w, r, http.StatusNotFound, "Run "+quoteName(run.ID)+" has no job named "+quoteName(job)+".")
		return
	}
	slices.SortStableFunc(d.Attempts, func(a, b ledger.JobRecord) int { return b.Attempt - a.Attempt })
	d.Job = d.Attempts[0]
	if def, err := s.d.Jobnets.Jobnet(run.Jobnet); err == nil {
		for _, j := range def.Jobs {
			if j.Name == job {
				d.Needs = j.Needs
			}
		}
	}
	s.renderStatus(w, r, status, "runjob", d)
}

// runAction applies an operator action to a run: the form's job (none:
// the whole run) and, for rerun, its mode (from). It shows the run (or
// the job, with back=job) again.
func (s *Server) runAction(verb string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		run, ok := s.loadRun(w, r)
		if !ok {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxActionForm)
		if err := r.ParseForm(); err != nil {
			s.fail(w, r, http.StatusBadRequest, "The form could not be read (too long?).")
			return
		}
		job, from, back := r.PostFormValue("job"), r.PostFormValue("from"), r.PostFormValue("back") == "job"
		redraw := func(status int, msg string) {
			if back && job != "" {
				s.drawRunJob(w, r, status, run, job, msg)
				return
			}
			s.drawRun(w, r, status, run, msg)
		}
		known := job == ""
		for _, j := range run.Jobs {
			known = known || j.Job == job
		}
		switch {
		case !known || len(job) > maxNameLen:
			s.fail(w, r, http.StatusNotFound, "Run "+quoteName(run.ID)+" has no job named "+quoteName(job)+".")
			return
		case verb != "rerun" && from != "":
			redraw(http.StatusBadRequest, "Only a rerun takes a mode.")
			return
		case verb == "skip" && job == "":
			redraw(http.StatusBadRequest, "Skip needs a job.")
			return
		case verb == "rerun" && !slices.ContainsFunc(rerunModes, func(m rerunMode) bool { return m.Mode == from }) && from != "":
			redraw(http.StatusBadRequest, "Unknown rerun mode "+quoteName(from)+": want failed, after, all or warnings.")
			return
		}
		err := s.d.Jobnets.ActRun(r.Context(), run.ID, console.RunAction{Verb: verb, Job: job, From: from, By: auth.FromRequest(r).Actor()})
		if err != nil {
			if msg, status, ok := actionRefusal(err); ok {
				if fresh, err := s.d.Jobnets.Run(r.Context(), run.ID); err == nil {
					run = fresh
				}
				redraw(status, "Not done: "+msg)
				return
			}
			s.jobnetFail(w, r, err, "run", run.ID)
			return
		}
		what := "run " + run.ID + " " + verb
		if job != "" {
			what += " job " + job
		}
		if from != "" {
			what += " from " + from
		}
		auth.Note(r.Context(), what)
		to := "/runs/" + url.PathEscape(run.ID)
		if back && job != "" {
			to += "/jobs/" + url.PathEscape(job)
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
	}
}

// CanRerun: no job of the run is running (a rerun is refused then).
func (d runJobData) CanRerun() bool {
	for _, j := range latestAttempts(d.Run) {
		if j.State == string(runstate.Running) {
			return false
		}
	}
	return true
}
