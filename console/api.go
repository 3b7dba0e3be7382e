package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/bus/spool"
	"github.com/unyo-ops/unyo/runbooks"
)

// MaxBody is the largest request body the API reads.
const MaxBody = 4 << 20

// MaxEventsPerRequest caps POST /api/v1/events.
const MaxEventsPerRequest = 10000

// Publisher stores events on the bus.
type Publisher interface {
	PublishBatch(ctx context.Context, evs []incident.Event) error
}

// Check is a named readiness check.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Deps are what the API serves from.
type Deps struct {
	Store     ledger.Store
	Publisher Publisher
	// PublishTimeout bounds POST /api/v1/events' wait for the publisher
	// (the spool's fsync): the answer comes within it, 202 or 503
	// (default 5s).
	PublishTimeout time.Duration
	// Ready checks run by /readyz; all must pass.
	Ready []Check
	// Gatherer for /metrics (default: none, /metrics is 404).
	Gatherer prometheus.Gatherer
	// AfterTransition is called after an operator action committed.
	AfterTransition func()
	// Alerting serves the maintenance, on-call, report and export
	// endpoints (console/alerting.go).
	Alerting AlertingDeps
	// Targets serves GET /api/v1/targets (console/targets.go); nil when
	// the node runs no monitor.
	Targets Targets
	Jobnets Jobnets // console/jobnet.go; nil: no job network
	// Fleet serves releases, rollouts and re-homing (console/rollout.go);
	// nil: those endpoints answer 503.
	Fleet Fleet
	// Reports makes and serves monthly reports (console/reports.go);
	// nil: those endpoints answer 404.
	Reports Reports
	// Backups runs and lists backups (console/backups.go); nil: those
	// endpoints answer 404.
	Backups Backups
	// Runbooks returns the node's runbooks (built-ins and runbooks.dir);
	// nil: the built-ins.
	Runbooks func() *runbooks.Set
	// Drills and Passwords serve /api/v1/drills and /api/v1/passwords
	// (console/drills.go); nil: 404.
	Drills    Drills
	Passwords Passwords
	// Auth serves login, users, tokens, sessions and the audit log
	// (console/auth.go); nil: those endpoints answer 503.
	Auth *auth.Service
	// Audit records what the guard cannot see by itself (logins); the
	// node passes its Guard's Audit.
	Audit  func(ctx context.Context, id auth.Identity, action, target, result, detail string)
	Logger *slog.Logger
	Now    func() time.Time
	// EventSkew bounds the time of an event posted to the API against the
	// node's clock; one outside is refused (400, field "time"). Zero: no
	// bound.
	EventSkew incident.Skew
}

// Handler returns a handler serving the API on a new auth.Mux checked by
// g (see Register).
func Handler(g *auth.Guard, d Deps) *auth.Mux {
	m := auth.NewMux(g)
	Register(m, d)
	return m
}

// Register adds the health probes, /metrics and the /api/v1 endpoints to
// m, each with the action it performs (auth/actions.go); the guard of m
// answers 401 or 403 before a handler runs.
func Register(m *auth.Mux, d Deps) {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.PublishTimeout <= 0 {
		d.PublishTimeout = 5 * time.Second
	}
	a := &api{Deps: d}
	m.HandleFunc("GET /healthz", auth.Public, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("GET /readyz", auth.Public, a.readyz)
	a.registerDrills(m)
	if d.Gatherer != nil {
		m.Handle("GET /metrics", auth.ActionMetricsRead, promhttp.HandlerFor(d.Gatherer, promhttp.HandlerOpts{}))
	}
	m.HandleFunc("GET /api/v1/incidents", auth.ActionIncidentRead, a.listIncidents)
	m.HandleFunc("GET /api/v1/incidents/{id}", auth.ActionIncidentRead, a.getIncident)
	for _, t := range []struct {
		verb   string
		kind   incident.Kind
		action auth.Action
	}{
		{"ack", incident.KindAcknowledged, auth.ActionIncidentAck},
		{"resolve", incident.KindResolved, auth.ActionIncidentResolve},
		{"close", incident.KindClosed, auth.ActionIncidentClose},
		{"comment", incident.KindComment, auth.ActionIncidentComment},
	} {
		m.HandleFunc("POST /api/v1/incidents/{id}/"+t.verb, t.action, a.transition(t.kind))
	}
	m.HandleFunc("POST /api/v1/events", auth.ActionEventSend, a.postEvents)
	a.registerAlerting(m)
	a.registerTargets(m)
	a.registerSamples(m)
	a.registerReports(m)
	a.registerBackups(m)
	a.registerRunbooks(m)
	a.registerJobnets(m)
	a.registerAuth(m)
	registerFleet(m, a, d.Fleet)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		m.HandleFunc(method+" /api/", auth.Public, func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, "", "no such endpoint: "+r.Method+" "+r.URL.Path)
		})
	}
}

type api struct{ Deps }

// apiError is the body of every error response.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, field, msg string) {
	writeJSON(w, code, apiError{Error: msg, Field: field})
}

func (a *api) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	out := map[string]string{}
	ok := true
	for _, c := range a.Ready {
		if err := c.Fn(ctx); err != nil {
			out[c.Name] = err.Error()
			ok = false
		} else {
			out[c.Name] = "ok"
		}
	}
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{"ready": ok, "checks": out})
}

func (a *api) listIncidents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f ledger.Filter
	for _, v := range q["state"] {
		for _, s := range strings.Split(v, ",") {
			st := incident.State(strings.TrimSpace(s))
			if st == "" {
				continue
			}
			if !st.Valid() {
				writeError(w, http.StatusBadRequest, "state", fmt.Sprintf("%q: want open, acknowledged, resolved or closed", s))
				return
			}
			f.States = append(f.States, st)
		}
	}
	f.Target = q.Get("target")
	for _, p := range []struct {
		name string
		dst  *int64
		max  int64
	}{{"limit", nil, 10000}, {"before", &f.BeforeID, 1 << 62}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || n > p.max {
			writeError(w, http.StatusBadRequest, p.name, fmt.Sprintf("%q: want a whole number from 1 to %d", v, p.max))
			return
		}
		if p.dst != nil {
			*p.dst = n
		} else {
			f.Limit = int(n)
		}
	}
	incs, err := a.Store.Incidents(r.Context(), f)
	if err != nil {
		a.storeError(w, err)
		return
	}
	if incs == nil {
		incs = []incident.Incident{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"incidents": incs})
}

func (a *api) incidentID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeError(w, http.StatusBadRequest, "id", fmt.Sprintf("%q is not an incident id", r.PathValue("id")))
		return 0, false
	}
	return id, true
}

// IncidentDetail is the body of GET /api/v1/incidents/{id}.
type IncidentDetail struct {
	Incident incident.Incident `json:"incident"`
	Timeline []incident.Entry  `json:"timeline"`
}

func (a *api) getIncident(w http.ResponseWriter, r *http.Request) {
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
	writeJSON(w, http.StatusOK, IncidentDetail{Incident: inc, Timeline: tl})
}

// ActionRequest is the body of the incident action endpoints. Who acts is
// the caller's identity (a "by" field is refused as unknown).
type ActionRequest struct {
	Comment string `json:"comment"`
}

// ActionResponse is what an incident action returns.
type ActionResponse struct {
	Incident incident.Incident `json:"incident"`
	Entry    incident.Entry    `json:"entry"`
}

func (a *api) transition(kind incident.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := a.incidentID(w, r)
		if !ok {
			return
		}
		var req ActionRequest
		if !decodeBody(w, r, &req) {
			return
		}
		switch {
		case len(req.Comment) > incident.MaxMessageLen:
			writeError(w, http.StatusBadRequest, "comment", fmt.Sprintf("longer than %d bytes", incident.MaxMessageLen))
			return
		case kind == incident.KindComment && strings.TrimSpace(req.Comment) == "":
			writeError(w, http.StatusBadRequest, "comment", "required")
			return
		}
		inc, entry, err := a.Store.Transition(r.Context(), id, incident.Action{
			Kind: kind, By: actor(r), Comment: req.Comment, At: a.Now().UTC()})
		if err != nil {
			a.incidentError(w, id, err)
			return
		}
		if a.AfterTransition != nil {
			a.AfterTransition()
		}
		auth.Note(r.Context(), fmt.Sprintf("incident %d %s", id, kind))
		writeJSON(w, http.StatusOK, ActionResponse{Incident: inc, Entry: entry})
	}
}

// EventsResponse is what POST /api/v1/events returns.
type EventsResponse struct {
	IDs []string `json:"ids"`
}

func (a *api) postEvents(w http.ResponseWriter, r *http.Request) {
	body := bufio.NewReader(http.MaxBytesReader(w, r.Body, MaxBody))
	var evs []incident.Event
	one := false
	for {
		c, err := body.ReadByte()
		if err != nil {
			break // decodeStrict reports the empty or cut body
		}
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			one = c != '['
			_ = body.UnreadByte()
			break
		}
	}
	if one {
		var ev incident.Event
		if !decodeStrict(w, body, &ev, "") {
			return
		}
		evs = []incident.Event{ev}
	} else if !decodeStrict(w, body, &evs, "") {
		return
	}
	if len(evs) == 0 {
		writeError(w, http.StatusBadRequest, "", "no events")
		return
	}
	if len(evs) > MaxEventsPerRequest {
		writeError(w, http.StatusBadRequest, "", fmt.Sprintf("%d events: at most %d per request", len(evs), MaxEventsPerRequest))
		return
	}
	now := a.Now()
	ids := make([]string, len(evs))
	for i := range evs {
		ev := &evs[i]
		if ev.ID == "" {
			ev.ID = incident.NewID()
		}
		ev.Received = now // never the sender's word
		ev.Normalize(now)
		err := ev.Validate()
		if err == nil {
			err = a.EventSkew.Check(ev.Time, now)
		}
		if err != nil {
			field := ""
			var fe *incident.FieldError
			if errors.As(err, &fe) {
				field = fe.Field
				if !one {
					field = fmt.Sprintf("[%d].%s", i, fe.Field)
				}
				err = errors.New(fe.Msg)
			}
			writeError(w, http.StatusBadRequest, field, err.Error())
			return
		}
		ids[i] = ev.ID
	}
	ctx, cancel := context.WithTimeout(r.Context(), a.PublishTimeout)
	err := a.Publisher.PublishBatch(ctx, evs)
	cancel()
	if err != nil {
		// Full: refused at once, nothing kept; try again in a few
		// seconds. Timed out: the events may yet be delivered, so a
		// retry must carry the same ids (the ledger applies each once).
		retry := "1"
		if errors.Is(err, spool.ErrFull) {
			retry = "5"
			a.Logger.Warn("events refused: spool full", "events", len(evs), "err", err)
		} else {
			a.Logger.Error("publish events", "events", len(evs), "err", err)
		}
		w.Header().Set("Retry-After", retry)
		writeError(w, http.StatusServiceUnavailable, "", "events not accepted, retry with the same ids: "+err.Error())
		return
	}
	writeJSON(w, http.StatusAccepted, EventsResponse{IDs: ids})
}

// incidentError is storeError for a request about incident id: a
// missing one is "no incident N", in the operator's words.
func (a *api) incidentError(w http.ResponseWriter, id int64, err error) {
	if errors.Is(err, incident.ErrNotFound) {
		writeError(w, http.StatusNotFound, "id", fmt.Sprintf("no incident %d", id))
		return
	}
	a.storeError(w, err)
}

// actor is who acts: the request's authenticated identity.
func actor(r *http.Request) string { return auth.FromRequest(r).Actor() }

func (a *api) storeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, incident.ErrNotFound):
		writeError(w, http.StatusNotFound, "id", err.Error())
	case errors.Is(err, incident.ErrInvalidTransition):
		writeError(w, http.StatusConflict, "state", err.Error())
	default:
		a.Logger.Error("ledger", "err", err)
		writeError(w, http.StatusServiceUnavailable, "", "ledger: "+err.Error())
	}
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	return decodeStrict(w, http.MaxBytesReader(w, r.Body, MaxBody), v, "")
}

// decodeStrict decodes JSON rejecting unknown fields and trailing data, and
// answers 400 naming the field on error.
// The body is decoded as a stream, never read whole first.
func decodeStrict(w http.ResponseWriter, body io.Reader, v any, prefix string) bool {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("unexpected data after the JSON value")
	}
	if err == nil {
		return true
	}
	field := ""
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	var me *http.MaxBytesError
	switch {
	case errors.As(err, &me):
		writeError(w, http.StatusRequestEntityTooLarge, "", fmt.Sprintf("body: larger than %d bytes", me.Limit))
		return false
	case errors.As(err, &te):
		field = te.Field
		err = fmt.Errorf("want %s, got JSON %s", te.Type, te.Value)
	case errors.As(err, &se):
		err = fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, se)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field = strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		err = errors.New("unknown field")
	case errors.Is(err, io.EOF):
		err = errors.New("empty body")
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = errors.New("invalid JSON: unexpected end of input")
	}
	if prefix != "" && field != "" {
		field = prefix + "." + field
	}
	writeError(w, http.StatusBadRequest, field, err.Error())
	return false
}
