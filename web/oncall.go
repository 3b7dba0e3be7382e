package web

import (
	"net/http"
	"time"

	"github.com/unyo-ops/unyo/alerting/escalation"
)

type oncallData struct {
	At    time.Time
	Roles []escalation.OnCall
	None  bool // alerting is not configured on this node
}

func (s *Server) oncall(w http.ResponseWriter, r *http.Request) {
	d := oncallData{At: s.d.Now()}
	if s.d.Alerting.OnCall == nil {
		d.None = true
	} else {
		d.Roles = s.d.Alerting.OnCall(d.At)
	}
	s.render(w, r, "oncall", d)
}
