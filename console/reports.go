package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"time"

	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/report"
)

// Reports makes, keeps and serves monthly performance reports; the node
// implements it (node/report.go). Nil: the endpoints answer 404.
type Reports interface {
	// Make builds, stores and returns the report of a month (YYYY-MM) and
	// picked day (YYYY-MM-DD, "" for the busiest), telling progress.
	Make(ctx context.Context, month, day, by string, progress func(stage string, done, total int)) (report.Entry, error)
	List(ctx context.Context) ([]report.Entry, error)
	// Open returns the bytes of a stored file and when its report was
	// made, or report.ErrNoReport.
	Open(ctx context.Context, id, name string) ([]byte, time.Time, error)
}

// MakeReportRequest is the body of POST /api/v1/reports/monthly.
type MakeReportRequest struct {
	Month string `json:"month"`
	Day   string `json:"day,omitempty"`
}

// ReportProgress is one line of the answer of POST /api/v1/reports/monthly
// (application/x-ndjson): progress lines, then one with Report or Error.
type ReportProgress struct {
	Stage  string        `json:"stage,omitempty"`
	Done   int           `json:"done"`
	Total  int           `json:"total"`
	Report *report.Entry `json:"report,omitempty"`
	Error  string        `json:"error,omitempty"`
}

// MakeReportTimeout bounds making one report through the API.
const MakeReportTimeout = 15 * time.Minute

var (
	monthRE = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)
	dayRE   = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

// CheckReportRequest validates a month and day.
func CheckReportRequest(q MakeReportRequest) (field string, err error) {
	if !monthRE.MatchString(q.Month) {
		return "month", fmt.Errorf("%q: want YYYY-MM", q.Month)
	}
	if q.Day == "" {
		return "", nil
	}
	d, err := time.Parse(time.DateOnly, q.Day)
	if !dayRE.MatchString(q.Day) || err != nil {
		return "day", fmt.Errorf("%q: want YYYY-MM-DD", q.Day)
	}
	if d.Format("2006-01") != q.Month {
		return "day", fmt.Errorf("%s is not in %s", q.Day, q.Month)
	}
	return "", nil
}

// ServeReportFile answers one stored report file (the API and the
// console): its type, no sniffing, no script, ranges and If-Modified-Since.
func ServeReportFile(w http.ResponseWriter, r *http.Request, name, ct string, b []byte, made time.Time) {
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	// The page has no script; forbid any all the same.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	if ct != "text/html; charset=utf-8" {
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	}
	http.ServeContent(w, r, name, made, bytes.NewReader(b))
}

func (a *api) registerReports(mux *auth.Mux) {
	none := func(w http.ResponseWriter) bool {
		if a.Reports == nil {
			writeError(w, http.StatusNotFound, "", "this node makes no reports")
			return true
		}
		return false
	}
	mux.HandleFunc("GET /api/v1/reports", auth.ActionReportRead, func(w http.ResponseWriter, r *http.Request) {
		if none(w) {
			return
		}
		l, err := a.Reports.List(r.Context())
		if err != nil {
			writeError(w, http.StatusInternalServerError, "", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"reports": l})
	})
	mux.HandleFunc("GET /api/v1/reports/{id}/{file}", auth.ActionReportRead, func(w http.ResponseWriter, r *http.Request) {
		if none(w) {
			return
		}
		name := r.PathValue("file")
		b, made, err := a.Reports.Open(r.Context(), r.PathValue("id"), name)
		if errors.Is(err, report.ErrNoReport) {
			writeError(w, http.StatusNotFound, "", "no report file "+quoteName(r.PathValue("id")+"/"+r.PathValue("file")))
			return
		}
		if err != nil {
			writeError(w, http.StatusInternalServerError, "", err.Error())
			return
		}
		ct := map[string]string{".html": "text/html; charset=utf-8", ".json": "application/json", ".csv": "text/csv; charset=utf-8",
			".pdf": "application/pdf"}[filepath.Ext(name)]
		ServeReportFile(w, r, name, ct, b, made)
	})
	mux.HandleFunc("POST /api/v1/reports/monthly", auth.ActionReportMake, func(w http.ResponseWriter, r *http.Request) {
		if none(w) {
			return
		}
		var q MakeReportRequest
		if !decodeBody(w, r, &q) {
			return
		}
		if f, err := CheckReportRequest(q); err != nil {
			writeError(w, http.StatusBadRequest, f, err.Error())
			return
		}
		id := auth.FromRequest(r)
		// A month of many servers and its PDF may outlast the server's
		// write timeout.
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(MakeReportTimeout))
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		enc := json.NewEncoder(w)
		// Through the auth middleware's writer (no Flush of its own, but
		// Unwrap): a type assertion to http.Flusher fails there and the
		// lines would come all at the end.
		rc := http.NewResponseController(w)
		send := func(p ReportProgress) {
			_ = enc.Encode(p)
			_ = rc.Flush()
		}
		ctx, cancel := context.WithTimeout(r.Context(), MakeReportTimeout)
		defer cancel()
		e, err := a.Reports.Make(ctx, q.Month, q.Day, id.Name, func(stage string, done, total int) {
			send(ReportProgress{Stage: stage, Done: done, Total: total})
		})
		if err != nil {
			a.Logger.Warn("monthly report", "month", q.Month, "err", err)
			send(ReportProgress{Error: err.Error()})
			return
		}
		send(ReportProgress{Report: &e, Done: 1, Total: 1})
	})
}
