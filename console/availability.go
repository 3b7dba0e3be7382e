package console

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/unyo-ops/unyo/alerting/availability"
	"github.com/unyo-ops/unyo/alerting/incident"
)

// AvailabilityDeps say what GET /api/v1/availability counts; zero values
// take package availability's defaults (checks ping, sources tcp, http,
// postgres; budget 2h a month).
type AvailabilityDeps struct {
	Checks  []string
	Sources []string
	Budget  time.Duration
}

// GET /api/v1/availability answers an availability.Report: per target,
// outage time in the period, the part in maintenance windows, the
// unplanned rest against the budget (see package availability).
//
//	?month=YYYY-MM             a calendar month in AlertingDeps.Location
//	?from=T&to=T               [from, to): RFC 3339, or YYYY-MM-DD in Location
//	                           (both, at most 366 days; not with month)
//	(neither)                  the current month
//	&budget=2h                 unplanned downtime allowed per month
//
// Monitored targets (Deps.Targets) without an outage are listed at 100%.
func (a *api) availability(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	loc := a.Alerting.Location
	if loc == nil {
		loc = time.UTC
	}
	now := a.Now()
	month, fromS, toS := q.Get("month"), q.Get("from"), q.Get("to")
	parse := func(name, v string) (time.Time, bool) {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t, true
		}
		if t, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
			return t, true
		}
		writeError(w, http.StatusBadRequest, name, fmt.Sprintf("%q: want an RFC 3339 time or YYYY-MM-DD", v))
		return time.Time{}, false
	}
	var from, to time.Time
	switch {
	case month != "" && (fromS != "" || toS != ""):
		writeError(w, http.StatusBadRequest, "month", "give month, or from and to, not both")
		return
	case month != "":
		m, err := time.ParseInLocation("2006-01", month, loc)
		if err != nil {
			writeError(w, http.StatusBadRequest, "month", fmt.Sprintf("%q: want YYYY-MM", month))
			return
		}
		from, to = m, m.AddDate(0, 1, 0)
	case fromS == "" && toS != "":
		writeError(w, http.StatusBadRequest, "from", "required with to")
		return
	case fromS != "" && toS == "":
		writeError(w, http.StatusBadRequest, "to", "required with from")
		return
	case fromS != "":
		var ok bool
		if from, ok = parse("from", fromS); !ok {
			return
		}
		if to, ok = parse("to", toS); !ok {
			return
		}
	default:
		n := now.In(loc)
		from = time.Date(n.Year(), n.Month(), 1, 0, 0, 0, 0, loc)
		to = from.AddDate(0, 1, 0)
	}
	o := availability.Options{From: from, To: to, Now: now, Location: loc, Budget: a.Alerting.Availability.Budget,
		Checks: a.Alerting.Availability.Checks, Sources: a.Alerting.Availability.Sources}
	if v := q.Get("budget"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			writeError(w, http.StatusBadRequest, "budget", fmt.Sprintf("%q: want a positive duration such as 2h", v))
			return
		}
		o.Budget = d
	}
	if err := o.Validate(); err != nil {
		var fe *incident.FieldError
		if errors.As(err, &fe) {
			writeError(w, http.StatusBadRequest, fe.Field, fe.Msg)
			return
		}
		writeError(w, http.StatusBadRequest, "", err.Error())
		return
	}
	in, err := availability.Load(r.Context(), a.Store, o)
	if err != nil {
		a.storeError(w, err)
		return
	}
	if a.Targets != nil {
		for _, t := range a.Targets.Targets() {
			labels := maps.Clone(t.Tags)
			if labels == nil {
				labels = map[string]string{}
			}
			if t.Site != "" {
				labels["site"] = t.Site
			}
			in.Targets = append(in.Targets, availability.KnownTarget{Name: t.Name, Labels: labels})
		}
	}
	rep, err := availability.Compute(in, o)
	if err != nil {
		writeError(w, http.StatusBadRequest, "", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
