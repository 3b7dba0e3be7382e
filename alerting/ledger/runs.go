package ledger

import (
	"context"
	"time"
)

// RunHistoryStore keeps the history of job network runs: every run and
// every attempt of every job, with its start, end, end code and the tail
// of its output. It is an optional interface (both stores in this module
// implement it); the Raft state holds only live runs, this holds them all.
//
// Rules every implementation keeps:
//   - RecordRun is an upsert: the run row by ID, each job row by (run,
//     job, attempt). Recording the same run again (a retry, a new leader
//     writing what the old one wrote) changes nothing but what moved on.
//   - Runs lists newest first (by creation, then id) without jobs;
//     RunDetail returns one run with every attempt of every job, oldest
//     attempt first, or an error wrapping incident.ErrNotFound.
type RunHistoryStore interface {
	RecordRun(ctx context.Context, r RunRecord) error
	Runs(ctx context.Context, f RunFilter) ([]RunRecord, error)
	RunDetail(ctx context.Context, id string) (RunRecord, error)
}

// RunRecord is one run of a jobnet.
type RunRecord struct {
	ID        string            `json:"id"`
	Jobnet    string            `json:"jobnet"`
	Scheduled time.Time         `json:"scheduled"`
	Trigger   string            `json:"trigger"`
	By        string            `json:"by,omitempty"`
	Params    map[string]string `json:"params,omitempty"`
	Parent    string            `json:"parent,omitempty"`
	Status    string            `json:"status"`
	Created   time.Time         `json:"created"`
	Ended     time.Time         `json:"ended,omitzero"`
	Gen       int               `json:"gen,omitempty"`
	Jobs      []JobRecord       `json:"jobs,omitempty"`
}

// JobRecord is one attempt of one job (attempt 0: never started).
type JobRecord struct {
	Run     string    `json:"run"`
	Job     string    `json:"job"`
	Attempt int       `json:"attempt"`
	State   string    `json:"state"`
	Code    *int      `json:"code,omitempty"`
	Where   string    `json:"where,omitempty"`
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
	Output  string    `json:"output,omitempty"`
	Reason  string    `json:"reason,omitempty"`
}

// RunFilter selects runs.
type RunFilter struct {
	Jobnet string
	// Limit caps the answer (default 100, at most 1000).
	Limit int
}
