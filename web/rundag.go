package web

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/internal/dag"
)

// latestAttempts returns each job's latest attempt in the run, in the
// run's order (a history holds every attempt, a live run the last).
func latestAttempts(run ledger.RunRecord) []ledger.JobRecord {
	var out []ledger.JobRecord
	at := map[string]int{}
	for _, j := range run.Jobs {
		i, ok := at[j.Job]
		switch {
		case !ok:
			at[j.Job] = len(out)
			out = append(out, j)
		case j.Attempt >= out[i].Attempt:
			out[i] = j
		}
	}
	return out
}

// runJobs are a run's jobs for the DAG: each job's latest state, its
// needs from the jobnet's definition (def may be the zero value when the
// jobnet is no longer configured: the jobs are drawn without needs).
// Needs on jobs the run does not have are left out.
func runJobs(def console.JobnetDetail, run ledger.RunRecord) []dag.Job {
	needs := map[string][]string{}
	for _, j := range def.Jobs {
		needs[j.Name] = j.Needs
	}
	latest := latestAttempts(run)
	in := map[string]bool{}
	for _, j := range latest {
		in[j.Job] = true
	}
	out := make([]dag.Job, 0, len(latest))
	for _, j := range latest {
		dj := dag.Job{Name: j.Job, State: j.State, Note: jobNote(j)}
		for _, n := range needs[j.Job] {
			if in[n] {
				dj.Needs = append(dj.Needs, n)
			}
		}
		out = append(out, dj)
	}
	return out
}

// defJobs are a jobnet definition's jobs for the DAG, without states.
func defJobs(def console.JobnetDetail) []dag.Job {
	out := make([]dag.Job, 0, len(def.Jobs))
	for _, j := range def.Jobs {
		note := j.Kind
		if j.RunOn != "" {
			note = strings.TrimSpace(note + " on " + j.RunOn)
		}
		out = append(out, dag.Job{Name: j.Name, Needs: j.Needs, Note: note})
	}
	return out
}

func jobNote(j ledger.JobRecord) string {
	var parts []string
	if j.Attempt > 0 {
		parts = append(parts, "attempt "+strconv.Itoa(j.Attempt))
	}
	if j.Code != nil {
		parts = append(parts, "code "+strconv.Itoa(*j.Code))
	}
	if j.Where != "" {
		parts = append(parts, "on "+j.Where)
	}
	if !j.Started.IsZero() && !j.Ended.IsZero() {
		parts = append(parts, fmt.Sprintf("took %s", j.Ended.Sub(j.Started).Round(100_000_000)))
	}
	if j.Reason != "" {
		parts = append(parts, j.Reason)
	}
	return strings.Join(parts, ", ")
}
