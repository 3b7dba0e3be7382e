package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/unyo-ops/unyo/auth"
)

type auditData struct {
	Entries []auth.AuditEntry
	Actor   string
	Newer   int64 // after= of the next page (entries are oldest first)
	Error   string
}

// auditPage is how many entries one page shows.
const auditPage = 200

func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	if s.d.Auth == nil {
		s.fail(w, r, http.StatusServiceUnavailable, "Identities are not available on this node.")
		return
	}
	q := r.URL.Query()
	d := auditData{Actor: strings.TrimSpace(q.Get("actor"))}
	f := auth.AuditFilter{Actor: d.Actor, Limit: auditPage}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			d.Error = "after: want an entry number"
			s.renderStatus(w, r, http.StatusBadRequest, "audit", d)
			return
		}
		f.AfterSeq = n
	}
	if len(d.Actor) > 128 {
		d.Error = "actor: at most 128 bytes"
		s.renderStatus(w, r, http.StatusBadRequest, "audit", d)
		return
	}
	if !q.Has("after") {
		// The newest page: find where it starts.
		last, err := s.d.Auth.Store().ListAudit(r.Context(), auth.AuditFilter{Actor: d.Actor, Limit: 10000})
		if err != nil {
			s.storeFail(w, r, "audit entries", err)
			return
		}
		if len(last) > auditPage {
			f.AfterSeq = last[len(last)-auditPage-1].Seq
		}
	}
	es, err := s.d.Auth.Store().ListAudit(r.Context(), f)
	if err != nil {
		s.storeFail(w, r, "audit entries", err)
		return
	}
	if len(es) == auditPage {
		d.Newer = es[len(es)-1].Seq
	}
	// Newest first on screen.
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
	d.Entries = es
	s.render(w, r, "audit", d)
}
