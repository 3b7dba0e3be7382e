package jobnet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/jobnet/runstate"
)

// Sink takes the incidents the engine raises (bus.Bus implements it).
type Sink interface {
	Publish(ctx context.Context, ev incident.Event) error
}

// Remote dispatches tasks to agents (Agents in agent.go implements it).
type Remote interface {
	// Dispatch hands t to the agent (or any agent with the tag) named by
	// target ("agent:NAME", "tag:TAG", "node:NAME"). It returns once the
	// task is stored for the agent; a repeated dispatch of the same
	// attempt is stored once.
	Dispatch(ctx context.Context, target string, t Task) error
	// Kill asks the agent running the attempt to kill it.
	Kill(ctx context.Context, target, key string) error
}

// Options configure an Engine.
type Options struct {
	// Node is this node's name: local jobs report it as where they ran,
	// and run_on.node naming it runs locally.
	Node string
	Log  RunLog
	Nets map[string]*Net
	// Local runs jobs on this node (default &Local{Name: Node}).
	Local Executor
	// Remote runs jobs on agents; nil: jobs with run_on fail to start.
	Remote Remote
	// History keeps every run in the ledger (optional).
	History ledger.RunHistoryStore
	// Sink raises incidents (optional).
	Sink   Sink
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Tick is how often the leader looks at schedules and runs (default
	// 100ms); it also looks on every state change.
	Tick time.Duration
	// LostAfter: a running job whose executor has not been heard of for
	// this long is lost (default 30s).
	LostAfter time.Duration
	// KeepEnded: an ended run stays in the replicated state this long
	// before it is archived to the history (default 10m).
	KeepEnded time.Duration
	// DispatchFor is an attempt's start deadline: how long a task that
	// the bus cannot store (an election of the stream's leader) is
	// retried before the attempt ends abnormally (default
	// DefaultDispatchFor).
	DispatchFor time.Duration
	// RaiseFor bounds how long an incident the engine raises is retried
	// while the sink cannot take it (default DefaultRaiseFor).
	RaiseFor time.Duration
	// Results keeps the end of a job this node ran that it could not
	// commit (it lost the lead, or is cut off from the majority): the
	// result goes to the results stream on the node's own subject, and
	// the leader takes it when it arrives, even after declaring the job
	// lost. The node's spool (bus.Ingest) keeps it on disk until the bus
	// stores it. Nil: the end is proposed again in memory until it
	// commits or the node stops.
	Results ResultSink
}

// ResultSink stores a message durably for a subject of the bus's
// streams, with a message id (bus.Ingest implements it).
type ResultSink interface {
	Append(ctx context.Context, subject, msgID string, data []byte) error
}

// localBeater is a Remote that can announce the attempts this node runs
// itself (Agents does), so that a leader other than this node keeps them
// alive.
type localBeater interface {
	BeatLocal(node string, keys []string)
}

// Defaults of Options.
const (
	// DefaultDispatchFor is less than the task's signature lifetime
	// (DefaultTaskTTL), so a task stored at the deadline is still valid.
	DefaultDispatchFor = 5 * time.Minute
	DefaultRaiseFor    = 10 * time.Minute
)

// Engine schedules jobnets and drives their runs. Every node runs one;
// only the one whose RunLog says it leads schedules, dispatches and
// judges. Operator actions may be made on any node (the RunLog forwards).
type Engine struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	nets     map[string]*Net
	defs     map[string]*Net      // Def → definition, kept while a run uses it
	retired  map[string]time.Time // Def → when it left the configuration
	leading  bool
	starting map[string]bool               // run/job whose start is being proposed
	local    map[string]context.CancelFunc // key → cancel of local attempts
	seen     map[string]time.Time          // key → last sign of life
	killSent map[string]time.Time
	recorded map[string]bool // run@gen history written since it ended
	// dispatching: attempts whose task is being handed to the bus
	// (retried through an election); they are alive meanwhile.
	dispatching map[string]bool
	raising     atomic.Int64 // incidents being retried

	results   chan Result
	resultSem chan struct{} // bounds results committed at once
	wake      chan struct{}
	wg        sync.WaitGroup
}

// New returns an engine; Run drives it.
func New(opts Options) (*Engine, error) {
	if opts.Log == nil {
		return nil, errors.New("jobnet: no run log")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Tick == 0 {
		opts.Tick = 100 * time.Millisecond
	}
	if opts.LostAfter == 0 {
		opts.LostAfter = 30 * time.Second
	}
	if opts.KeepEnded == 0 {
		opts.KeepEnded = 10 * time.Minute
	}
	if opts.DispatchFor == 0 {
		opts.DispatchFor = DefaultDispatchFor
	}
	if opts.RaiseFor == 0 {
		opts.RaiseFor = DefaultRaiseFor
	}
	if opts.Local == nil {
		opts.Local = &Local{Name: opts.Node}
	}
	if opts.Nets == nil {
		opts.Nets = map[string]*Net{}
	}
	return &Engine{
		opts: opts, log: opts.Logger.With("component", "jobnet"), nets: opts.Nets, defs: defsOf(opts.Nets, nil), retired: map[string]time.Time{},
		starting: map[string]bool{}, local: map[string]context.CancelFunc{}, seen: map[string]time.Time{},
		killSent: map[string]time.Time{}, recorded: map[string]bool{}, dispatching: map[string]bool{},
		results: make(chan Result, 1024), resultSem: make(chan struct{}, 256), wake: make(chan struct{}, 1),
	}, nil
}

// SetNets replaces the jobnets (a configuration reload). New runs and
// schedules take the new definitions at once; a removed jobnet is no
// longer scheduled. A run in progress keeps the definition it was created
// with (its jobs, commands, end codes, retries, delays) until it ends: the
// run records the definition's hash (Net.Def) and the engine keeps every
// definition a live run still uses. A node started after the change knows
// only the new definitions; a run created before is driven with the
// current definition of its jobnet there.
func (e *Engine) SetNets(nets map[string]*Net) {
	if nets == nil {
		nets = map[string]*Net{}
	}
	e.mu.Lock()
	now := e.opts.Now()
	for _, old := range e.nets {
		if n := nets[old.Name]; n == nil || n.Def != old.Def {
			e.retired[old.Def] = now
		}
	}
	e.nets = nets
	e.defs = defsOf(nets, e.defs)
	e.mu.Unlock()
	e.poke()
}

// defsOf adds the definitions of nets to defs (a new map).
func defsOf(nets map[string]*Net, defs map[string]*Net) map[string]*Net {
	out := maps.Clone(defs)
	if out == nil {
		out = map[string]*Net{}
	}
	for _, n := range nets {
		if n.Def != "" {
			out[n.Def] = n
		}
	}
	return out
}

// netOf is the definition run r is driven with: the one it was created
// with while this engine knows it, else its jobnet's current one (nil for
// a removed jobnet).
func (e *Engine) netOf(r *runstate.Run) *Net {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.netOfLocked(r)
}

func (e *Engine) netOfLocked(r *runstate.Run) *Net {
	if r.Def != "" {
		if n := e.defs[r.Def]; n != nil && n.Name == r.Jobnet {
			return n
		}
	}
	return e.nets[r.Jobnet]
}

// pruneDefsLocked forgets the old definitions no run in st uses, once
// they have been out of the configuration for LostAfter (a start fired
// just before the change may not be in st yet).
func (e *Engine) pruneDefsLocked(st *runstate.State, now time.Time) {
	if len(e.defs) <= len(e.nets) {
		return
	}
	used := make(map[string]bool, len(e.nets))
	for _, n := range e.nets {
		used[n.Def] = true
	}
	for _, r := range st.Runs {
		used[r.Def] = true
	}
	for d := range e.defs {
		if !used[d] && now.Sub(e.retired[d]) > e.opts.LostAfter {
			delete(e.defs, d)
			delete(e.retired, d)
		}
	}
}

// Nets returns the jobnets by name.
func (e *Engine) Nets() map[string]*Net {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.nets)
}

func (e *Engine) net(name string) *Net {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.nets[name]
}

// Wake makes the engine look at its schedules and runs now rather than
// at its next tick: a node that has just become leader takes over at
// once (Run's loop otherwise notices within a Tick).
func (e *Engine) Wake() { e.poke() }

func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run drives the engine until ctx ends, then waits for the local jobs'
// goroutines (their processes are killed by the cancelled context).
func (e *Engine) Run(ctx context.Context) error {
	t := time.NewTicker(e.opts.Tick)
	defer t.Stop()
	defer e.wg.Wait()
	due := time.NewTimer(time.Hour)
	defer due.Stop()
	beat := time.NewTicker(LocalBeat)
	defer beat.Stop()
	for {
		changed := e.opts.Log.Changed()
		e.step(ctx, true)
		// Wake at the next scheduled time, not up to a Tick after it.
		due.Reset(e.untilDue())
		select {
		case <-ctx.Done():
			return nil
		case <-due.C:
		case <-t.C:
		case <-changed:
		case <-e.wake:
		case <-beat.C:
			e.beatLocal()
		case r := <-e.results:
			e.resultAsync(ctx, r)
		}
	}
}

// untilDue is how long until the next schedule firing of any jobnet
// (at most a Tick; only the leader fires).
func (e *Engine) untilDue() time.Duration {
	d := e.opts.Tick
	if !e.opts.Log.Leader() {
		return d
	}
	var fired map[string]time.Time
	nets := e.Nets()
	e.opts.Log.View(func(st *runstate.State) {
		fired = make(map[string]time.Time, len(nets))
		for name := range nets {
			fired[name] = st.Fired[name]
		}
	})
	now := e.opts.Now()
	for name, n := range nets {
		wm, ok := fired[name]
		if !ok || wm.IsZero() {
			continue
		}
		for _, s := range n.Schedules {
			if next := s.Next(wm); !next.IsZero() {
				d = min(d, next.Sub(now))
			}
		}
	}
	return max(d, time.Millisecond)
}

// LocalBeat is how often a node announces the jobs it runs itself.
var LocalBeat = time.Second

// beatLocal announces the attempts this node runs itself: after a change
// of leader the new one hears they are alive, as it hears agents.
func (e *Engine) beatLocal() {
	b, ok := e.opts.Remote.(localBeater)
	if !ok {
		return
	}
	e.mu.Lock()
	keys := make([]string, 0, len(e.local))
	for k := range e.local {
		keys = append(keys, k)
	}
	e.mu.Unlock()
	if len(keys) > 0 {
		b.BeatLocal(e.opts.Node, keys)
	}
}

// keepEnd keeps the end of a job this node ran that it could not commit
// until the leader has it (see Options.Results).
func (e *Engine) keepEnd(ctx context.Context, res Result, err error) {
	res.local = false
	res.Where = "node:" + e.opts.Node
	if e.opts.Results != nil {
		b, _ := json.Marshal(res)
		subject := resultSubject + senderSuffix("node", e.opts.Node)
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		aerr := e.opts.Results.Append(actx, subject, "result:"+res.Key(), b)
		cancel()
		if aerr == nil {
			e.log.Warn("job end not committed; kept for the leader", "job", res.Key(), "code", res.Code, "err", err)
			return
		}
		e.log.Error("job end not committed and not kept; retrying in memory", "job", res.Key(), "err", err, "keep_err", aerr)
	} else {
		e.log.Warn("job end not committed; retrying", "job", res.Key(), "code", res.Code, "err", err)
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		wait := 100 * time.Millisecond
		for {
			select {
			case <-ctx.Done():
				e.log.Error("job end never committed: node stopping", "job", res.Key(), "code", res.Code)
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, 5*time.Second)
			if e.handleResult(ctx, res) == nil {
				e.log.Info("job end committed after retries", "job", res.Key())
				return
			}
		}
	}()
}

// resultAsync commits an executor's result off the main loop: results of
// many jobs are proposed side by side, so Raft commits them together
// instead of one round trip each.
func (e *Engine) resultAsync(ctx context.Context, r Result) {
	e.resultSem <- struct{}{}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer func() { <-e.resultSem }()
		if err := e.handleResult(ctx, r); err != nil && r.local && ctx.Err() == nil {
			e.keepEnd(ctx, r, err)
		}
	}()
}

// Step does one round: take over if this node just became leader, fire
// what is due, start ready jobs, and look after running and ended runs.
// Run calls it; tests with an injected clock call it directly.
func (e *Engine) Step(ctx context.Context) { e.step(ctx, false) }

// step is Step; async hands results to resultAsync instead of committing
// them one by one here.
func (e *Engine) step(ctx context.Context, async bool) {
	for {
		select {
		case r := <-e.results:
			if async {
				e.resultAsync(ctx, r)
			} else {
				e.handleResult(ctx, r)
			}
			continue
		default:
		}
		break
	}
	if !e.opts.Log.Leader() {
		e.mu.Lock()
		e.leading = false
		e.mu.Unlock()
		return
	}
	now := e.opts.Now().UTC()
	e.mu.Lock()
	leading := e.leading
	e.mu.Unlock()
	if !leading {
		bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := e.opts.Log.Barrier(bctx)
		cancel()
		if err != nil {
			e.log.Warn("barrier before scheduling", "err", err)
			return
		}
		var again []startReq
		e.mu.Lock()
		e.leading = true
		// Every running job gets a full lease from the takeover.
		e.opts.Log.View(func(st *runstate.State) {
			for _, r := range st.Runs {
				for name, j := range r.Jobs {
					if j.State == runstate.Running {
						e.seen[key(r.ID, name, j.Attempt)] = now
						if remoteWhere(j.Where) && !j.Killing && now.Sub(j.Started) < RedispatchWithin {
							again = append(again, startReq{r.Clone(), name, j.Attempt})
						}
					}
				}
			}
		})
		e.mu.Unlock()
		e.log.Info("leading: scheduling jobnets", "redispatch", len(again))
		for _, s := range again {
			e.wg.Add(1)
			go func() { defer e.wg.Done(); e.redispatch(ctx, s) }()
		}
	}
	e.schedule(ctx, now)
	e.drive(ctx, now)
}

func key(run, job string, attempt int) string { return fmt.Sprintf("%s/%s/%d", run, job, attempt) }

// --- scheduling ---

// RunID is the id of a scheduled run: jobnet@time.
func RunID(jobnet string, t time.Time) string {
	return jobnet + "@" + t.UTC().Format("20060102T150405Z")
}

func (e *Engine) schedule(ctx context.Context, now time.Time) {
	nets := e.Nets()
	// Jobnets are fired side by side: each one's fire and mark are Raft
	// round trips, and the last of many jobnets due at the same second
	// must not wait for all the others'.
	var wg sync.WaitGroup
	for _, name := range slices.Sorted(maps.Keys(nets)) {
		if n := nets[name]; len(n.Schedules) > 0 {
			wg.Add(1)
			go func() { defer wg.Done(); e.scheduleNet(ctx, now, name, n) }()
		}
	}
	wg.Wait()
}

// scheduleNet fires what is due of one jobnet's schedules.
func (e *Engine) scheduleNet(ctx context.Context, now time.Time, name string, n *Net) {
	var (
		wm time.Time
		ok bool
	)
	e.opts.Log.View(func(st *runstate.State) { wm, ok = st.Fired[name] })
	if !ok {
		// First time this jobnet is scheduled: from now on.
		e.propose(ctx, runstate.Op{Kind: runstate.OpMark, Jobnet: name, Time: now})
		return
	}
	max := 1000
	due := n.Due(wm, now, max)
	if len(due) == 0 {
		return
	}
	var missed, onTime []time.Time
	for _, t := range due {
		if now.Sub(t) > n.Misfire.Grace {
			missed = append(missed, t)
		} else {
			onTime = append(onTime, t)
		}
	}
	var fire []time.Time
	switch n.Misfire.Policy {
	case "skip":
	case "catch_up":
		fire = missed[max0(len(missed)-n.Misfire.Max):]
	default: // once
		if len(missed) > 0 {
			fire = missed[len(missed)-1:]
		}
	}
	if len(missed) > len(fire) {
		e.log.Warn("misfired schedule times passed over", "jobnet", name, "missed", len(missed), "fired", len(fire), "policy", n.Misfire.Policy)
	}
	fire = append(fire, onTime...)
	for _, t := range fire {
		if _, err := e.fire(ctx, n, RunID(name, t), t, "schedule", nil, "", "", true); err != nil {
			e.log.Warn("fire", "jobnet", name, "time", t, "err", err)
		}
	}
	e.propose(ctx, runstate.Op{Kind: runstate.OpMark, Jobnet: name, Time: due[len(due)-1]})
}

func max0(i int) int { return max(i, 0) }

// ErrForbidden is returned by a start that the jobnet's concurrency
// policy (forbid) refuses.
var ErrForbidden = errors.New("jobnet: a run is live and concurrency is forbid")

// fire creates a run after applying the concurrency policy. watermark
// makes it a schedule firing keyed by (jobnet, t).
func (e *Engine) fire(ctx context.Context, n *Net, id string, t time.Time, trigger string, params map[string]string, parent, by string, watermark bool) (string, error) {
	if parent == "" {
		var live []string
		e.opts.Log.View(func(st *runstate.State) {
			for _, r := range st.Runs {
				if r.Jobnet == n.Name && r.Parent == "" && r.Live() {
					live = append(live, r.ID)
				}
			}
		})
		if len(live) > 0 {
			switch n.Concurrency {
			case "forbid":
				if watermark {
					e.propose(ctx, runstate.Op{Kind: runstate.OpMark, Jobnet: n.Name, Time: t})
				}
				e.log.Info("start skipped: a run is live (concurrency forbid)", "jobnet", n.Name, "live", live, "trigger", trigger)
				return "", fmt.Errorf("%w: %s", ErrForbidden, strings.Join(live, ", "))
			case "replace":
				for _, id := range live {
					e.propose(ctx, runstate.Op{Kind: runstate.OpKill, Run: id, By: "replaced by " + id})
				}
			}
		}
	}
	p := n.Params.Defaults()
	maps.Copy(p, params)
	op := runstate.Op{Kind: runstate.OpFire, Jobnet: n.Name, By: by,
		Fire: &runstate.Fire{ID: id, Scheduled: t, Trigger: trigger, Params: p, Parent: parent, Jobs: n.specs(), Def: n.Def}}
	if watermark {
		op.Time = t
	}
	err := e.opts.Log.Propose(ctx, op)
	if errors.Is(err, runstate.ErrFired) || errors.Is(err, runstate.ErrExists) {
		return id, nil // fired before (a retry, or another leader did)
	}
	if err != nil {
		return "", err
	}
	e.log.Info("run fired", "run", id, "trigger", trigger)
	return id, nil
}

// Start starts a run of jobnet now, as an operator (or a trigger) does:
// params override the jobnet's. The concurrency policy applies.
func (e *Engine) Start(ctx context.Context, jobnet string, params map[string]string, trigger, by string) (string, error) {
	n := e.net(jobnet)
	if n == nil {
		return "", fmt.Errorf("%w: %q", ErrNoJobnet, jobnet)
	}
	if err := n.CheckParams(params); err != nil {
		return "", err
	}
	if trigger == "" {
		trigger = "operator"
	}
	now := e.opts.Now().UTC()
	id := fmt.Sprintf("%s@%s-%s", jobnet, now.Format("20060102T150405Z"), incident.NewID()[:8])
	id, err := e.fire(ctx, n, id, now, trigger, params, "", by, false)
	e.poke()
	return id, err
}

// ErrNoJobnet: no jobnet of that name.
var ErrNoJobnet = errors.New("jobnet: no such jobnet")

// startTriggered fires a run for a trigger; id makes a repeat of the same
// trigger (the same file version, the same message) fire once.
func (e *Engine) startTriggered(ctx context.Context, n *Net, trigger, ident string) {
	sum := sha256.Sum256([]byte(ident))
	id := n.Name + "@" + trigger + "-" + hex.EncodeToString(sum[:6])
	if _, err := e.fire(ctx, n, id, e.opts.Now().UTC(), trigger, map[string]string{"trigger": ident}, "", trigger, false); err != nil {
		e.log.Info("trigger start", "jobnet", n.Name, "trigger", trigger, "err", err)
	}
	e.poke()
}

func (e *Engine) propose(ctx context.Context, op runstate.Op) error {
	err := e.opts.Log.Propose(ctx, op)
	if err != nil && ctx.Err() == nil {
		e.log.Debug("propose", "op", op.Kind, "run", op.Run, "job", op.Job, "err", err)
	}
	return err
}

// --- driving runs ---

type startReq struct {
	run     *runstate.Run
	job     string
	attempt int
}

func (e *Engine) drive(ctx context.Context, now time.Time) {
	var (
		starts   []startReq
		nested   []runstate.Op
		lost     []runstate.Op
		kills    []*runstate.Run
		killJobs [][2]string
		archive  []*runstate.Run
		delays   []func()
	)
	e.mu.Lock()
	e.opts.Log.View(func(st *runstate.State) {
		e.pruneDefsLocked(st, now)
		for _, r := range st.SortedRuns() {
			n := e.netOfLocked(r)
			if !r.Live() {
				if now.Sub(r.Ended) >= e.opts.KeepEnded && !e.parentRunning(st, r) {
					archive = append(archive, r.Clone())
				} else if !e.recorded[r.ID+"#"+fmt.Sprint(r.Gen)] {
					e.recorded[r.ID+"#"+fmt.Sprint(r.Gen)] = true
					rc := r.Clone()
					delays = append(delays, func() { e.record(ctx, rc) })
				}
				continue
			}
			anyStarted := false
			for _, name := range r.Order {
				j := r.Jobs[name]
				k := key(r.ID, name, j.Attempt)
				if !j.Started.IsZero() || j.Attempt > 0 {
					anyStarted = true
				}
				switch {
				case j.State == runstate.Ready || j.State == runstate.Waiting && !j.NextAt.IsZero() && !now.Before(j.NextAt):
					if !e.starting[r.ID+"/"+name] {
						e.starting[r.ID+"/"+name] = true
						starts = append(starts, startReq{r.Clone(), name, j.Attempt + 1})
					}
				case j.State == runstate.Running && j.Where == "nested":
					child := st.Runs[childID(r.ID, name, j.Attempt)]
					if child != nil && !child.Live() {
						st2 := runstate.EndedAbnormal
						switch child.Status {
						case runstate.StatusNormal:
							st2 = runstate.EndedNormal
						case runstate.StatusWarning:
							st2 = runstate.EndedWarning
						case runstate.StatusKilled:
							st2 = runstate.Killed
						}
						nested = append(nested, runstate.Op{Kind: runstate.OpEnd, Run: r.ID, Job: name, Attempt: j.Attempt, State: st2, Reason: "nested run " + child.ID + " " + child.Status})
					} else if child != nil && j.Killing && child.Live() {
						kills = append(kills, child)
					}
				case j.State == runstate.Running:
					if _, ok := e.local[k]; ok || e.dispatching[k] {
						e.seen[k] = now
					}
					if _, ok := e.seen[k]; !ok {
						e.seen[k] = now
					}
					if now.Sub(e.seen[k]) > e.opts.LostAfter {
						lost = append(lost, runstate.Op{Kind: runstate.OpLost, Run: r.ID, Job: name, Attempt: j.Attempt,
							Reason: fmt.Sprintf("no sign of the executor at %s for %s", j.Where, e.opts.LostAfter)})
					}
					if j.Killing && now.Sub(e.killSent[k]) > 2*time.Second {
						e.killSent[k] = now
						killJobs = append(killJobs, [2]string{j.Where, k})
					}
				}
				if n == nil {
					continue
				}
				if jc := n.Job(name); jc != nil {
					e.jobDelays(ctx, now, n, jc, r, name, j, &delays)
				}
			}
			if n != nil {
				if n.StartDelay > 0 && !anyStarted && now.Sub(r.Scheduled) > n.StartDelay && !slices.Contains(r.Flags, "start-delay") {
					rid := r.ID
					delays = append(delays, func() {
						e.raiseOnce(ctx, n, nil, rid, "", "start-delay", fmt.Sprintf("run %s has not started %s after its scheduled time", rid, n.StartDelay))
					})
				}
				if n.EndDelay > 0 && now.Sub(r.Created) > n.EndDelay && !slices.Contains(r.Flags, "end-delay") {
					rid := r.ID
					delays = append(delays, func() {
						e.raiseOnce(ctx, n, nil, rid, "", "end-delay", fmt.Sprintf("run %s has not ended %s after it started", rid, n.EndDelay))
					})
				}
			}
		}
	})
	local := e.local
	e.mu.Unlock()

	for _, op := range nested {
		e.propose(ctx, op)
	}
	for _, op := range lost {
		if e.propose(ctx, op) == nil {
			e.log.Warn("job lost", "run", op.Run, "job", op.Job, "attempt", op.Attempt)
			e.afterEnd(ctx, op.Run, op.Job, runstate.Lost, op.Reason)
		}
	}
	for _, c := range kills {
		e.propose(ctx, runstate.Op{Kind: runstate.OpKill, Run: c.ID, By: "parent job killed"})
	}
	for _, kj := range killJobs {
		e.mu.Lock()
		cancel := local[kj[1]]
		e.mu.Unlock()
		if cancel != nil {
			cancel()
		} else if e.opts.Remote != nil {
			if err := e.opts.Remote.Kill(ctx, kj[0], kj[1]); err != nil {
				e.log.Warn("kill", "job", kj[1], "err", err)
			}
		}
	}
	// Jobs start first: nothing below may delay them (a new leader
	// records every ended run it still holds in the history, a database
	// write each, which took a second under load before the first job
	// due during the election was handed over).
	for _, s := range starts {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer func() {
				e.mu.Lock()
				delete(e.starting, s.run.ID+"/"+s.job)
				e.mu.Unlock()
			}()
			e.start(ctx, now, s)
		}()
	}
	// History records and delay incidents side by side, and archives
	// (Raft commits concurrent proposals together); the round waits for
	// them, so the next one does not do the same again.
	var awg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, f := range delays {
		sem <- struct{}{}
		awg.Add(1)
		go func() {
			defer awg.Done()
			defer func() { <-sem }()
			f()
		}()
	}
	for _, r := range archive {
		sem <- struct{}{}
		awg.Add(1)
		go func() {
			defer awg.Done()
			defer func() { <-sem }()
			if e.record(ctx, r) {
				e.propose(ctx, runstate.Op{Kind: runstate.OpArchive, Run: r.ID})
				e.mu.Lock()
				delete(e.recorded, r.ID+"#"+fmt.Sprint(r.Gen))
				e.mu.Unlock()
			}
		}()
	}
	awg.Wait()
}

// parentRunning: a nested run stays until its parent job has seen it end.
func (e *Engine) parentRunning(st *runstate.State, r *runstate.Run) bool {
	if r.Parent == "" {
		return false
	}
	pid, job, _ := strings.Cut(r.Parent, "/")
	p := st.Runs[pid]
	return p != nil && p.Jobs[job] != nil && p.Jobs[job].State == runstate.Running
}

func childID(run, job string, attempt int) string { return fmt.Sprintf("%s/%s#%d", run, job, attempt) }

func (e *Engine) jobDelays(ctx context.Context, now time.Time, n *Net, jc *Job, r *runstate.Run, name string, j *runstate.Job, delays *[]func()) {
	rid := r.ID
	if jc.StartDelay > 0 && (j.State == runstate.Waiting || j.State == runstate.Ready || j.State == runstate.Held) &&
		j.Attempt == 0 && now.Sub(r.Created) > jc.StartDelay && !slices.Contains(j.Flags, "start-delay") {
		*delays = append(*delays, func() {
			e.raiseOnce(ctx, n, jc, rid, name, "start-delay", fmt.Sprintf("job %s of run %s has not started %s after the run did", name, rid, jc.StartDelay))
		})
	}
	if jc.EndDelay > 0 && j.State == runstate.Running && now.Sub(j.Started) > jc.EndDelay && !slices.Contains(j.Flags, "end-delay") {
		*delays = append(*delays, func() {
			e.raiseOnce(ctx, n, jc, rid, name, "end-delay", fmt.Sprintf("job %s of run %s has run longer than %s", name, rid, jc.EndDelay))
		})
	}
}

// raiseOnce records the flag, then raises the incident: a new leader sees
// the flag and does not raise it again.
func (e *Engine) raiseOnce(ctx context.Context, n *Net, jc *Job, run, job, flag, msg string) {
	if e.propose(ctx, runstate.Op{Kind: runstate.OpFlag, Run: run, Job: job, Flag: flag}) != nil {
		return
	}
	e.raise(ctx, n, jc, run, job, flag, msg, incident.Problem)
}

// target of a job: "" (here), "node:N", "agent:A", "tag:T".
func (e *Engine) target(jc *Job) string {
	switch {
	case jc.RunOn.Node != "" && jc.RunOn.Node != e.opts.Node:
		return "node:" + jc.RunOn.Node
	case jc.RunOn.Agent != "":
		return "agent:" + jc.RunOn.Agent
	case jc.RunOn.Tag != "":
		return "tag:" + jc.RunOn.Tag
	}
	return ""
}

func (e *Engine) start(ctx context.Context, now time.Time, s startReq) {
	n := e.netOf(s.run)
	var jc *Job
	if n != nil {
		jc = n.Job(s.job)
	}
	if jc == nil {
		e.propose(ctx, runstate.Op{Kind: runstate.OpSettle, Run: s.run.ID, Job: s.job, State: runstate.EndedAbnormal,
			Reason: "job no longer in the configuration"})
		return
	}
	params := s.run.Params
	if p := expand(jc.Precond.File, params); p != "" && !fileExists(p) {
		switch jc.Precond.Else {
		case "skip":
			e.propose(ctx, runstate.Op{Kind: runstate.OpSettle, Run: s.run.ID, Job: s.job, State: runstate.Skipped, Reason: "precondition: " + p + " does not exist"})
			return
		case "fail":
			e.settleAbnormal(ctx, n, jc, s, "precondition: "+p+" does not exist")
			return
		default: // wait
			if jc.Precond.Timeout > 0 && now.Sub(s.run.Created) > jc.Precond.Timeout {
				e.settleAbnormal(ctx, n, jc, s, fmt.Sprintf("precondition: %s did not appear within %s", p, jc.Precond.Timeout))
			}
			return // looked at again next round
		}
	}
	if jc.Kind == configs.JobKindJobnet {
		child := e.net(jc.Jobnet)
		if child == nil {
			e.settleAbnormal(ctx, n, jc, s, "nested jobnet "+jc.Jobnet+" not configured")
			return
		}
		cp := childParams(child, params)
		if err := child.CheckParams(cp); err != nil {
			e.settleAbnormal(ctx, n, jc, s, "nested jobnet "+jc.Jobnet+": "+err.Error())
			return
		}
		if t, ok := params[configs.TriggerParam]; ok {
			cp[configs.TriggerParam] = t
		}
		if e.propose(ctx, runstate.Op{Kind: runstate.OpStart, Run: s.run.ID, Job: s.job, Attempt: s.attempt, Where: "nested"}) != nil {
			return
		}
		if _, err := e.fire(ctx, child, childID(s.run.ID, s.job, s.attempt), now, "nested", cp, s.run.ID+"/"+s.job, "", false); err != nil {
			e.log.Warn("nested run", "run", s.run.ID, "job", s.job, "err", err)
		}
		return
	}
	target := e.target(jc)
	where := e.opts.Node
	if target != "" {
		where = target
	}
	if err := e.propose(ctx, runstate.Op{Kind: runstate.OpStart, Run: s.run.ID, Job: s.job, Attempt: s.attempt, Where: where}); err != nil {
		return // started by someone else, or not leader any more
	}
	t := task(jc, s)
	if target == "" {
		e.runLocal(ctx, t)
		return
	}
	if e.opts.Remote == nil {
		e.results <- Result{Run: t.Run, Job: t.Job, Attempt: t.Attempt, Code: -1, Err: "no agent transport for " + target, Ended: e.opts.Now()}
		return
	}
	if err := e.dispatch(ctx, target, t, false); err != nil {
		e.log.Warn("dispatch", "job", t.Key(), "target", target, "err", err)
		e.results <- Result{Run: t.Run, Job: t.Job, Attempt: t.Attempt, Code: -1, Err: "dispatch to " + target + ": " + err.Error(), Ended: e.opts.Now()}
	}
}

// dispatch hands t to the agents, retrying with backoff while the bus
// cannot store it (a JetStream stream-leader election answers "no
// response from stream" for several seconds) until the attempt's start
// deadline (Options.DispatchFor after now). The task carries the attempt
// key as message id, so a retry of a publish that was stored after all is
// stored once. While it retries the attempt is kept alive (not lost). It
// gives up early, returning nil, when the attempt is no longer running
// here or this node stops leading (a new leader dispatches again).
//
// The first try offers the task to the agent directly (Agents: core NATS,
// no stream leader needed); again (a new leader's takeover), and every
// retry of a tag's task, only asks whether an agent took it before
// storing it (againDispatcher): the task may be in the stream already,
// where another agent of the tag could take it.
func (e *Engine) dispatch(ctx context.Context, target string, t Task, again bool) error {
	k := t.Key()
	e.mu.Lock()
	e.dispatching[k] = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.dispatching, k)
		e.mu.Unlock()
	}()
	deadline := e.opts.Now().Add(e.opts.DispatchFor)
	wait := 25 * time.Millisecond
	for tries := 1; ; tries++ {
		actx, cancel := context.WithTimeout(ctx, DispatchAttemptTimeout+max(DirectTimeout, 0))
		var err error
		if ad, ok := e.opts.Remote.(againDispatcher); ok && (again || (tries > 1 && isTagTarget(target))) {
			err = ad.DispatchAgain(actx, target, t)
		} else {
			err = e.opts.Remote.Dispatch(actx, target, t)
		}
		cancel()
		if err == nil {
			if tries > 1 {
				e.log.Info("dispatched after retries", "job", k, "target", target, "tries", tries)
			}
			return nil
		}
		if ctx.Err() != nil {
			return nil // the node stops; a new leader dispatches again
		}
		if permanentDispatchErr(err) {
			return err
		}
		if !e.opts.Log.Leader() {
			e.log.Info("dispatch stopped: not leading any more", "job", k, "err", err)
			return nil
		}
		if where, ok := e.runningWhere(t.Run, t.Job, t.Attempt); !ok || where != target {
			return nil // ended (killed, settled) meanwhile
		}
		if !e.opts.Now().Add(wait).Before(deadline) {
			return fmt.Errorf("not stored within %s (%d tries): %w", e.opts.DispatchFor, tries, err)
		}
		if tries == 1 || tries%20 == 0 {
			e.log.Warn("dispatch failed; retrying", "job", k, "target", target, "tries", tries, "err", err)
		}
		e.Heartbeat([]string{k})
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// DispatchAttemptTimeout bounds one try to store a task (after the direct
// hand-off, bounded by DirectTimeout).
var DispatchAttemptTimeout = 2 * time.Second

// permanentDispatchErr: errors no retry cures (no signing key, a bad
// target, a task too large to sign).
func permanentDispatchErr(err error) bool {
	return errors.Is(err, ErrNoSigner) || errors.Is(err, errBadTarget)
}

// task is the attempt s of job jc as an executor gets it.
func task(jc *Job, s startReq) Task {
	params := s.run.Params
	t := Task{Run: s.run.ID, Jobnet: s.run.Jobnet, Job: s.job, Attempt: s.attempt, Kind: jc.Kind,
		Command: expand(jc.Command, params), Dir: expand(jc.Dir, params), Timeout: jc.Timeout,
		Cleanup: jc.Cleanup, DBMaint: jc.DBMaint, Report: jc.Report, Drill: jc.Drill, Rotate: jc.Rotate, Backup: jc.Backup, Scheduled: s.run.Scheduled}
	for _, a := range jc.Args {
		t.Args = append(t.Args, expand(a, params))
	}
	if len(jc.Env) > 0 {
		t.Env = map[string]string{}
		for k, v := range jc.Env {
			t.Env[k] = expand(v, params)
		}
	}
	return t
}

// RedispatchWithin: a new leader dispatches again the remote attempts
// that started less than this long ago. A leader that died between
// committing a start and handing the task to the agents leaves a job
// running that no agent has; the dispatch carries the attempt key as
// message id, so within the task stream's duplicate window (10m) an
// attempt that did reach the agents is stored once and runs once.
const RedispatchWithin = 5 * time.Minute

// remoteWhere reports whether a running job's Where is an agent target.
func remoteWhere(where string) bool {
	kind, name, ok := strings.Cut(where, ":")
	return ok && name != "" && (kind == "agent" || kind == "tag" || kind == "node")
}

// redispatch hands a running remote attempt to the agents again (a new
// leader's takeover); if it never arrives, the lease makes the job lost.
func (e *Engine) redispatch(ctx context.Context, s startReq) {
	n := e.netOf(s.run)
	if n == nil || e.opts.Remote == nil {
		return
	}
	jc := n.Job(s.job)
	if jc == nil {
		return
	}
	where := s.run.Jobs[s.job].Where
	t := task(jc, s)
	if err := e.dispatch(ctx, where, t, true); err != nil {
		e.log.Warn("dispatch again after takeover", "job", t.Key(), "target", where, "err", err)
		e.results <- Result{Run: t.Run, Job: t.Job, Attempt: t.Attempt, Code: -1, Err: "dispatch again to " + where + ": " + err.Error(), Ended: e.opts.Now()}
	}
}

func (e *Engine) settleAbnormal(ctx context.Context, n *Net, jc *Job, s startReq, reason string) {
	if e.propose(ctx, runstate.Op{Kind: runstate.OpSettle, Run: s.run.ID, Job: s.job, State: runstate.EndedAbnormal, Reason: reason}) == nil {
		e.raise(ctx, n, jc, s.run.ID, s.job, "abnormal", reason, incident.Problem)
	}
}

func (e *Engine) runLocal(ctx context.Context, t Task) {
	jctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	k := t.Key()
	e.mu.Lock()
	e.local[k] = cancel
	e.mu.Unlock()
	stop := context.AfterFunc(ctx, cancel) // the node stops: kill local jobs
	defer stop()
	res := e.opts.Local.Execute(jctx, t)
	e.mu.Lock()
	delete(e.local, k)
	e.mu.Unlock()
	cancel()
	if ctx.Err() != nil {
		// The node is stopping; the job's result is reported so the record
		// is complete when possible.
		e.handleResult(context.WithoutCancel(ctx), res)
		return
	}
	res.local = true
	e.results <- res
}

// Report takes an executor's result (from an agent); it returns nil once
// the result is committed or is stale (so the caller acknowledges it).
func (e *Engine) Report(ctx context.Context, r Result) error { return e.handleResult(ctx, r) }

// Heartbeat records signs of life of running attempts (keys run/job/attempt).
func (e *Engine) Heartbeat(keys []string) {
	now := e.opts.Now().UTC()
	e.mu.Lock()
	for _, k := range keys {
		e.seen[k] = now
	}
	e.mu.Unlock()
}

// runningWhere is where the attempt run/job/attempt was dispatched
// (runstate.Job.Where: "agent:NAME", "tag:TAG", "node:NAME", or the leading
// node's name for a job it runs itself, "nested" for a nested jobnet),
// if it is running; ok is false for an attempt that is not (ended, an old
// attempt, unknown).
func (e *Engine) runningWhere(run, job string, attempt int) (where string, ok bool) {
	e.opts.Log.View(func(st *runstate.State) {
		if r := st.Runs[run]; r != nil {
			if j := r.Jobs[job]; j != nil && j.State == runstate.Running && j.Attempt == attempt {
				where, ok = j.Where, true
			}
		}
	})
	return where, ok
}

// reportableWhere is runningWhere, also for an attempt declared lost
// (whose end may still come, see runstate's late end).
func (e *Engine) reportableWhere(run, job string, attempt int) (where string, ok bool) {
	e.opts.Log.View(func(st *runstate.State) {
		if r := st.Runs[run]; r != nil {
			if j := r.Jobs[job]; j != nil && (j.State == runstate.Running || j.State == runstate.Lost) && j.Attempt == attempt {
				where, ok = j.Where, true
			}
		}
	})
	return where, ok
}

func (e *Engine) handleResult(ctx context.Context, res Result) error {
	var (
		run   *runstate.Run
		job   *runstate.Job
		found bool
	)
	e.opts.Log.View(func(st *runstate.State) {
		if r := st.Runs[res.Run]; r != nil {
			if j := r.Jobs[res.Job]; j != nil && (j.State == runstate.Running || j.State == runstate.Lost) && j.Attempt == res.Attempt {
				run, job, found = r.Clone(), j, true
				jj := *j
				job = &jj
			}
		}
	})
	if !found {
		return nil // stale: already ended, or an old attempt
	}
	n := e.netOf(run)
	var jc *Job
	if n != nil {
		jc = n.Job(res.Job)
	}
	wasLost := job.State == runstate.Lost
	st := runstate.EndedAbnormal
	reason := res.Err
	switch {
	case res.Killed || job.Killing:
		st = runstate.Killed
	case res.Timeout:
		reason = fmt.Sprintf("timed out after %s; process tree killed", jc.timeout())
	case res.Err != "" && res.Code == -1:
	case jc != nil:
		st = jc.Judge(res.Code)
	}
	op := runstate.Op{Kind: runstate.OpEnd, Run: res.Run, Job: res.Job, Attempt: res.Attempt, State: st,
		Code: &res.Code, Output: res.Output, Reason: reason}
	if jc != nil && st != runstate.Killed && !res.Timeout && job.Tries <= jc.Retry.Count && jc.Retries(res.Code, st) ||
		jc != nil && res.Timeout && job.Tries <= jc.Retry.Count && len(jc.retryOn) == 0 && jc.Retry.Count > 0 {
		op.RetryAt = e.opts.Now().UTC().Add(jc.Retry.Interval)
	}
	if err := e.opts.Log.Propose(ctx, op); err != nil {
		if errors.Is(err, runstate.ErrState) || errors.Is(err, runstate.ErrNoRun) {
			return nil
		}
		e.log.Warn("job end not committed", "job", res.Key(), "err", err)
		return err
	}
	e.mu.Lock()
	delete(e.seen, res.Key())
	delete(e.killSent, res.Key())
	e.mu.Unlock()
	if wasLost {
		e.log.Warn("end of a job declared lost: it ran, and is recorded as it ended", "job", res.Key(), "state", st, "code", res.Code)
		if n != nil && (st == runstate.EndedNormal || st == runstate.EndedWarning) {
			e.raise(ctx, n, jc, res.Run, res.Job, "reported", fmt.Sprintf("job %s of run %s was declared lost but ran: it ended %s (end code %d)", res.Job, res.Run, st, res.Code), incident.OK)
		}
	}
	if !op.RetryAt.IsZero() {
		e.log.Info("job retry", "job", res.Key(), "code", res.Code, "at", op.RetryAt)
	} else {
		e.afterEnd(ctx, res.Run, res.Job, st, reason)
	}
	e.poke()
	return nil
}

func (j *Job) timeout() time.Duration {
	if j == nil {
		return 0
	}
	return j.Timeout
}

// afterEnd raises or clears the job's incident and records the run.
func (e *Engine) afterEnd(ctx context.Context, runID, job string, st runstate.JobState, reason string) {
	var run *runstate.Run
	e.opts.Log.View(func(s *runstate.State) {
		if r := s.Runs[runID]; r != nil {
			run = r.Clone()
		}
	})
	if run == nil {
		return
	}
	n := e.netOf(run)
	if n != nil {
		jc := n.Job(job)
		switch st {
		case runstate.EndedAbnormal, runstate.Lost:
			msg := fmt.Sprintf("job %s of run %s %s", job, runID, st)
			if c := run.Jobs[job].Code; c != nil && st == runstate.EndedAbnormal {
				msg += fmt.Sprintf(" (end code %d)", *c)
			}
			if reason != "" {
				msg += ": " + reason
			}
			e.raise(ctx, n, jc, runID, job, string(st), msg, incident.Problem)
		case runstate.EndedNormal:
			if run.Gen > 0 {
				e.raise(ctx, n, jc, runID, job, "recovered", fmt.Sprintf("job %s of run %s ended normally", job, runID), incident.OK)
			}
		}
	}
	e.record(ctx, run)
}

// raise publishes an incident event for a job (or the run when jc is
// nil): severity and runbook per job; dedup per jobnet and job, so a
// rerun that ends normally clears it.
func (e *Engine) raise(ctx context.Context, n *Net, jc *Job, run, job, what, msg string, status incident.Status) {
	if e.opts.Sink == nil || n == nil {
		return
	}
	sev, runbook, check := n.Severity, n.Runbook, "jobnet"
	if jc != nil {
		sev, runbook, check = jc.Severity, jc.Runbook, "job:"+jc.Name
	}
	s, err := incident.ParseSeverity(sev)
	if err != nil {
		s = incident.Major
	}
	ev := incident.Event{
		ID: IncidentEventID(run, job, what, status), Source: "jobnet", Target: n.Name, Check: check,
		Severity: s, Status: status, DedupKey: "jobnet/" + n.Name + "/" + check, Message: msg,
		Time: e.opts.Now().UTC(), Runbook: runbook,
		Labels: map[string]string{"run": run, "jobnet": n.Name, "what": what},
	}
	if job != "" {
		ev.Labels["job"] = job
	}
	if len(ev.Message) > incident.MaxMessageLen {
		ev.Message = ev.Message[:incident.MaxMessageLen]
	}
	e.publish(ctx, ev)
}

// IncidentEventID is the id of the event the engine raises about job of
// run (the run itself when job is empty): what is the job's end state
// ("ended-abnormal", "lost"), "abnormal" for a job settled abnormal
// before it started, or a flag ("start-delay", "end-delay", "recovered",
// "reported"). The same id every time, so that the ledger applies a
// retried or re-raised event once, and so that a test or an operator can
// find the incident of an end.
func IncidentEventID(run, job, what string, status incident.Status) string {
	sum := sha256.Sum256([]byte(run + "/" + job + "/" + what + "/" + string(status)))
	return "jobnet-" + hex.EncodeToString(sum[:12])
}

// maxRaising bounds the incidents being retried at once.
const maxRaising = 4096

// publish hands ev to the sink. A sink that cannot take it now (the bus
// electing a stream leader) is retried with backoff in the background,
// for up to Options.RaiseFor or until the engine stops; the event id
// makes a retry of a publish that was stored after all harmless.
func (e *Engine) publish(ctx context.Context, ev incident.Event) {
	try := func() error {
		pctx, cancel := context.WithTimeout(ctx, DispatchAttemptTimeout)
		defer cancel()
		return e.opts.Sink.Publish(pctx, ev)
	}
	err := try()
	if err == nil || ctx.Err() != nil {
		if err != nil {
			e.log.Error("raise incident: node stopping", "event", ev.ID, "labels", ev.Labels, "err", err)
		}
		return
	}
	if e.raising.Add(1) > maxRaising {
		e.raising.Add(-1)
		e.log.Error("raise incident: too many being retried; dropped", "event", ev.ID, "labels", ev.Labels, "err", err)
		return
	}
	e.log.Warn("raise incident failed; retrying", "event", ev.ID, "labels", ev.Labels, "err", err)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer e.raising.Add(-1)
		deadline := time.Now().Add(e.opts.RaiseFor)
		wait := 50 * time.Millisecond
		for tries := 2; ; tries++ {
			select {
			case <-ctx.Done():
				e.log.Error("raise incident: node stopping", "event", ev.ID, "labels", ev.Labels, "err", err)
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, 2*time.Second)
			if err = try(); err == nil {
				e.log.Info("incident raised after retries", "event", ev.ID, "tries", tries)
				return
			}
			if time.Now().After(deadline) {
				e.log.Error("raise incident: gave up", "event", ev.ID, "labels", ev.Labels, "tries", tries, "err", err)
				return
			}
		}
	}()
}

// record writes the run to the history; true when written (or there is
// no history store).
func (e *Engine) record(ctx context.Context, r *runstate.Run) bool {
	if e.opts.History == nil {
		return true
	}
	if err := e.opts.History.RecordRun(ctx, ToRecord(r)); err != nil {
		e.log.Warn("run history", "run", r.ID, "err", err)
		return false
	}
	return true
}

// ToRecord turns a run into its history record.
func ToRecord(r *runstate.Run) ledger.RunRecord {
	rec := ledger.RunRecord{ID: r.ID, Jobnet: r.Jobnet, Scheduled: r.Scheduled, Trigger: r.Trigger, By: r.By,
		Params: r.Params, Parent: r.Parent, Status: r.Status, Created: r.Created, Ended: r.Ended, Gen: r.Gen}
	for _, name := range r.Order {
		j := r.Jobs[name]
		rec.Jobs = append(rec.Jobs, ledger.JobRecord{Run: r.ID, Job: name, Attempt: j.Attempt, State: string(j.State),
			Code: j.Code, Where: j.Where, Started: j.Started, Ended: j.Ended, Output: j.Output, Reason: j.Reason})
	}
	return rec
}

// --- operator actions and reads ---

// Action is an operator action on a run.
type Action struct {
	Verb string `json:"verb"` // hold, release, skip, kill, rerun
	Job  string `json:"job,omitempty"`
	Mode string `json:"from,omitempty"` // rerun: failed, after, all, warnings
	By   string `json:"by,omitempty"`
}

// ErrBadAction: not an action this engine knows.
var ErrBadAction = errors.New("jobnet: bad action")

// Act applies an operator action to a live (not yet archived) run.
func (e *Engine) Act(ctx context.Context, run string, a Action) error {
	op := runstate.Op{Run: run, Job: a.Job, By: a.By}
	switch a.Verb {
	case "hold":
		op.Kind = runstate.OpHold
	case "release":
		op.Kind = runstate.OpRelease
	case "skip":
		op.Kind = runstate.OpSkip
	case "kill":
		op.Kind = runstate.OpKill
	case "rerun":
		op.Kind, op.Mode = runstate.OpRerun, a.Mode
		if op.Mode == "" {
			op.Mode = runstate.RerunFailed
		}
	default:
		return fmt.Errorf("%w: %q: want hold, release, skip, kill or rerun", ErrBadAction, a.Verb)
	}
	err := e.opts.Log.Propose(ctx, op)
	e.poke()
	return err
}

// Runs returns copies of the runs in the replicated state (live and
// recently ended), oldest first.
func (e *Engine) Runs() []*runstate.Run {
	var out []*runstate.Run
	e.opts.Log.View(func(st *runstate.State) {
		for _, r := range st.SortedRuns() {
			out = append(out, r.Clone())
		}
	})
	return out
}

// Run returns a copy of one run in the replicated state.
func (e *Engine) GetRun(id string) (*runstate.Run, bool) {
	var out *runstate.Run
	e.opts.Log.View(func(st *runstate.State) {
		if r := st.Runs[id]; r != nil {
			out = r.Clone()
		}
	})
	return out, out != nil
}
