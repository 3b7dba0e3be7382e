package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/runbooks"
)

type incidentData struct {
	Incident      incident.Incident
	Timeline      []incident.Entry
	Escalation    *ledger.Escalation
	Notifications []ledger.Notification
	Report        *ledger.Report
	RunbookURL    string // an http(s) runbook, or the console's page of a known runbook id, else ""
	// Form holds what was typed when an action was refused, and why.
	Form  reportForm
	Error string
}

type reportForm struct {
	Comment, Cause, Action, Prevention string
}

// CanAck, CanResolve, CanClose, CanReport say which forms the state
// allows (the role is checked separately, by Page.Can).
func (d incidentData) CanAck() bool     { return d.Incident.State == incident.Open }
func (d incidentData) CanResolve() bool { return d.Incident.State.Active() }
func (d incidentData) CanClose() bool   { return d.Incident.State == incident.Resolved }

// CanReport: the fault report is written once the incident is resolved
// (ledger.EscalationStore.SetReport), and may be corrected later.
func (d incidentData) CanReport() bool {
	return d.Incident.State == incident.Resolved || d.Incident.State == incident.Closed
}

func (s *Server) pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		s.fail(w, r, http.StatusNotFound, "No such incident: the address holds no incident number.")
		return 0, false
	}
	return id, true
}

func (s *Server) incidentPage(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	s.drawIncident(w, r, http.StatusOK, id, reportForm{}, "")
}

func (s *Server) drawIncident(w http.ResponseWriter, r *http.Request, status int, id int64, form reportForm, msg string) {
	ctx := r.Context()
	inc, err := s.d.Store.Incident(ctx, id)
	if errors.Is(err, incident.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, fmt.Sprintf("No incident %d.", id))
		return
	}
	if err != nil {
		s.storeFail(w, r, "incident", err)
		return
	}
	tl, err := s.d.Store.Timeline(ctx, id)
	if err != nil {
		s.storeFail(w, r, "incident", err)
		return
	}
	d := incidentData{Incident: inc, Timeline: tl, Form: form, Error: msg}
	switch {
	case runbooks.IsURL(inc.Runbook):
		d.RunbookURL = inc.Runbook
	case inc.Runbook != "" && s.d.RunbookSet().Has(inc.Runbook):
		d.RunbookURL = "/runbooks/" + url.PathEscape(inc.Runbook)
	}
	if es, ok := s.d.Store.(ledger.EscalationStore); ok {
		if e, err := es.Escalation(ctx, id); err == nil {
			d.Escalation = &e
		} else if !errors.Is(err, incident.ErrNotFound) {
			s.storeFail(w, r, "incident", err)
			return
		}
		if ns, err := es.Notifications(ctx, id); err == nil {
			d.Notifications = ns
		} else if !errors.Is(err, incident.ErrNotFound) {
			s.storeFail(w, r, "incident", err)
			return
		}
		if rep, err := es.Report(ctx, id); err == nil {
			d.Report = &rep
			if form == (reportForm{}) {
				d.Form = reportForm{Cause: rep.Cause, Action: rep.Action, Prevention: rep.Prevention}
			}
		} else if !errors.Is(err, incident.ErrNotFound) {
			s.storeFail(w, r, "incident", err)
			return
		}
	}
	s.renderStatus(w, r, status, "incident", d)
}

// maxActionForm bounds an incident form: a comment and a fault report.
const maxActionForm = 64 << 10

// incidentAction handles ack, comment, resolve and close: the same
// Store.Transition the API's endpoints call, as the caller.
func (s *Server) incidentAction(verb string) http.HandlerFunc {
	kind := map[string]incident.Kind{"ack": incident.KindAcknowledged, "comment": incident.KindComment,
		"resolve": incident.KindResolved, "close": incident.KindClosed}[verb]
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := s.pathID(w, r)
		if !ok {
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxActionForm)
		if err := r.ParseForm(); err != nil {
			s.fail(w, r, http.StatusBadRequest, "The form could not be read (too long?).")
			return
		}
		comment := strings.TrimSpace(r.PostFormValue("comment"))
		form := reportForm{Comment: comment}
		switch {
		case len(comment) > incident.MaxMessageLen:
			s.drawIncident(w, r, http.StatusBadRequest, id, form, fmt.Sprintf("The comment is longer than %d bytes.", incident.MaxMessageLen))
			return
		case kind == incident.KindComment && comment == "":
			s.drawIncident(w, r, http.StatusBadRequest, id, form, "Write a comment first.")
			return
		}
		_, _, err := s.d.Store.Transition(r.Context(), id, incident.Action{Kind: kind, By: auth.FromRequest(r).Actor(),
			Comment: comment, At: s.d.Now().UTC()})
		switch {
		case errors.Is(err, incident.ErrNotFound):
			s.fail(w, r, http.StatusNotFound, fmt.Sprintf("No incident %d.", id))
			return
		case errors.Is(err, incident.ErrInvalidTransition):
			s.drawIncident(w, r, http.StatusConflict, id, form, "Not done: the incident's state does not allow it now (someone else may have acted first).")
			return
		case err != nil:
			s.storeFail(w, r, "incident", err)
			return
		}
		auth.Note(r.Context(), fmt.Sprintf("incident %d %s", id, kind))
		if s.d.AfterTransition != nil {
			s.d.AfterTransition()
		}
		http.Redirect(w, r, fmt.Sprintf("/incidents/%d", id), http.StatusSeeOther)
	}
}

// incidentReport writes the fault report (cause, action, prevention).
// With resolve=1 it resolves an active incident first, in one form.
func (s *Server) incidentReport(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxActionForm)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "The form could not be read (too long?).")
		return
	}
	es, ok := s.d.Store.(ledger.EscalationStore)
	if !ok {
		s.fail(w, r, http.StatusNotImplemented, "This ledger keeps no fault reports.")
		return
	}
	form := reportForm{Cause: strings.TrimSpace(r.PostFormValue("cause")), Action: strings.TrimSpace(r.PostFormValue("action")),
		Prevention: strings.TrimSpace(r.PostFormValue("prevention")), Comment: strings.TrimSpace(r.PostFormValue("comment"))}
	id0 := auth.FromRequest(r)
	if r.PostFormValue("resolve") != "" {
		if !auth.Allowed(id0.Role, auth.ActionIncidentResolve) {
			s.fail(w, r, http.StatusForbidden, "Your role may not resolve incidents.")
			return
		}
		if form.Cause == "" || form.Action == "" || form.Prevention == "" {
			s.drawIncident(w, r, http.StatusBadRequest, id, form, "Fill in cause, action and prevention.")
			return
		}
		if len(form.Comment) > incident.MaxMessageLen {
			s.drawIncident(w, r, http.StatusBadRequest, id, form, "The comment is too long.")
			return
		}
		inc, err := s.d.Store.Incident(r.Context(), id)
		if errors.Is(err, incident.ErrNotFound) {
			s.fail(w, r, http.StatusNotFound, fmt.Sprintf("No incident %d.", id))
			return
		} else if err != nil {
			s.storeFail(w, r, "incident", err)
			return
		}
		if inc.State.Active() {
			if _, _, err := s.d.Store.Transition(r.Context(), id, incident.Action{Kind: incident.KindResolved, By: id0.Actor(),
				Comment: form.Comment, At: s.d.Now().UTC()}); err != nil {
				if errors.Is(err, incident.ErrInvalidTransition) {
					s.drawIncident(w, r, http.StatusConflict, id, form, "Not resolved: the incident's state changed meanwhile.")
					return
				}
				s.storeFail(w, r, "incident", err)
				return
			}
			auth.Note(r.Context(), fmt.Sprintf("incident %d resolved", id))
		}
	}
	_, _, err := es.SetReport(r.Context(), ledger.Report{IncidentID: id, Cause: form.Cause, Action: form.Action,
		Prevention: form.Prevention, ReportedBy: id0.Actor(), Role: string(id0.Role), At: s.d.Now().UTC()})
	if err != nil {
		var fe *incident.FieldError
		switch {
		case errors.As(err, &fe):
			s.drawIncident(w, r, http.StatusBadRequest, id, form, "Fault report: "+fe.Field+": "+fe.Msg)
		case errors.Is(err, incident.ErrNotFound):
			s.fail(w, r, http.StatusNotFound, fmt.Sprintf("No incident %d.", id))
		case errors.Is(err, incident.ErrInvalidTransition):
			s.drawIncident(w, r, http.StatusConflict, id, form, "The fault report is written once the incident is resolved.")
		default:
			s.storeFail(w, r, "incident", err)
		}
		return
	}
	auth.Note(r.Context(), fmt.Sprintf("incident %d fault report", id))
	if s.d.AfterTransition != nil {
		s.d.AfterTransition()
	}
	http.Redirect(w, r, fmt.Sprintf("/incidents/%d", id), http.StatusSeeOther)
}
