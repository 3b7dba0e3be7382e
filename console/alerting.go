package console

import (
	"encoding/json"
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
	"github.com/unyo-ops/unyo/internal/jsondur"
)

// AlertingDeps are what the alerting endpoints serve from besides the
// ledger store (which must implement ledger.EscalationStore for the
// maintenance, report and export endpoints).
//
//	GET  /api/v1/maintenance                  windows, each with "active" and "active_until"
//	POST /api/v1/maintenance                  MaintenanceRequest → 201 with the window
//	POST /api/v1/maintenance/{id}/end         (who ends it is the caller)
//	GET  /api/v1/oncall?at=RFC3339            who each role reaches (404 without alerting)
//	GET  /api/v1/incidents/{id}/report        the fault report
//	POST /api/v1/incidents/{id}/report        ReportRequest (the incident must be resolved)
//	GET  /api/v1/ledger/export?from=&to=      CSV, one row per incident opened in [from, to)
//	GET  /api/v1/availability?month=YYYY-MM   downtime against the budget (console/availability.go)
type AlertingDeps struct {
	// OnCall answers /api/v1/oncall; nil when alerting is not configured.
	OnCall func(at time.Time) []escalation.OnCall
	// DefaultMaintenance is the length of a window added without an end
	// (default 4h).
	DefaultMaintenance time.Duration
	// Location is where /api/v1/availability reads months and dates: the
	// node's alerting.time_zone (default UTC).
	Location *time.Location
	// Availability is what /api/v1/availability counts.
	Availability AvailabilityDeps
}

// MaintenanceRequest is the body of POST /api/v1/maintenance. Start
// defaults to now; a one-off window needs End or Duration (default
// alerting.maintenance.default_duration); a recurring one Cron and
// Duration. Cron is five fields read in TimeZone; the day of week may be
// "SUN#1" (the first Sunday of the month) or "FRIL" / "5L" (the last
// Friday): see escalation.CheckMaintenance.
type MaintenanceRequest struct {
	Name     string     `json:"name"`
	Scope    string     `json:"scope"`
	Match    string     `json:"match"`
	Start    *time.Time `json:"start,omitempty"`
	End      *time.Time `json:"end,omitempty"`
	Duration string     `json:"duration,omitempty"`
	Cron     string     `json:"cron,omitempty"`
	TimeZone string     `json:"time_zone,omitempty"`
	Comment  string     `json:"comment,omitempty"`
}

// MaintenanceView is a window with whether it is in force now. In JSON
// its duration reads as "12h0m0s" (jsondur); integer nanoseconds, as
// older nodes wrote it, still decode.
type MaintenanceView struct {
	ledger.Maintenance
	Active      bool       `json:"active"`
	ActiveUntil *time.Time `json:"active_until,omitempty"`
}

// maintenanceView is MaintenanceView without its JSON methods.
type maintenanceView MaintenanceView

// MarshalJSON writes the duration as a string.
func (v MaintenanceView) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		maintenanceView
		Duration jsondur.Duration `json:"duration,omitempty"`
	}{maintenanceView(v), jsondur.Duration(v.Duration)})
}

// UnmarshalJSON reads the duration as a string or integer nanoseconds.
func (v *MaintenanceView) UnmarshalJSON(b []byte) error {
	w := struct {
		*maintenanceView
		Duration jsondur.Duration `json:"duration,omitempty"`
	}{maintenanceView: (*maintenanceView)(v)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	v.Duration = w.Duration.D()
	return nil
}

// ReportRequest is the body of POST /api/v1/incidents/{id}/report. Who
// reports, and in which role, is the caller's identity.
type ReportRequest struct {
	Cause      string `json:"cause"`
	Action     string `json:"action"`
	Prevention string `json:"prevention"`
}

// registerAlerting adds the alerting endpoints to m.
func (a *api) registerAlerting(m *auth.Mux) {
	m.HandleFunc("GET /api/v1/maintenance", auth.ActionMaintenanceRead, a.listMaintenance)
	m.HandleFunc("POST /api/v1/maintenance", auth.ActionMaintenanceWrite, a.addMaintenance)
	m.HandleFunc("POST /api/v1/maintenance/{id}/end", auth.ActionMaintenanceWrite, a.endMaintenance)
	m.HandleFunc("GET /api/v1/oncall", auth.ActionOnCallRead, a.oncall)
	m.HandleFunc("GET /api/v1/incidents/{id}/report", auth.ActionIncidentRead, a.getReport)
	m.HandleFunc("POST /api/v1/incidents/{id}/report", auth.ActionIncidentReport, a.postReport)
	m.HandleFunc("GET /api/v1/ledger/export", auth.ActionLedgerExport, a.export)
	m.HandleFunc("GET /api/v1/availability", auth.ActionReportRead, a.availability)
}

func (a *api) escStore(w http.ResponseWriter) (ledger.EscalationStore, bool) {
	es, ok := a.Store.(ledger.EscalationStore)
	if !ok {
		writeError(w, http.StatusNotImplemented, "", "this ledger store keeps no escalation state")
	}
	return es, ok
}

func (a *api) view(m ledger.Maintenance, now time.Time) MaintenanceView {
	v := MaintenanceView{Maintenance: m}
	if on, until := escalation.ActiveWindow(m, now); on {
		v.Active, v.ActiveUntil = true, &until
	}
	return v
}

func (a *api) listMaintenance(w http.ResponseWriter, r *http.Request) {
	es, ok := a.escStore(w)
	if !ok {
		return
	}
	ms, err := es.Maintenances(r.Context())
	if err != nil {
		a.storeError(w, err)
		return
	}
	now := a.Now()
	out := make([]MaintenanceView, 0, len(ms))
	for _, m := range ms {
		out = append(out, a.view(m, now))
	}
	writeJSON(w, http.StatusOK, map[string]any{"maintenance": out})
}

func (a *api) addMaintenance(w http.ResponseWriter, r *http.Request) {
	es, ok := a.escStore(w)
	if !ok {
		return
	}
	var req MaintenanceRequest
	if !decodeBody(w, r, &req) {
		return
	}
	now := a.Now().UTC()
	m := ledger.Maintenance{Name: req.Name, Scope: req.Scope, Match: req.Match, Cron: req.Cron, TimeZone: req.TimeZone,
		Comment: req.Comment, CreatedBy: actor(r), Start: now, End: req.End}
	if req.Start != nil {
		m.Start = req.Start.UTC()
	}
	if req.Duration != "" {
		d, err := time.ParseDuration(req.Duration)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, "duration", fmt.Sprintf("%q: want a positive duration such as 4h", req.Duration))
			return
		}
		m.Duration = d
	}
	m = escalation.FillEnd(m, a.Alerting.DefaultMaintenance)
	if err := escalation.CheckMaintenance(m); err != nil {
		var fe *incident.FieldError
		if errors.As(err, &fe) {
			field := fe.Field
			if field == "created_by" {
				field = "by"
			}
			writeError(w, http.StatusBadRequest, field, fe.Msg)
			return
		}
		writeError(w, http.StatusBadRequest, "", err.Error())
		return
	}
	m, err := es.AddMaintenance(r.Context(), m)
	if err != nil {
		a.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, a.view(m, a.Now()))
}

func (a *api) endMaintenance(w http.ResponseWriter, r *http.Request) {
	es, ok := a.escStore(w)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "id", fmt.Sprintf("%q is not a maintenance window id", r.PathValue("id")))
		return
	}
	var req ActionRequest
	if !decodeOptional(w, r, &req) {
		return
	}
	m, err := es.EndMaintenance(r.Context(), id, actor(r), a.Now().UTC())
	if err != nil {
		a.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a.view(m, a.Now()))
}

func (a *api) oncall(w http.ResponseWriter, r *http.Request) {
	if a.Alerting.OnCall == nil {
		writeError(w, http.StatusNotFound, "", "alerting is not configured on this node")
		return
	}
	at := a.Now()
	if v := r.URL.Query().Get("at"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "at", fmt.Sprintf("%q: want an RFC 3339 time", v))
			return
		}
		at = t
	}
	writeJSON(w, http.StatusOK, map[string]any{"at": at.UTC(), "roles": a.Alerting.OnCall(at)})
}

// ReportView is the body of GET /api/v1/incidents/{id}/report: the incident,
// its escalation and its fault report.
type ReportView struct {
	Incident   incident.Incident  `json:"incident"`
	Timeline   []incident.Entry   `json:"timeline"`
	Escalation *ledger.Escalation `json:"escalation,omitempty"`
	Report     *ledger.Report     `json:"report,omitempty"`
}

func (a *api) getReport(w http.ResponseWriter, r *http.Request) {
	es, ok := a.escStore(w)
	if !ok {
		return
	}
	id, ok := a.incidentID(w, r)
	if !ok {
		return
	}
	inc, err := a.Store.Incident(r.Context(), id)
	if err != nil {
		a.incidentError(w, id, err)
		return
	}
	tl, err := a.Store.Timeline(r.Context(), id)
	if err != nil {
		a.storeError(w, err)
		return
	}
	v := ReportView{Incident: inc, Timeline: tl}
	if e, err := es.Escalation(r.Context(), id); err == nil {
		v.Escalation = &e
	} else if !errors.Is(err, incident.ErrNotFound) {
		a.storeError(w, err)
		return
	}
	if rep, err := es.Report(r.Context(), id); err == nil {
		v.Report = &rep
	} else if !errors.Is(err, incident.ErrNotFound) {
		a.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *api) postReport(w http.ResponseWriter, r *http.Request) {
	es, ok := a.escStore(w)
	if !ok {
		return
	}
	id, ok := a.incidentID(w, r)
	if !ok {
		return
	}
	var req ReportRequest
	if !decodeBody(w, r, &req) {
		return
	}
	rep, _, err := es.SetReport(r.Context(), ledger.Report{IncidentID: id, Cause: req.Cause, Action: req.Action,
		Prevention: req.Prevention, ReportedBy: actor(r), Role: string(auth.FromRequest(r).Role), At: a.Now().UTC()})
	if err != nil {
		var fe *incident.FieldError
		if errors.As(err, &fe) {
			writeError(w, http.StatusBadRequest, fe.Field, fe.Msg)
			return
		}
		a.storeError(w, err)
		return
	}
	if a.AfterTransition != nil {
		a.AfterTransition()
	}
	writeJSON(w, http.StatusOK, rep)
}

func (a *api) export(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	parse := func(name string, def time.Time) (time.Time, bool) {
		v := q.Get(name)
		if v == "" {
			return def, true
		}
		for _, layout := range []string{time.RFC3339, time.DateOnly} {
			if t, err := time.Parse(layout, v); err == nil {
				return t, true
			}
		}
		writeError(w, http.StatusBadRequest, name, fmt.Sprintf("%q: want YYYY-MM-DD or an RFC 3339 time", v))
		return time.Time{}, false
	}
	now := a.Now().UTC()
	from, ok := parse("from", now.AddDate(0, -1, 0))
	if !ok {
		return
	}
	to, ok := parse("to", now.Add(time.Second))
	if !ok {
		return
	}
	if !to.After(from) {
		writeError(w, http.StatusBadRequest, "to", "must be after from")
		return
	}
	var b strings.Builder
	if _, err := escalation.ExportCSV(r.Context(), a.Store, from, to, &b); err != nil {
		a.storeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="unyo-ledger-%s-%s.csv"`,
		from.Format("20060102"), to.Format("20060102")))
	_, _ = w.Write([]byte(b.String()))
}
