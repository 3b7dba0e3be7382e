package web

import (
	"errors"
	"net/http"
	"path/filepath"
	"slices"

	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/report"
)

type reportsData struct {
	Reports []reportRow
	None    bool // the node makes no reports
}

type reportRow struct {
	report.Entry
	Names []string // its files, report.html first
}

// reportsPage lists the stored monthly reports (kept in the ledger, so
// every node lists the same), with links to their files.
func (s *Server) reportsPage(w http.ResponseWriter, r *http.Request) {
	d := reportsData{}
	if s.d.Reports == nil {
		d.None = true
		s.render(w, r, "reports", d)
		return
	}
	l, err := s.d.Reports.List(r.Context())
	if err != nil {
		s.storeFail(w, r, "reports", err)
		return
	}
	for _, e := range l {
		row := reportRow{Entry: e}
		for n := range e.Files {
			row.Names = append(row.Names, n)
		}
		slices.SortFunc(row.Names, func(a, b string) int {
			switch {
			case a == report.HTMLFile:
				return -1
			case b == report.HTMLFile:
				return 1
			}
			return cmpStr(a, b)
		})
		d.Reports = append(d.Reports, row)
	}
	s.render(w, r, "reports", d)
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// reportFile serves one file of a stored report to a logged-in user with
// the same action as the API (report.read): the HTML opens in the
// browser (no script allowed), the others download.
func (s *Server) reportFile(w http.ResponseWriter, r *http.Request) {
	if s.d.Reports == nil {
		s.fail(w, r, http.StatusNotFound, "This node makes no reports.")
		return
	}
	name := r.PathValue("file")
	b, made, err := s.d.Reports.Open(r.Context(), r.PathValue("id"), name)
	if errors.Is(err, report.ErrNoReport) {
		s.fail(w, r, http.StatusNotFound, "There is no such report file.")
		return
	}
	if err != nil {
		s.storeFail(w, r, "report", err)
		return
	}
	ct := map[string]string{".html": "text/html; charset=utf-8", ".json": "application/json", ".csv": "text/csv; charset=utf-8",
		".pdf": "application/pdf"}[filepath.Ext(name)]
	console.ServeReportFile(w, r, name, ct, b, made)
}
