package console

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/internal/jsondur"
)

// Jobnets is the job network as the API sees it: the node implements it
// over the jobnet engine and the ledger's run history (node/jobnet.go).
// Nil when the node runs no job network; the endpoints then answer 404.
//
// Errors it returns are matched with errors.Is against ErrNoJobnet and
// ErrNoRun (404), ErrInvalid (400), ErrConflict (409) and ErrUnavailable
// (503).
type Jobnets interface {
	// Jobnets lists the configured jobnets, by name.
	Jobnets() []JobnetSummary
	// Jobnet returns one jobnet with its DAG.
	Jobnet(name string) (JobnetDetail, error)
	// StartRun starts a run now, as an operator; params override the
	// jobnet's. It returns the run's id.
	StartRun(ctx context.Context, name string, params map[string]string, by string) (string, error)
	// Runs lists runs newest first, live and from the history.
	Runs(ctx context.Context, f ledger.RunFilter) ([]ledger.RunRecord, error)
	// Run returns one run with its jobs.
	Run(ctx context.Context, id string) (ledger.RunRecord, error)
	// ActRun applies an operator action to a live run.
	ActRun(ctx context.Context, id string, a RunAction) error
}

// Errors of Jobnets.
var (
	ErrNoJobnet = errors.New("no such jobnet")
	ErrNoRun    = errors.New("no such run")
	ErrInvalid  = errors.New("invalid request")
	ErrConflict = errors.New("not possible in the current state")
	// ErrUnavailable (503, with Retry-After): the node cannot do it now,
	// e.g. it has no leader to commit to; Unavailable marks an error so
	// without changing its message.
	ErrUnavailable = errors.New("unavailable")
)

// JobnetSummary is one row of GET /api/v1/jobnets.
type JobnetSummary struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Schedules   []string `json:"schedules,omitempty"`
	Triggers    int      `json:"triggers,omitempty"`
	Concurrency string   `json:"concurrency"`
	Jobs        int      `json:"jobs"`
	// Live is how many runs of it are live now.
	Live int `json:"live"`
	// Next is the next scheduled start (none without schedules).
	Next *time.Time `json:"next,omitempty"`
}

// JobnetDetail is the body of GET /api/v1/jobnets/{name}.
type JobnetDetail struct {
	JobnetSummary
	// Params are the declared parameters' defaults, ParamPatterns their
	// patterns (a start's values must match them as a whole).
	Params        map[string]string `json:"params,omitempty"`
	ParamPatterns map[string]string `json:"param_patterns,omitempty"`
	// Jobs in configuration order.
	Jobs []JobNode `json:"job_list"`
	// Levels is the DAG in layers: every job's needs are in earlier layers.
	Levels [][]string `json:"levels"`
}

// JobNode is one job of a jobnet's DAG.
type JobNode struct {
	Name    string           `json:"name"`
	Kind    string           `json:"kind,omitempty"`
	Command string           `json:"command,omitempty"`
	Args    []string         `json:"args,omitempty"`
	Jobnet  string           `json:"jobnet,omitempty"`
	RunOn   string           `json:"run_on,omitempty"`
	Needs   []string         `json:"needs,omitempty"`
	Hold    bool             `json:"hold,omitempty"`
	Timeout jsondur.Duration `json:"timeout,omitempty"` // "10m0s"
	Retries int              `json:"retries,omitempty"`
}

// StartRequest is the body of POST /api/v1/jobnets/{name}/runs.
type StartRequest struct {
	Params map[string]string `json:"params,omitempty"`
}

// StartResponse answers a start.
type StartResponse struct {
	Run string `json:"run"`
}

// RunAction is the body of POST /api/v1/runs/{id}/{verb}.
type RunAction struct {
	Verb string `json:"-"`
	Job  string `json:"job,omitempty"`
	// From is the rerun mode: failed (default), after, all, warnings.
	From string `json:"from,omitempty"`
	// By is who acts: set by the server from the caller's identity.
	By string `json:"-"`
}

// RunVerbs are the operator actions on a run.
var RunVerbs = []string{"hold", "release", "skip", "kill", "rerun"}

// RunVerbActions are the permissions of the run actions (the API's and the
// console's).
var RunVerbActions = map[string]auth.Action{
	"hold": auth.ActionRunHold, "release": auth.ActionRunRelease, "skip": auth.ActionRunSkip,
	"kill": auth.ActionRunKill, "rerun": auth.ActionRunRerun,
}

func (a *api) registerJobnets(mux *auth.Mux) {
	none := func(w http.ResponseWriter) bool {
		if a.Jobnets == nil {
			writeError(w, http.StatusNotFound, "", "this node runs no job network")
			return true
		}
		return false
	}
	mux.HandleFunc("GET /api/v1/jobnets", auth.ActionJobnetRead, func(w http.ResponseWriter, r *http.Request) {
		if none(w) {
			return
		}
		ns := a.Jobnets.Jobnets()
		if ns == nil {
			ns = []JobnetSummary{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"jobnets": ns})
	})
	mux.HandleFunc("GET /api/v1/jobnets/{name}", auth.ActionJobnetRead, func(w http.ResponseWriter, r *http.Request) {
		if none(w) {
			return
		}
		d, err := a.Jobnets.Jobnet(r.PathValue("name"))
		if err != nil {
			jobnetError(w, err, "name")
			return
		}
		writeJSON(w, http.StatusOK, d)
	})
	mux.HandleFunc("POST /api/v1/jobnets/{name}/runs", auth.ActionJobnetStart, func(w http.ResponseWriter, r *http.Request) {
		if none(w) {
			return
		}
		var req StartRequest
		if !decodeOptional(w, r, &req) {
			return
		}
		id, err := a.Jobnets.StartRun(r.Context(), r.PathValue("name"), req.Params, actor(r))
		if err != nil {
			jobnetError(w, err, "")
			return
		}
		writeJSON(w, http.StatusAccepted, StartResponse{Run: id})
	})
	mux.HandleFunc("GET /api/v1/runs", auth.ActionRunRead, func(w http.ResponseWriter, r *http.Request) {
		if none(w) {
			return
		}
		f := ledger.RunFilter{Jobnet: r.URL.Query().Get("jobnet")}
		if s := r.URL.Query().Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 1000 {
				writeError(w, http.StatusBadRequest, "limit", "want 1 to 1000")
				return
			}
			f.Limit = n
		}
		runs, err := a.Jobnets.Runs(r.Context(), f)
		if err != nil {
			jobnetError(w, err, "")
			return
		}
		if runs == nil {
			runs = []ledger.RunRecord{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
	})
	mux.HandleFunc("GET /api/v1/runs/{id}", auth.ActionRunRead, func(w http.ResponseWriter, r *http.Request) {
		if none(w) {
			return
		}
		run, err := a.Jobnets.Run(r.Context(), r.PathValue("id"))
		if err != nil {
			jobnetError(w, err, "id")
			return
		}
		writeJSON(w, http.StatusOK, run)
	})
	act := func(verb string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if none(w) {
				return
			}
			var act RunAction
			if !decodeOptional(w, r, &act) {
				return
			}
			act.Verb, act.By = verb, actor(r)
			switch act.From {
			case "", "failed", "after", "all", "warnings":
			default:
				writeError(w, http.StatusBadRequest, "from", quoteName(act.From)+": want failed, after, all or warnings")
				return
			}
			if err := a.Jobnets.ActRun(r.Context(), r.PathValue("id"), act); err != nil {
				jobnetError(w, err, "")
				return
			}
			run, err := a.Jobnets.Run(r.Context(), r.PathValue("id"))
			if err != nil {
				jobnetError(w, err, "id")
				return
			}
			writeJSON(w, http.StatusOK, run)
		}
	}
	for _, verb := range RunVerbs {
		mux.HandleFunc("POST /api/v1/runs/{id}/"+verb, RunVerbActions[verb], act(verb))
	}
}

// decodeOptional decodes a JSON body when there is one.
func decodeOptional(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "", "body: "+err.Error())
		return false
	}
	return true
}

func jobnetError(w http.ResponseWriter, err error, field string) {
	switch {
	case errors.Is(err, ErrNoJobnet), errors.Is(err, ErrNoRun):
		writeError(w, http.StatusNotFound, field, err.Error())
	case errors.Is(err, ErrInvalid):
		var fe *incident.FieldError
		if errors.As(err, &fe) {
			writeError(w, http.StatusBadRequest, fe.Field, fe.Msg)
			return
		}
		writeError(w, http.StatusBadRequest, "", err.Error())
	case errors.Is(err, ErrConflict):
		writeError(w, http.StatusConflict, "", err.Error())
	case errors.Is(err, ErrUnavailable):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "", err.Error())
	case errors.Is(err, ledger.ErrUnavailable):
		writeError(w, http.StatusServiceUnavailable, "", err.Error())
	default:
		writeError(w, http.StatusInternalServerError, "", err.Error())
	}
}

// Unavailable marks err as ErrUnavailable (503) keeping its message.
func Unavailable(err error) error { return unavailableError{err} }

type unavailableError struct{ error }

func (e unavailableError) Unwrap() []error { return []error{e.error, ErrUnavailable} }
