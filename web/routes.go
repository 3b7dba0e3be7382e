package web

import (
	"io/fs"
	"net/http"

	"github.com/unyo-ops/unyo/auth"
)

// routes registers every page, each with the action it performs (the
// permission table, auth/actions.go). Add a page here: one line, its
// handler in its own file.
func (s *Server) routes(m *auth.Mux) {
	static, _ := fs.Sub(staticFS, "static")
	files := http.FileServerFS(static)
	m.Handle("GET /static/", auth.Public, http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})))
	m.HandleFunc("GET /login", auth.Public, s.loginPage)
	m.HandleFunc("POST /login", auth.Public, s.login)
	m.HandleFunc("POST /logout", auth.ActionSelf, s.logout)
	m.HandleFunc("GET /events", auth.ActionWebView, s.events)

	m.HandleFunc("GET /{$}", auth.ActionWebView, s.overview)                     // overview.go
	m.HandleFunc("GET /incidents", auth.ActionIncidentRead, s.incidents)         // incidents.go
	m.HandleFunc("POST /incidents/ack", auth.ActionIncidentAck, s.bulkAck)       // incidents.go
	m.HandleFunc("GET /incidents/{id}", auth.ActionIncidentRead, s.incidentPage) // incident.go
	m.HandleFunc("POST /incidents/{id}/ack", auth.ActionIncidentAck, s.incidentAction("ack"))
	m.HandleFunc("POST /incidents/{id}/comment", auth.ActionIncidentComment, s.incidentAction("comment"))
	m.HandleFunc("POST /incidents/{id}/resolve", auth.ActionIncidentResolve, s.incidentAction("resolve"))
	m.HandleFunc("POST /incidents/{id}/close", auth.ActionIncidentClose, s.incidentAction("close"))
	m.HandleFunc("POST /incidents/{id}/report", auth.ActionIncidentReport, s.incidentReport)
	m.HandleFunc("GET /targets/{name}", auth.ActionTargetRead, s.targetPage)            // target.go
	m.HandleFunc("GET /maintenance", auth.ActionMaintenanceRead, s.maintenance)         // maintenance.go
	m.HandleFunc("POST /maintenance", auth.ActionMaintenanceWrite, s.addMaintenance)    // maintenance.go
	m.HandleFunc("POST /maintenance/{id}/end", auth.ActionMaintenanceWrite, s.endMaint) // maintenance.go
	m.HandleFunc("GET /oncall", auth.ActionOnCallRead, s.oncall)                        // oncall.go
	m.HandleFunc("GET /audit", auth.ActionAuditRead, s.audit)                           // audit.go
	m.HandleFunc("GET /reports", auth.ActionReportRead, s.reportsPage)                  // reports.go
	m.HandleFunc("GET /reports/{id}/{file}", auth.ActionReportRead, s.reportFile)       // reports.go
	m.HandleFunc("GET /runbooks", auth.ActionRunbookRead, s.runbooksPage)               // runbooks.go
	m.HandleFunc("GET /runbooks/{id}", auth.ActionRunbookRead, s.runbookPage)           // runbooks.go
	m.HandleFunc("GET /agents", auth.ActionAgentRead, s.agentsPage)                     // agents.go
	m.HandleFunc("GET /agents/{name}", auth.ActionAgentRead, s.agentPage)               // agents.go
	s.jobRoutes(m)                                                                      // jobnets.go, runs.go

	// Anything else under the console is a 404 page (for a logged-in
	// viewer; the guard sends others to the login page first).
	m.HandleFunc("GET /", auth.ActionWebView, func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "There is no page at this address.")
	})
}
