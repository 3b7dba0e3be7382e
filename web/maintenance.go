package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/escalation"
	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/auth"
)

// MaintView is one window on the maintenance page.
type MaintView struct {
	ledger.Maintenance
	Active      bool
	ActiveUntil time.Time
	Ended       bool // ended by hand, or a one-off window past its end
}

type maintData struct {
	Windows []MaintView
	Form    maintForm
	Error   string
}

type maintForm struct {
	Name, Scope, Match, Start, End, Duration, Cron, TimeZone, Comment string
}

func (s *Server) maintenance(w http.ResponseWriter, r *http.Request) {
	s.drawMaintenance(w, r, http.StatusOK, maintForm{Scope: ledger.ScopeTarget, Duration: "4h"}, "")
}

func (s *Server) drawMaintenance(w http.ResponseWriter, r *http.Request, status int, form maintForm, msg string) {
	es, ok := s.d.Store.(ledger.EscalationStore)
	if !ok {
		s.fail(w, r, http.StatusNotImplemented, "This ledger keeps no maintenance windows.")
		return
	}
	ms, err := es.Maintenances(r.Context())
	if err != nil {
		s.storeFail(w, r, "maintenance windows", err)
		return
	}
	now := s.d.Now()
	d := maintData{Form: form, Error: msg}
	for _, m := range ms {
		v := MaintView{Maintenance: m}
		if on, until := escalation.ActiveWindow(m, now); on {
			v.Active, v.ActiveUntil = true, until
		}
		v.Ended = m.EndedAt != nil || (m.Cron == "" && m.End != nil && !m.End.After(now))
		d.Windows = append(d.Windows, v)
	}
	s.renderStatus(w, r, status, "maintenance", d)
}

func (s *Server) addMaintenance(w http.ResponseWriter, r *http.Request) {
	es, ok := s.d.Store.(ledger.EscalationStore)
	if !ok {
		s.fail(w, r, http.StatusNotImplemented, "This ledger keeps no maintenance windows.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "The form could not be read (too long?).")
		return
	}
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	f := maintForm{Name: v("name"), Scope: v("scope"), Match: v("match"), Start: v("start"), End: v("end"),
		Duration: v("duration"), Cron: v("cron"), TimeZone: v("time_zone"), Comment: v("comment")}
	bad := func(msg string) { s.drawMaintenance(w, r, http.StatusBadRequest, f, msg) }
	now := s.d.Now().UTC()
	m := ledger.Maintenance{Name: f.Name, Scope: f.Scope, Match: f.Match, Cron: f.Cron, TimeZone: f.TimeZone,
		Comment: f.Comment, CreatedBy: auth.FromRequest(r).Actor(), Start: now}
	if f.Start != "" {
		t, err := s.parseLocal(f.Start)
		if err != nil {
			bad("Start: want a date and time such as 2026-12-01T22:00.")
			return
		}
		m.Start = t.UTC()
	}
	if f.End != "" {
		t, err := s.parseLocal(f.End)
		if err != nil {
			bad("End: want a date and time such as 2026-12-02T02:00.")
			return
		}
		t = t.UTC()
		m.End = &t
	}
	if f.Duration != "" {
		d, err := time.ParseDuration(f.Duration)
		if err != nil || d <= 0 {
			bad(fmt.Sprintf("Duration %q: want a positive duration such as 4h or 90m.", f.Duration))
			return
		}
		m.Duration = d
	}
	if m.Cron == "" && m.End != nil {
		m.Duration = 0 // the form's end wins over its duration
	}
	m = escalation.FillEnd(m, s.d.Alerting.DefaultMaintenance)
	if err := escalation.CheckMaintenance(m); err != nil {
		var fe *incident.FieldError
		if errors.As(err, &fe) {
			bad(fe.Field + ": " + fe.Msg)
			return
		}
		bad(err.Error())
		return
	}
	m, err := es.AddMaintenance(r.Context(), m)
	if err != nil {
		s.storeFail(w, r, "maintenance windows", err)
		return
	}
	auth.Note(r.Context(), fmt.Sprintf("maintenance %d %q", m.ID, m.Name))
	http.Redirect(w, r, "/maintenance", http.StatusSeeOther)
}

func (s *Server) endMaint(w http.ResponseWriter, r *http.Request) {
	es, ok := s.d.Store.(ledger.EscalationStore)
	if !ok {
		s.fail(w, r, http.StatusNotImplemented, "This ledger keeps no maintenance windows.")
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		s.fail(w, r, http.StatusNotFound, "No such maintenance window.")
		return
	}
	if _, err := es.EndMaintenance(r.Context(), id, auth.FromRequest(r).Actor(), s.d.Now().UTC()); err != nil {
		if errors.Is(err, incident.ErrNotFound) {
			s.fail(w, r, http.StatusNotFound, fmt.Sprintf("No maintenance window %d.", id))
			return
		}
		s.storeFail(w, r, "maintenance windows", err)
		return
	}
	auth.Note(r.Context(), fmt.Sprintf("maintenance %d ended", id))
	http.Redirect(w, r, "/maintenance", http.StatusSeeOther)
}
