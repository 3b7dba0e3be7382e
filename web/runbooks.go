package web

import (
	"errors"
	"html/template"
	"net/http"

	"github.com/unyo-ops/unyo/runbooks"
)

type runbooksData struct {
	Runbooks []runbooks.Runbook
}

type runbookData struct {
	Runbook runbooks.Runbook
	// Body is the Markdown rendered by runbooks.HTML (every source
	// character escaped).
	Body template.HTML
}

// runbooksPage lists the node's runbooks.
func (s *Server) runbooksPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, "runbooks", runbooksData{Runbooks: s.d.RunbookSet().List()})
}

// runbookPage shows one runbook (the page incidents and mails link to).
func (s *Server) runbookPage(w http.ResponseWriter, r *http.Request) {
	rb, err := s.d.RunbookSet().Get(r.PathValue("id"))
	if errors.Is(err, runbooks.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, "There is no runbook by that id.")
		return
	}
	s.render(w, r, "runbook", runbookData{Runbook: rb, Body: runbooks.HTML(rb.Markdown)})
}
