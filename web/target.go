package web

import (
	"errors"
	"html/template"
	"net/http"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/console"
)

// TargetData is the target page's data. Charts is where the metric
// charts go (server-drawn SVG, added by TargetCharts); the page draws
// it between the checks and the incidents.
type TargetData struct {
	Name      string
	Monitored bool // false: known only from incidents
	Detail    console.TargetDetail
	Incidents []incident.Incident // active ones
	Charts    template.HTML
}

// TargetCharts, when set, draws the metric charts of a target page
// (trusted SVG markup). The charts are another file's work: this is its
// hook.
var TargetCharts func(s *Server, r *http.Request, name string) template.HTML

func (s *Server) targetPage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if len(name) > 256 {
		s.fail(w, r, http.StatusNotFound, "No such target.")
		return
	}
	d := TargetData{Name: name}
	if s.d.Targets != nil {
		det, err := s.d.Targets.Target(name)
		switch {
		case err == nil:
			d.Monitored, d.Detail = true, det
		case errors.Is(err, console.ErrNoTarget):
		default:
			s.log.Error("target page", "target", name, "err", err)
			s.fail(w, r, http.StatusServiceUnavailable, "The target's state cannot be read now.")
			return
		}
	}
	incs, err := s.d.Store.Incidents(r.Context(), ledgerFilter([]incident.State{incident.Open, incident.Acknowledged}, name, 1000))
	if err != nil {
		s.storeFail(w, r, "incidents", err)
		return
	}
	d.Incidents = incs
	if !d.Monitored && len(incs) == 0 {
		// Known neither to the monitor nor by an active incident: maybe
		// an old one.
		old, err := s.d.Store.Incidents(r.Context(), ledgerFilter(nil, name, 1))
		if err != nil {
			s.storeFail(w, r, "incidents", err)
			return
		}
		if len(old) == 0 {
			s.fail(w, r, http.StatusNotFound, "No target named "+quoteName(name)+".")
			return
		}
	}
	if TargetCharts != nil && d.Monitored {
		d.Charts = TargetCharts(s, r, name)
	}
	s.render(w, r, "target", d)
}

func quoteName(s string) string {
	if len(s) > 128 {
		s = s[:128]
	}
	return "“" + s + "”"
}
