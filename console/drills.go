package console

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/auth"
)

// Drills lists failover drills (node: the ledger's ledger.DrillStore).
type Drills interface {
	Drills(ctx context.Context, f ledger.DrillFilter) ([]ledger.DrillRecord, error)
	Drill(ctx context.Context, id string) (ledger.DrillRecord, error)
}

// Passwords lists rotated accounts and reveals their passwords (node:
// the ledger's ledger.PasswordStore opened with the cluster key).
type Passwords interface {
	Passwords(ctx context.Context) ([]ledger.PasswordRecord, error)
	// Reveal returns the account's password in slot (current, previous or
	// pending).
	Reveal(ctx context.Context, account, slot string) (string, error)
}

// RevealRequest is the body of POST /api/v1/passwords/reveal.
type RevealRequest struct {
	Account string `json:"account"`
	// Slot: current (default), previous or pending.
	Slot string `json:"slot,omitempty"`
}

// RevealResponse is its answer.
type RevealResponse struct {
	Account  string `json:"account"`
	Slot     string `json:"slot"`
	Password string `json:"password"`
}

func (a *api) registerDrills(mux *auth.Mux) {
	mux.HandleFunc("GET /api/v1/drills", auth.ActionDrillRead, func(w http.ResponseWriter, r *http.Request) {
		if a.Drills == nil {
			writeError(w, http.StatusNotFound, "", "this node keeps no drills")
			return
		}
		q := r.URL.Query()
		f := ledger.DrillFilter{Name: q.Get("name")}
		if m := q.Get("month"); m != "" {
			t, err := time.Parse("2006-01", m)
			if err != nil || !monthRE.MatchString(m) {
				writeError(w, http.StatusBadRequest, "month", quoteName(m)+": want YYYY-MM")
				return
			}
			f.From, f.To = t, t.AddDate(0, 1, 0)
		}
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 1000 {
				writeError(w, http.StatusBadRequest, "limit", "want 1 to 1000")
				return
			}
			f.Limit = n
		}
		ds, err := a.Drills.Drills(r.Context(), f)
		if err != nil {
			a.storeError(w, err)
			return
		}
		if ds == nil {
			ds = []ledger.DrillRecord{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"drills": ds})
	})
	mux.HandleFunc("GET /api/v1/drills/{id}", auth.ActionDrillRead, func(w http.ResponseWriter, r *http.Request) {
		if a.Drills == nil {
			writeError(w, http.StatusNotFound, "", "this node keeps no drills")
			return
		}
		d, err := a.Drills.Drill(r.Context(), r.PathValue("id"))
		if err != nil {
			a.storeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, d)
	})
	mux.HandleFunc("GET /api/v1/passwords", auth.ActionPasswordRead, func(w http.ResponseWriter, r *http.Request) {
		if a.Passwords == nil {
			writeError(w, http.StatusNotFound, "", "this node keeps no passwords")
			return
		}
		ps, err := a.Passwords.Passwords(r.Context())
		if err != nil {
			a.storeError(w, err)
			return
		}
		if ps == nil {
			ps = []ledger.PasswordRecord{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"accounts": ps})
	})
	// A reveal is a POST: the guard audits it, and the handler writes the
	// account and slot revealed into the audit log as well.
	mux.HandleFunc("POST /api/v1/passwords/reveal", auth.ActionPasswordReveal, func(w http.ResponseWriter, r *http.Request) {
		if a.Passwords == nil {
			writeError(w, http.StatusNotFound, "", "this node keeps no passwords")
			return
		}
		var q RevealRequest
		if !decodeBody(w, r, &q) {
			return
		}
		if q.Slot == "" {
			q.Slot = ledger.SlotCurrent
		}
		switch q.Slot {
		case ledger.SlotCurrent, ledger.SlotPrevious, ledger.SlotPending:
		default:
			writeError(w, http.StatusBadRequest, "slot", quoteName(q.Slot)+": want current, previous or pending")
			return
		}
		if q.Account == "" || len(q.Account) > 200 {
			writeError(w, http.StatusBadRequest, "account", "want 1 to 200 characters")
			return
		}
		pw, err := a.Passwords.Reveal(r.Context(), q.Account, q.Slot)
		result := "ok"
		if err != nil {
			result = "failed"
		}
		if a.Audit != nil {
			a.Audit(r.Context(), auth.FromRequest(r), string(auth.ActionPasswordReveal), q.Account, result, "slot "+q.Slot)
		}
		if err != nil {
			a.storeError(w, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, RevealResponse{Account: q.Account, Slot: q.Slot, Password: pw})
	})
}
