package web

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
)

// LiveRuns is an optional interface of console.Jobnets: the runs held in
// the replicated state (live and recently ended) with their jobs, read
// without the history. WatchRuns polls it; without it, it polls Runs and
// Run.
type LiveRuns interface {
	LiveRuns() []ledger.RunRecord
}

// RunEvent is the data of a "run" event.
type RunEvent struct {
	ID     string `json:"id"`
	Jobnet string `json:"jobnet"`
	Status string `json:"status"`
}

// JobEvent is the data of a "job" event.
type JobEvent struct {
	Run     string `json:"run"`
	Job     string `json:"job"`
	State   string `json:"state"`
	Attempt int    `json:"attempt"`
}

// maxWatched bounds the runs the watcher remembers.
const maxWatched = 1000

// WatchRuns publishes to the hub a "run" event when a run appears or its
// status changes and a "job" event when one of its jobs changes state or
// attempt, polling the job network every interval (default 500ms) until
// ctx ends. Open run pages redraw on them.
func (s *Server) WatchRuns(ctx context.Context, interval time.Duration) {
	if s.d.Jobnets == nil {
		return
	}
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	seen := map[string]runSeen{}
	t := time.NewTicker(interval)
	defer t.Stop()
	s.pollRuns(ctx, seen, true) // what is there now: no events
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.pollRuns(ctx, seen, false)
	}
}

type runSeen struct {
	status string
	jobs   map[string]string // job → state/attempt
	ended  bool
}

func (s *Server) pollRuns(ctx context.Context, seen map[string]runSeen, quiet bool) {
	var runs []ledger.RunRecord
	if lr, ok := s.d.Jobnets.(LiveRuns); ok {
		runs = lr.LiveRuns()
	} else {
		list, err := s.d.Jobnets.Runs(ctx, ledger.RunFilter{Limit: 50})
		if err != nil {
			return
		}
		for _, r := range list {
			if prev, ok := seen[r.ID]; ok && prev.ended && !r.Ended.IsZero() && prev.status == r.Status {
				runs = append(runs, r) // no change: no need to read its jobs
				continue
			}
			full, err := s.d.Jobnets.Run(ctx, r.ID)
			if err != nil {
				continue
			}
			runs = append(runs, full)
		}
	}
	now := map[string]bool{}
	for _, r := range runs {
		now[r.ID] = true
		prev, known := seen[r.ID]
		cur := runSeen{status: r.Status, ended: !r.Ended.IsZero(), jobs: prev.jobs}
		if len(r.Jobs) > 0 || !known {
			cur.jobs = map[string]string{}
			for _, j := range latestAttempts(r) {
				cur.jobs[j.Job] = j.State + "/" + strconv.Itoa(j.Attempt)
			}
		}
		changed := !known || prev.status != cur.status || prev.ended != cur.ended
		for job, st := range cur.jobs {
			if known && !quiet && prev.jobs[job] != st {
				changed = true
				state, att, _ := strings.Cut(st, "/")
				n, _ := strconv.Atoi(att)
				s.d.Hub.Publish("job", JobEvent{Run: r.ID, Job: job, State: state, Attempt: n})
			}
		}
		if changed && !quiet {
			s.d.Hub.Publish("run", RunEvent{ID: r.ID, Jobnet: r.Jobnet, Status: r.Status})
		}
		if len(seen) < maxWatched || known {
			seen[r.ID] = cur
		}
	}
	for id := range seen {
		if !now[id] {
			delete(seen, id)
		}
	}
}
