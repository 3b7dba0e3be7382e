package runstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// JobState is where a job of a run stands.
type JobState string

// Job states.
const (
	Waiting       JobState = "waiting"        // needs not met yet, or waiting for a retry
	Held          JobState = "held"           // due, waiting for an operator's release
	Ready         JobState = "ready"          // due; the leader starts it
	Running       JobState = "running"        // dispatched to an executor
	EndedNormal   JobState = "ended-normal"   // end code judged normal
	EndedWarning  JobState = "ended-warning"  // end code judged warning
	EndedAbnormal JobState = "ended-abnormal" // end code judged abnormal, or failed to start
	Skipped       JobState = "skipped"        // by an operator or a precondition; counts as met
	Killed        JobState = "killed"         // by an operator, or its run was replaced
	Lost          JobState = "lost"           // its executor went away past its lease
)

// Final reports whether s is an end state.
func (s JobState) Final() bool {
	switch s {
	case EndedNormal, EndedWarning, EndedAbnormal, Skipped, Killed, Lost:
		return true
	}
	return false
}

// Satisfies reports whether a job in state s lets the jobs that need it go.
func (s JobState) Satisfies() bool { return s == EndedNormal || s == EndedWarning || s == Skipped }

// Run statuses (Run.Status).
const (
	StatusRunning = "running"
	StatusNormal  = "ended-normal"
	StatusWarning = "ended-warning"
	StatusAbnorm  = "ended-abnormal"
	StatusKilled  = "killed"
)

// Rerun modes (JP1's): from the failed job, from the jobs after it, the
// whole jobnet, only the jobs that ended with a warning.
const (
	RerunFailed   = "failed"
	RerunAfter    = "after"
	RerunAll      = "all"
	RerunWarnings = "warnings"
)

// State is the replicated job-network state: the watermark of fired
// schedule times per jobnet and the live runs.
type State struct {
	// Fired is, per jobnet, the latest scheduled time that has been fired
	// (or deliberately passed over). A schedule firing at or before it is
	// never fired again.
	Fired map[string]time.Time `json:"fired,omitempty"`
	Runs  map[string]*Run      `json:"runs,omitempty"`
}

// Run is one run of a jobnet.
type Run struct {
	ID        string    `json:"id"`
	Jobnet    string    `json:"jobnet"`
	Scheduled time.Time `json:"scheduled"`
	// Trigger: schedule, file, event, operator, nested.
	Trigger string            `json:"trigger"`
	By      string            `json:"by,omitempty"`
	Params  map[string]string `json:"params,omitempty"`
	// Parent is "runID/job" for a nested run.
	Parent string `json:"parent,omitempty"`
	// Def is the hash of the jobnet's definition the run was created
	// with (Fire.Def); empty for runs created before it was recorded.
	Def     string    `json:"def,omitempty"`
	Created time.Time `json:"created"`
	Ended   time.Time `json:"ended,omitzero"`
	Status  string    `json:"status"`
	// Gen counts reruns.
	Gen int `json:"gen,omitempty"`
	// Order is the jobs in configuration order.
	Order []string        `json:"order"`
	Jobs  map[string]*Job `json:"jobs"`
	// Flags records what the leader has done once (a delay incident
	// raised), so a new leader does not do it again.
	Flags []string `json:"flags,omitempty"`
}

// Job is one job of a run.
type Job struct {
	State JobState `json:"state"`
	Needs []string `json:"needs,omitempty"`
	Hold  bool     `json:"hold,omitempty"` // held when due, until released
	// Attempt counts starts over the run's life, reruns included; an
	// executor's answer names the attempt it is for.
	Attempt  int       `json:"attempt,omitempty"`
	Tries    int       `json:"tries,omitempty"` // starts since the last rerun or release (retries)
	NextAt   time.Time `json:"next_at,omitzero"`
	Where    string    `json:"where,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Ended    time.Time `json:"ended,omitzero"`
	Code     *int      `json:"code,omitempty"`
	Output   string    `json:"output,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Killing  bool      `json:"killing,omitempty"`
	Released bool      `json:"released,omitempty"`
	Flags    []string  `json:"flags,omitempty"`
}

// Op kinds.
const (
	OpMark    = "mark"    // advance a jobnet's watermark
	OpFire    = "fire"    // create a run
	OpStart   = "start"   // a job was dispatched
	OpEnd     = "end"     // a job's executor answered
	OpSettle  = "settle"  // end a job that is not running (precondition, nested)
	OpLost    = "lost"    // a running job's executor went away
	OpHold    = "hold"    // operator
	OpRelease = "release" // operator
	OpSkip    = "skip"    // operator
	OpKill    = "kill"    // operator
	OpRerun   = "rerun"   // operator
	OpFlag    = "flag"    // record a one-time action
	OpArchive = "archive" // forget an ended run (its history is in the ledger)
)

// Op is one change of the state. It is the payload of the cluster's
// jobnet command and a line of the single-node log.
type Op struct {
	Kind    string `json:"kind"`
	Jobnet  string `json:"jobnet,omitempty"`
	Run     string `json:"run,omitempty"`
	Job     string `json:"job,omitempty"`
	Attempt int    `json:"attempt,omitempty"`
	// Time: the watermark (mark, fire of a schedule).
	Time time.Time `json:"time,omitzero"`
	// Fire: the new run.
	Fire *Fire `json:"fire,omitempty"`
	// Start, End, Settle, Lost.
	Where  string   `json:"where,omitempty"`
	State  JobState `json:"state,omitempty"`
	Code   *int     `json:"code,omitempty"`
	Output string   `json:"output,omitempty"`
	Reason string   `json:"reason,omitempty"`
	// RetryAt, on End: the job waits and starts again then.
	RetryAt time.Time `json:"retry_at,omitzero"`
	// Mode of a rerun; Flag of a flag op.
	Mode string `json:"mode,omitempty"`
	Flag string `json:"flag,omitempty"`
	By   string `json:"by,omitempty"`
}

// Fire describes a new run.
type Fire struct {
	ID        string            `json:"id"`
	Scheduled time.Time         `json:"scheduled"`
	Trigger   string            `json:"trigger"`
	Params    map[string]string `json:"params,omitempty"`
	Parent    string            `json:"parent,omitempty"`
	Jobs      []JobSpec         `json:"jobs"`
	// Def identifies the jobnet's definition the run is created with (a
	// hash of it): a run in progress keeps that definition when the
	// configuration changes.
	Def string `json:"def,omitempty"`
}

// JobSpec is a job as the run is created with.
type JobSpec struct {
	Name  string   `json:"name"`
	Needs []string `json:"needs,omitempty"`
	Hold  bool     `json:"hold,omitempty"`
}

// Errors of Apply. A rejected op leaves the state unchanged.
var (
	// ErrBadOp: the op is malformed.
	ErrBadOp = errors.New("jobnet: bad op")
	// ErrFired: the scheduled time is at or before the jobnet's watermark
	// (it has fired already); a retried fire gets it too.
	ErrFired = errors.New("jobnet: already fired")
	// ErrExists: a run with this id exists.
	ErrExists = errors.New("jobnet: run exists")
	// ErrNoRun / ErrNoJob: not in the state (an archived run).
	ErrNoRun = errors.New("jobnet: no such run")
	ErrNoJob = errors.New("jobnet: no such job")
	// ErrState: the op does not apply in the current state (a stale
	// answer, a second start, a rerun of a live run).
	ErrState = errors.New("jobnet: not in a state for this")
)

// New returns an empty state.
func New() *State { return &State{Fired: map[string]time.Time{}, Runs: map[string]*Run{}} }

// Clone returns a deep copy.
func (s *State) Clone() *State {
	if s == nil {
		return nil
	}
	out := &State{Fired: maps.Clone(s.Fired), Runs: make(map[string]*Run, len(s.Runs))}
	if out.Fired == nil {
		out.Fired = map[string]time.Time{}
	}
	for id, r := range s.Runs {
		out.Runs[id] = r.Clone()
	}
	return out
}

// Clone returns a deep copy of r.
func (r *Run) Clone() *Run {
	c := *r
	c.Params = maps.Clone(r.Params)
	c.Order = slices.Clone(r.Order)
	c.Flags = slices.Clone(r.Flags)
	c.Jobs = make(map[string]*Job, len(r.Jobs))
	for n, j := range r.Jobs {
		jc := *j
		jc.Needs = slices.Clone(j.Needs)
		jc.Flags = slices.Clone(j.Flags)
		if j.Code != nil {
			v := *j.Code
			jc.Code = &v
		}
		c.Jobs[n] = &jc
	}
	return &c
}

// Decode reads an Op from JSON.
func Decode(b []byte) (Op, error) {
	var op Op
	if err := json.Unmarshal(b, &op); err != nil {
		return op, fmt.Errorf("%w: %v", ErrBadOp, err)
	}
	return op, nil
}

// Apply applies op at time at (the proposer's clock, carried in the
// command). It is deterministic: it reads only the state, op and at. It
// validates fully before it changes anything, so a rejected op leaves the
// state as it was.
func (s *State) Apply(at time.Time, op Op) error {
	if s.Fired == nil {
		s.Fired = map[string]time.Time{}
	}
	if s.Runs == nil {
		s.Runs = map[string]*Run{}
	}
	at = at.UTC()
	switch op.Kind {
	case OpMark:
		if op.Jobnet == "" || op.Time.IsZero() {
			return fmt.Errorf("%w: mark needs jobnet and time", ErrBadOp)
		}
		if w, ok := s.Fired[op.Jobnet]; ok && !op.Time.After(w) {
			return nil // never moves back
		}
		s.Fired[op.Jobnet] = op.Time.UTC()
		return nil
	case OpFire:
		return s.fire(at, op)
	case OpArchive:
		r, ok := s.Runs[op.Run]
		if !ok {
			return nil // archived already
		}
		if r.Status == StatusRunning {
			return fmt.Errorf("%w: run %s is live", ErrState, op.Run)
		}
		delete(s.Runs, op.Run)
		return nil
	}
	r, ok := s.Runs[op.Run]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoRun, op.Run)
	}
	var j *Job
	if op.Job != "" {
		if j, ok = r.Jobs[op.Job]; !ok {
			return fmt.Errorf("%w: %q in run %s", ErrNoJob, op.Job, op.Run)
		}
	}
	needJob := func() error {
		if j == nil {
			return fmt.Errorf("%w: %s needs a job", ErrBadOp, op.Kind)
		}
		return nil
	}
	switch op.Kind {
	case OpStart:
		if err := needJob(); err != nil {
			return err
		}
		if op.Attempt != j.Attempt+1 {
			return fmt.Errorf("%w: start attempt %d of %s, next is %d", ErrState, op.Attempt, op.Job, j.Attempt+1)
		}
		if j.State != Ready && !(j.State == Waiting && r.needsMet(j)) {
			return fmt.Errorf("%w: start %s in state %s", ErrState, op.Job, j.State)
		}
		j.State, j.Attempt, j.Tries = Running, op.Attempt, j.Tries+1
		j.Where, j.Started, j.Ended, j.NextAt = op.Where, at, time.Time{}, time.Time{}
		j.Code, j.Output, j.Reason, j.Killing = nil, "", "", false
	case OpEnd, OpLost:
		if err := needJob(); err != nil {
			return err
		}
		if j.State != Running || op.Attempt != j.Attempt {
			return fmt.Errorf("%w: %s of %s attempt %d (job is %s, attempt %d)", ErrState, op.Kind, op.Job, op.Attempt, j.State, j.Attempt)
		}
		st := op.State
		if op.Kind == OpLost {
			st = Lost
		}
		if !st.Final() {
			return fmt.Errorf("%w: end state %q", ErrBadOp, st)
		}
		killing := j.Killing
		j.Code, j.Output, j.Reason, j.Ended, j.Killing = op.Code, op.Output, op.Reason, at, false
		if !op.RetryAt.IsZero() && st != Killed && st != Lost && !killing {
			j.State, j.NextAt = Waiting, op.RetryAt.UTC()
		} else {
			j.State = st
		}
	case OpSettle:
		if err := needJob(); err != nil {
			return err
		}
		if j.State.Final() || j.State == Running && op.Attempt != j.Attempt {
			return fmt.Errorf("%w: settle %s in state %s", ErrState, op.Job, j.State)
		}
		if !op.State.Final() {
			return fmt.Errorf("%w: settle state %q", ErrBadOp, op.State)
		}
		j.State, j.Code, j.Reason, j.Output, j.Ended = op.State, op.Code, op.Reason, op.Output, at
	case OpHold:
		if j == nil {
			for _, n := range r.Order {
				if jj := r.Jobs[n]; jj.State == Waiting || jj.State == Ready {
					jj.Hold, jj.Released = true, false
					if jj.State == Ready {
						jj.State = Held
					}
				}
			}
			break
		}
		if j.State != Waiting && j.State != Ready && j.State != Held {
			return fmt.Errorf("%w: hold %s in state %s", ErrState, op.Job, j.State)
		}
		j.Hold, j.Released = true, false
		if j.State == Ready {
			j.State = Held
		}
	case OpRelease:
		jobs := []*Job{j}
		if j == nil {
			jobs = nil
			for _, n := range r.Order {
				if jj := r.Jobs[n]; jj.Hold && !jj.Released {
					jobs = append(jobs, jj)
				}
			}
		} else if !j.Hold || j.Released {
			return fmt.Errorf("%w: release %s: not held", ErrState, op.Job)
		}
		for _, jj := range jobs {
			jj.Released = true
			if jj.State == Held {
				jj.State = Waiting
			}
		}
	case OpSkip:
		if err := needJob(); err != nil {
			return err
		}
		if j.State.Final() || j.State == Running {
			return fmt.Errorf("%w: skip %s in state %s", ErrState, op.Job, j.State)
		}
		j.State, j.Reason, j.Ended = Skipped, "skipped by "+nz(op.By, "operator"), at
	case OpKill:
		jobs := map[string]*Job{op.Job: j}
		if j == nil {
			jobs = r.Jobs
		} else if j.State.Final() {
			return fmt.Errorf("%w: kill %s in state %s", ErrState, op.Job, j.State)
		}
		for _, jj := range jobs {
			switch {
			case jj.State == Running:
				jj.Killing = true
			case !jj.State.Final():
				jj.State, jj.Ended, jj.Reason = Killed, at, "killed by "+nz(op.By, "operator")
			}
		}
	case OpRerun:
		if err := r.rerun(op); err != nil {
			return err
		}
	case OpFlag:
		if op.Flag == "" {
			return fmt.Errorf("%w: flag needs a name", ErrBadOp)
		}
		if j != nil {
			if !slices.Contains(j.Flags, op.Flag) {
				j.Flags = append(j.Flags, op.Flag)
			}
		} else if !slices.Contains(r.Flags, op.Flag) {
			r.Flags = append(r.Flags, op.Flag)
		}
		return nil
	default:
		return fmt.Errorf("%w: unknown kind %q", ErrBadOp, op.Kind)
	}
	r.settle(at)
	return nil
}

func nz(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (s *State) fire(at time.Time, op Op) error {
	f := op.Fire
	if f == nil || op.Jobnet == "" || f.ID == "" || len(f.Jobs) == 0 {
		return fmt.Errorf("%w: fire needs jobnet, id and jobs", ErrBadOp)
	}
	if _, ok := s.Runs[f.ID]; ok {
		return fmt.Errorf("%w: %s", ErrExists, f.ID)
	}
	if !op.Time.IsZero() {
		if w, ok := s.Fired[op.Jobnet]; ok && !op.Time.After(w) {
			return fmt.Errorf("%w: %s at %s (watermark %s)", ErrFired, op.Jobnet, op.Time.UTC().Format(time.RFC3339), w.Format(time.RFC3339))
		}
	}
	r := &Run{
		ID: f.ID, Jobnet: op.Jobnet, Scheduled: f.Scheduled.UTC(), Trigger: f.Trigger, By: op.By,
		Params: maps.Clone(f.Params), Parent: f.Parent, Def: f.Def, Created: at, Status: StatusRunning,
		Jobs: make(map[string]*Job, len(f.Jobs)),
	}
	for _, js := range f.Jobs {
		if js.Name == "" {
			return fmt.Errorf("%w: job without a name", ErrBadOp)
		}
		if _, dup := r.Jobs[js.Name]; dup {
			return fmt.Errorf("%w: job %q twice", ErrBadOp, js.Name)
		}
		r.Order = append(r.Order, js.Name)
		r.Jobs[js.Name] = &Job{State: Waiting, Needs: slices.Clone(js.Needs), Hold: js.Hold}
	}
	for _, js := range f.Jobs {
		for _, n := range js.Needs {
			if _, ok := r.Jobs[n]; !ok {
				return fmt.Errorf("%w: job %q needs unknown %q", ErrBadOp, js.Name, n)
			}
		}
	}
	if !op.Time.IsZero() {
		s.Fired[op.Jobnet] = op.Time.UTC()
	}
	s.Runs[f.ID] = r
	r.settle(at)
	return nil
}

func (r *Run) needsMet(j *Job) bool {
	for _, n := range j.Needs {
		d := r.Jobs[n]
		if !d.State.Satisfies() {
			return false
		}
		// A job skipped before its turn passes its own needs on: the jobs
		// after it still wait for the jobs before it.
		if d.State == Skipped && !r.needsMet(d) {
			return false
		}
	}
	return true
}

// blocked reports whether j can never become due: something it needs,
// directly or not, ended without satisfying it.
func (r *Run) blocked(j *Job, seen map[*Job]bool) bool {
	if seen[j] {
		return false
	}
	seen[j] = true
	for _, n := range j.Needs {
		d := r.Jobs[n]
		if d.State.Final() && !d.State.Satisfies() {
			return true
		}
		if (!d.State.Final() || d.State == Skipped) && r.blocked(d, seen) {
			return true
		}
	}
	return false
}

// settle moves waiting jobs whose needs are met to ready (or held), and
// ends the run when nothing more can happen.
func (r *Run) settle(at time.Time) {
	for _, n := range r.Order {
		j := r.Jobs[n]
		if j.State == Waiting && j.NextAt.IsZero() && r.needsMet(j) {
			if j.Hold && !j.Released {
				j.State = Held
			} else {
				j.State = Ready
			}
		}
	}
	live := false
	for _, n := range r.Order {
		j := r.Jobs[n]
		switch {
		case j.State == Running, j.State == Ready, j.State == Held:
			live = true
		case j.State == Waiting && !r.blocked(j, map[*Job]bool{}):
			live = true
		}
	}
	if live {
		r.Status, r.Ended = StatusRunning, time.Time{}
		return
	}
	if r.Status == StatusRunning {
		r.Ended = at
	}
	r.Status = StatusNormal
	for _, n := range r.Order {
		switch r.Jobs[n].State {
		case EndedAbnormal, Lost, Waiting:
			r.Status = StatusAbnorm
		case Killed:
			if r.Status != StatusAbnorm {
				r.Status = StatusKilled
			}
		case EndedWarning:
			if r.Status == StatusNormal {
				r.Status = StatusWarning
			}
		}
	}
}

// dependents returns the jobs that need name, directly or not.
func (r *Run) dependents(name string) map[string]bool {
	out := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		for _, m := range r.Order {
			if !out[m] && slices.Contains(r.Jobs[m].Needs, n) {
				out[m] = true
				walk(m)
			}
		}
	}
	walk(name)
	return out
}

func (r *Run) rerun(op Op) error {
	for _, n := range r.Order {
		if r.Jobs[n].State == Running {
			return fmt.Errorf("%w: rerun while %s is running", ErrState, n)
		}
	}
	reset := map[string]bool{}
	switch op.Mode {
	case RerunAll:
		for _, n := range r.Order {
			reset[n] = true
		}
	case RerunFailed, RerunAfter:
		from := []string{op.Job}
		if op.Job == "" {
			from = nil
			for _, n := range r.Order {
				if st := r.Jobs[n].State; st == EndedAbnormal || st == Lost || st == Killed {
					from = append(from, n)
				}
			}
			if len(from) == 0 {
				return fmt.Errorf("%w: rerun %s: no job ended abnormally", ErrState, op.Mode)
			}
		} else if !r.Jobs[op.Job].State.Final() {
			return fmt.Errorf("%w: rerun from %s: it has not ended", ErrState, op.Job)
		}
		for _, f := range from {
			if op.Mode == RerunFailed {
				reset[f] = true
			}
			for d := range r.dependents(f) {
				reset[d] = true
			}
		}
	case RerunWarnings:
		for _, n := range r.Order {
			if r.Jobs[n].State == EndedWarning {
				reset[n] = true
			}
		}
		if len(reset) == 0 {
			return fmt.Errorf("%w: rerun warnings: no job ended with a warning", ErrState)
		}
	default:
		return fmt.Errorf("%w: rerun mode %q: want failed, after, all or warnings", ErrBadOp, op.Mode)
	}
	if op.Mode == RerunAfter {
		// The jobs rerun from are taken as done: mark them skipped.
		for _, n := range r.Order {
			if j := r.Jobs[n]; !reset[n] && !j.State.Satisfies() && (op.Job == n || op.Job == "" && (j.State == EndedAbnormal || j.State == Lost || j.State == Killed)) {
				j.State, j.Reason = Skipped, "passed over by rerun after"
			}
		}
	}
	for n := range reset {
		j := r.Jobs[n]
		j.State, j.NextAt, j.Tries, j.Killing, j.Released = Waiting, time.Time{}, 0, false, false
		j.Code, j.Output, j.Reason, j.Started, j.Ended, j.Where = nil, "", "", time.Time{}, time.Time{}, ""
		j.Flags = nil
	}
	r.Gen++
	r.Flags = nil
	r.Status = StatusRunning
	return nil
}

// Live reports whether the run has not ended.
func (r *Run) Live() bool { return r.Status == StatusRunning }

// SortedRuns returns the runs ordered by creation time, then id.
func (s *State) SortedRuns() []*Run {
	out := slices.Collect(maps.Values(s.Runs))
	slices.SortFunc(out, func(a, b *Run) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}
