package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/auth"
)

func ledgerFilter(states []incident.State, target string, limit int) ledger.Filter {
	return ledger.Filter{States: states, Target: target, Limit: limit}
}

// PageSize is how many incidents one page of the list reads.
const PageSize = 500

// IncidentFilter is the list's query: ?state=&severity=&target=&from=&to=&before=.
type IncidentFilter struct {
	States     []incident.State
	Severities []incident.Severity
	Target     string
	From, To   string // as typed (datetime-local, in the console's zone)
	from, to   time.Time
	Before     int64
}

// Has reports whether the filter includes state or severity v (for
// the checkboxes).
func (f IncidentFilter) Has(v string) bool {
	return slices.Contains(f.States, incident.State(v)) || slices.Contains(f.Severities, incident.Severity(v))
}

// Query is the filter as a query string (without before).
func (f IncidentFilter) Query() string {
	q := url.Values{"f": {"1"}}
	for _, st := range f.States {
		q.Add("state", string(st))
	}
	for _, sv := range f.Severities {
		q.Add("severity", string(sv))
	}
	if f.Target != "" {
		q.Set("target", f.Target)
	}
	if f.From != "" {
		q.Set("from", f.From)
	}
	if f.To != "" {
		q.Set("to", f.To)
	}
	return q.Encode()
}

type incidentsData struct {
	Filter     IncidentFilter
	Incidents  []incident.Incident
	States     []incident.State
	Severities []incident.Severity
	Older      int64 // before= for the next page, 0 none
	Flash      string
	Error      string
}

// parseFilter reads the list's query; a bad value is named in the error.
func (s *Server) parseFilter(q url.Values) (IncidentFilter, error) {
	var f IncidentFilter
	for _, v := range q["state"] {
		for _, x := range strings.Split(v, ",") {
			st := incident.State(strings.TrimSpace(x))
			if st == "" {
				continue
			}
			if !st.Valid() {
				return f, fmt.Errorf("state %q: want open, acknowledged, resolved or closed", x)
			}
			f.States = append(f.States, st)
		}
	}
	for _, v := range q["severity"] {
		for _, x := range strings.Split(v, ",") {
			if strings.TrimSpace(x) == "" {
				continue
			}
			sv, err := incident.ParseSeverity(x)
			if err != nil {
				return f, fmt.Errorf("severity %q: want critical, major, minor, warning or info", x)
			}
			f.Severities = append(f.Severities, sv)
		}
	}
	f.Target = strings.TrimSpace(q.Get("target"))
	if len(f.Target) > 256 {
		return f, errors.New("target: at most 256 bytes")
	}
	for _, p := range []struct {
		name string
		in   *string
		out  *time.Time
	}{{"from", &f.From, &f.from}, {"to", &f.To, &f.to}} {
		v := strings.TrimSpace(q.Get(p.name))
		if v == "" {
			continue
		}
		t, err := s.parseLocal(v)
		if err != nil {
			return f, fmt.Errorf("%s %q: want a date and time such as 2026-12-01T09:00", p.name, v)
		}
		*p.in, *p.out = v, t
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return f, fmt.Errorf("before %q: want an incident id", v)
		}
		f.Before = n
	}
	return f, nil
}

// parseLocal reads a time typed in the console's zone (datetime-local,
// a date, or RFC 3339).
func (s *Server) parseLocal(v string) (time.Time, error) {
	for _, l := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.DateOnly, "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(l, v, s.loc); err == nil {
			return t, nil
		}
	}
	return time.Parse(time.RFC3339, v)
}

func (s *Server) incidents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !q.Has("f") && !q.Has("state") {
		q.Set("state", "open,acknowledged") // the default view: what needs attention
	}
	f, err := s.parseFilter(q)
	d := incidentsData{States: incident.States, Severities: incident.Severities, Flash: flash(q)}
	if err != nil {
		d.Error = err.Error()
		s.renderStatus(w, r, http.StatusBadRequest, "incidents", d)
		return
	}
	d.Filter = f
	incs, err := s.d.Store.Incidents(r.Context(), ledger.Filter{States: f.States, Target: f.Target, Limit: PageSize, BeforeID: f.Before})
	if err != nil {
		s.storeFail(w, r, "incidents", err)
		return
	}
	if len(incs) == PageSize {
		d.Older = incs[len(incs)-1].ID
	}
	for _, inc := range incs {
		if len(f.Severities) > 0 && !slices.Contains(f.Severities, inc.Severity) {
			continue
		}
		if !f.from.IsZero() && inc.OpenedAt.Before(f.from) {
			continue
		}
		if !f.to.IsZero() && !inc.OpenedAt.Before(f.to) {
			continue
		}
		d.Incidents = append(d.Incidents, inc)
	}
	s.render(w, r, "incidents", d)
}

// flash is the result line of a bulk action, from its redirect.
func flash(q url.Values) string {
	a, f := q.Get("acked"), q.Get("failed")
	switch {
	case a == "" && f == "":
		return ""
	case f == "" || f == "0":
		return "Acknowledged " + numOnly(a) + "."
	}
	return "Acknowledged " + numOnly(a) + "; " + numOnly(f) + " could not be (already acknowledged, resolved, or gone)."
}

func numOnly(s string) string {
	if _, err := strconv.Atoi(s); err != nil {
		return "0"
	}
	return s
}

// maxBulk bounds one bulk acknowledgement.
const maxBulk = 500

// bulkAck acknowledges the selected incidents (form: id=…&id=…&back=…).
func (s *Server) bulkAck(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, http.StatusBadRequest, "The form could not be read (too many incidents selected?).")
		return
	}
	ids := r.PostForm["id"]
	if len(ids) > maxBulk {
		s.fail(w, r, http.StatusBadRequest, fmt.Sprintf("Select at most %d incidents at once.", maxBulk))
		return
	}
	comment := strings.TrimSpace(r.PostFormValue("comment"))
	if len(comment) > incident.MaxMessageLen {
		s.fail(w, r, http.StatusBadRequest, "The comment is too long.")
		return
	}
	acked, failed := 0, 0
	var done []string
	for _, v := range ids {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id < 1 {
			failed++
			continue
		}
		_, _, err = s.d.Store.Transition(r.Context(), id, incident.Action{Kind: incident.KindAcknowledged,
			By: auth.FromRequest(r).Actor(), Comment: comment, At: s.d.Now().UTC()})
		switch {
		case err == nil:
			acked++
			done = append(done, v)
		case errors.Is(err, incident.ErrNotFound), errors.Is(err, incident.ErrInvalidTransition):
			failed++
		default:
			s.storeFail(w, r, "incidents", err)
			return
		}
	}
	if acked > 0 {
		auth.Note(r.Context(), "incidents "+strings.Join(done, ",")+" acknowledged")
		if s.d.AfterTransition != nil {
			s.d.AfterTransition()
		}
	}
	back := url.Values{}
	if bq, err := url.ParseQuery(r.PostFormValue("back")); err == nil {
		if f, err := s.parseFilter(bq); err == nil {
			back, _ = url.ParseQuery(f.Query())
		}
	}
	back.Set("acked", strconv.Itoa(acked))
	back.Set("failed", strconv.Itoa(failed))
	http.Redirect(w, r, "/incidents?"+back.Encode(), http.StatusSeeOther)
}
