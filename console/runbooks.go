package console

import (
	"errors"
	"net/http"

	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/runbooks"
)

// RunbookSet is the node's runbooks (Deps.Runbooks), or the built-ins.
func (d Deps) RunbookSet() *runbooks.Set {
	if d.Runbooks != nil {
		if s := d.Runbooks(); s != nil {
			return s
		}
	}
	return runbooks.Builtin()
}

func (a *api) registerRunbooks(mux *auth.Mux) {
	mux.HandleFunc("GET /api/v1/runbooks", auth.ActionRunbookRead, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"runbooks": a.RunbookSet().List()})
	})
	mux.HandleFunc("GET /api/v1/runbooks/{id}", auth.ActionRunbookRead, func(w http.ResponseWriter, r *http.Request) {
		rb, err := a.RunbookSet().Get(r.PathValue("id"))
		if errors.Is(err, runbooks.ErrNotFound) {
			writeError(w, http.StatusNotFound, "", "no runbook "+quoteName(r.PathValue("id")))
			return
		}
		writeJSON(w, http.StatusOK, rb)
	})
}
