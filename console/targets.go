package console

import (
	"errors"
	"net/http"
	"time"

	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/monitor/target"
	"github.com/unyo-ops/unyo/monitor/threshold"
)

// Targets is what the monitor shows of its targets: the node implements it
// over the scheduler's check states (node/monitor.go). Nil when the node
// runs no monitor; the endpoints then answer 404 with a message saying so.
type Targets interface {
	// Targets lists every monitored target, by name.
	Targets() []TargetSummary
	// Target returns one target with its recent results, or ErrNoTarget.
	Target(name string) (TargetDetail, error)
}

// ErrNoTarget is returned by Targets.Target for an unknown name.
var ErrNoTarget = errors.New("no such target")

// TargetSummary is one row of GET /api/v1/targets.
type TargetSummary struct {
	Name    string            `json:"name"`
	Address string            `json:"address"`
	Site    string            `json:"site,omitempty"`
	Parent  string            `json:"parent,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
	// Status is down when any check is down, unknown before every check
	// has a verdict, else up (a check unreachable because the target's
	// ping is down has a verdict; the ping check makes the target down).
	Status target.Status  `json:"status"`
	Checks []CheckSummary `json:"checks"`
	// LastCheck is the time of the newest result of any check.
	LastCheck *time.Time `json:"last_check,omitempty"`
	// LastRTT is the average round trip of the last ping check that got a
	// reply, in seconds.
	LastRTT *float64 `json:"last_rtt_seconds,omitempty"`
}

// CheckSummary is one check of a target.
type CheckSummary struct {
	Check               string        `json:"check"`
	Status              target.Status `json:"status"`
	Since               time.Time     `json:"since"`
	ConsecutiveFailures int           `json:"consecutive_failures"`
	LastCheck           *time.Time    `json:"last_check,omitempty"`
	OK                  bool          `json:"ok"`
	Message             string        `json:"message,omitempty"`
}

// TargetDetail is the body of GET /api/v1/targets/{name}: the summary, each
// check's recent results and failures (why the last failed check failed:
// Checks[i].LastFailure), and the threshold rules not at ok.
type TargetDetail struct {
	TargetSummary
	Results    []target.Snapshot `json:"results"`
	Thresholds []ThresholdState  `json:"thresholds,omitempty"`
}

// ThresholdState is a threshold series not at ok.
type ThresholdState struct {
	Rule   string `json:"rule"`
	Labels string `json:"labels,omitempty"`
	Level  string `json:"level"`
}

// Summarize builds a target's summary from its check states.
func Summarize(t target.Target, snaps []target.Snapshot) TargetSummary {
	s := TargetSummary{Name: t.Name, Address: t.Address, Site: t.Site, Parent: t.Parent, Tags: t.Tags, Status: target.Unknown, Checks: []CheckSummary{}}
	known, down := 0, false
	for _, sn := range snaps {
		c := CheckSummary{Check: sn.Check, Status: sn.Status, Since: sn.Since, ConsecutiveFailures: sn.ConsecutiveFailures}
		if sn.Last != nil {
			at := sn.Last.Time
			c.LastCheck, c.OK, c.Message = &at, sn.Last.OK, sn.Last.Message
			if s.LastCheck == nil || at.After(*s.LastCheck) {
				s.LastCheck = &at
			}
		}
		if sn.Check == "ping" {
			for i := len(sn.Recent) - 1; i >= 0; i-- {
				if v, ok := sn.Recent[i].Values["rtt_avg_seconds"]; ok {
					s.LastRTT = &v
					break
				}
			}
		}
		switch sn.Status {
		case target.Down:
			down = true
			known++
		case target.Up, target.Unreachable:
			known++
		}
		s.Checks = append(s.Checks, c)
	}
	switch {
	case down:
		s.Status = target.Down
	case known > 0 && known == len(snaps):
		s.Status = target.Up
	}
	return s
}

// ThresholdStates converts the threshold engine's problems of one target.
func ThresholdStates(name string, ps []threshold.State) []ThresholdState {
	var out []ThresholdState
	for _, p := range ps {
		if p.Target == name {
			out = append(out, ThresholdState{Rule: p.Rule, Labels: p.Labels, Level: p.Level.String()})
		}
	}
	return out
}

func (a *api) registerTargets(mux *auth.Mux) {
	mux.HandleFunc("GET /api/v1/targets", auth.ActionTargetRead, func(w http.ResponseWriter, r *http.Request) {
		if a.Targets == nil {
			writeError(w, http.StatusNotFound, "", "this node runs no monitor (configure monitor.targets)")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"targets": a.Targets.Targets()})
	})
	mux.HandleFunc("GET /api/v1/targets/{name}", auth.ActionTargetRead, func(w http.ResponseWriter, r *http.Request) {
		if a.Targets == nil {
			writeError(w, http.StatusNotFound, "", "this node runs no monitor (configure monitor.targets)")
			return
		}
		d, err := a.Targets.Target(r.PathValue("name"))
		if errors.Is(err, ErrNoTarget) {
			writeError(w, http.StatusNotFound, "name", "no target named "+quoteName(r.PathValue("name")))
			return
		}
		if err != nil {
			writeError(w, http.StatusInternalServerError, "", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, d)
	})
}

func quoteName(s string) string {
	if len(s) > 128 {
		s = s[:128]
	}
	return `"` + s + `"`
}
