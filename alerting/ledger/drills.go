package ledger

import (
	"context"
	"time"
)

// DrillStore keeps the results of failover drills (job kind drill): one
// record per drill with its measured RTO and RPO, its targets and how it
// ended. It is an optional interface (both stores in this module
// implement it).
//
// Rules every implementation keeps (alerting/ledger/internal/plan):
//   - RecordDrill is an upsert by ID: recording the same drill again (a
//     retry, the end after the start) replaces it.
//   - Drills lists newest first (by start, then id), optionally only one
//     name and only drills started in [From, To); Drill returns one or an
//     error wrapping incident.ErrNotFound.
type DrillStore interface {
	RecordDrill(ctx context.Context, d DrillRecord) error
	Drills(ctx context.Context, f DrillFilter) ([]DrillRecord, error)
	Drill(ctx context.Context, id string) (DrillRecord, error)
}

// Drill results.
const (
	DrillRunning = "running"
	DrillPassed  = "passed"
	DrillFailed  = "failed"
	DrillAborted = "aborted" // a stop condition fired; rolled back
)

// DrillRecord is one failover drill.
type DrillRecord struct {
	ID   string `json:"id"`
	Name string `json:"name"` // jobnet/job
	Kind string `json:"kind"` // platform or external
	Run  string `json:"run,omitempty"`
	By   string `json:"by,omitempty"`
	// Started is when the drill began (the canary starts then); Injected
	// when the fault (leadership move, switchover) was injected; Served
	// when the path under test served again; Ended when it finished.
	Started  time.Time `json:"started"`
	Injected time.Time `json:"injected,omitzero"`
	Served   time.Time `json:"served,omitzero"`
	Ended    time.Time `json:"ended,omitzero"`
	// RTO = Served - Injected; RPO is the writes acknowledged but lost
	// (last acknowledged minus highest surviving sequence) and RPOTime
	// the canary time they span.
	RTO       time.Duration `json:"rto"`
	RPO       int64         `json:"rpo"`
	RPOTime   time.Duration `json:"rpo_time"`
	TargetRTO time.Duration `json:"target_rto,omitempty"`
	TargetRPO int64         `json:"target_rpo"`
	Result    string        `json:"result"`
	Reason    string        `json:"reason,omitempty"`
	// Steps are the drill's timeline, for unyo drill show.
	Steps []DrillStep `json:"steps,omitempty"`
}

// DrillStep is one line of a drill's timeline.
type DrillStep struct {
	At   time.Time `json:"at"`
	What string    `json:"what"`
}

// DrillFilter selects drills.
type DrillFilter struct {
	Name     string
	From, To time.Time // zero: unbounded
	// Limit caps the answer (default 100, at most 1000).
	Limit int
}
