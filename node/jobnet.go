package node

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/internal/jsondur"
	"github.com/unyo-ops/unyo/jobnet"
	"github.com/unyo-ops/unyo/jobnet/runstate"
)

// JobnetOptions configure the job network on the node (package jobnet).
// The zero value (no jobnets) runs none.
type JobnetOptions struct {
	Jobnets configs.JobnetsConfig
	// LogPath is the single-node run log, used when the node runs without
	// Raft ("" keeps it in memory). With Raft the run state is in the
	// cluster's log.
	LogPath string
	// Tick, LostAfter and KeepEnded tune the engine (jobnet.Options).
	Tick, LostAfter, KeepEnded time.Duration
	// SigningKeyFile is the node's private task-signing key, created on
	// first start (see jobnet.LoadOrCreateSigningKey). Empty: a new key in
	// memory at each start (tests; no agent outside can trust it).
	SigningKeyFile string
	// TrustedKeyFiles are other nodes' public keys, trusted by the node's
	// built-in agent besides the node's own.
	TrustedKeyFiles []string
	// TaskTTL is how long a signed task stays valid (default
	// jobnet.DefaultTaskTTL).
	TaskTTL time.Duration
}

// jobnetOptions turns the jobnets section into JobnetOptions.
func jobnetOptions(c *configs.Config) JobnetOptions {
	return JobnetOptions{Jobnets: c.Jobnets, LogPath: filepath.Join(c.Node.DataDir, "jobnet", "runs.log"),
		SigningKeyFile: c.NATS.TaskSigning.KeyFile, TrustedKeyFiles: c.NATS.TaskSigning.TrustedKeys,
		TaskTTL: c.NATS.TaskSigning.TTL}
}

// signer loads (or creates) the node's task-signing key and returns it
// with the keys the node's built-in agent trusts.
func (n *Node) signer() (*jobnet.Signer, *jobnet.Verifier, error) {
	o := n.opts.Jobnets
	var (
		s       *jobnet.Signer
		created bool
		err     error
	)
	if o.SigningKeyFile == "" {
		s, err = jobnet.GenerateSigner(n.opts.Name)
	} else {
		s, created, err = jobnet.LoadOrCreateSigningKey(o.SigningKeyFile, n.opts.Name)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("node: %w", err)
	}
	s.TTL = o.TaskTTL
	trusted, err := jobnet.ReadTrustedKeys(o.TrustedKeyFiles...)
	if err != nil {
		return nil, nil, fmt.Errorf("node: trusted task-signing keys: %w", err)
	}
	if o.SigningKeyFile != "" {
		n.log.Info("task-signing key", "key_id", s.KeyID(), "created", created,
			"public_key_file", jobnet.PublicKeyPath(o.SigningKeyFile), "trusted_keys", len(trusted))
	}
	return s, jobnet.NewVerifier(append(trusted, s.PublicKey())...), nil
}

// jobnetPart is the running job network of a node: the engine (which
// schedules only while this node leads), the agent transport, the
// triggers, and the node's built-in agent that runs the jobs whose
// run_on.node names this node when another node leads.
type jobnetPart struct {
	engine *jobnet.Engine
	agents *jobnet.Agents
	trust  *jobnet.Verifier // what the built-in agent trusts
	file   *jobnet.FileLog  // nil with Raft
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// restartTriggers stops the triggers' watchers and starts them again
	// on the engine's current jobnets (after a reload).
	restartTriggers func()
}

// newJobnet compiles the jobnets and builds the engine on the run log:
// the cluster's Raft log when the node runs Raft, else a file in the data
// directory. With no jobnets it builds nothing (a reload that adds the
// first one builds it then: reloadJobnets).
func (n *Node) newJobnet(ctx context.Context) error {
	n.jobnetMu.Lock()
	defer n.jobnetMu.Unlock()
	return n.newJobnetLocked(ctx, n.opts.Jobnets.Jobnets)
}

func (n *Node) newJobnetLocked(ctx context.Context, cfg configs.JobnetsConfig) error {
	o := n.opts.Jobnets
	if len(cfg) == 0 {
		if o.SigningKeyFile != "" {
			// Made on first start all the same, so that the agents can be
			// given the public key before the first jobnet is configured.
			if _, _, err := n.signer(); err != nil {
				return err
			}
		}
		return nil
	}
	signer, trust, err := n.signer()
	if err != nil {
		return err
	}
	nets, err := jobnet.Compile(cfg)
	if err != nil {
		return fmt.Errorf("node: jobnets: %w", err)
	}
	p := &jobnetPart{trust: trust}
	var log jobnet.RunLog
	if n.raft != nil {
		log = jobnet.ClusterLog{Node: n.raft}
	} else {
		if p.file, err = jobnet.OpenFileLog(o.LogPath, nil); err != nil {
			return fmt.Errorf("node: %w", err)
		}
		log = p.file
	}
	lg := n.log.With("component", "jobnet")
	p.agents, err = jobnet.NewAgents(ctx, n.bus.Conn(), jobnet.AgentsOptions{
		Replicas: n.bus.Replicas(), StartTimeout: n.opts.Bus.StartTimeout, Signer: signer, Logger: lg, Registerer: n.opts.Registry,
		AgentTags: n.agentTags(), AgentTagsOf: n.enrolledTags, SealTo: n.sealTo})
	if err != nil {
		p.close()
		return fmt.Errorf("node: jobnet agents: %w", err)
	}
	p.engine, err = jobnet.New(jobnet.Options{
		Node: n.opts.Name, Log: log, Nets: nets, Remote: p.agents, History: n.store, Sink: n.ingest.in, Results: n.ingest.in,
		Logger: n.log, Tick: o.Tick, LostAfter: o.LostAfter, KeepEnded: o.KeepEnded,
		Local: &jobnet.Local{Name: n.opts.Name, Builtins: n.builtins()},
	})
	if err != nil {
		p.close()
		return fmt.Errorf("node: %w", err)
	}
	n.jobnets = p
	return nil
}

// reloadJobnets makes cfg the node's jobnets without a restart: new and
// changed jobnets take effect for new runs and schedules at once, a
// removed one is no longer scheduled, and runs in progress keep the
// definition they started with (jobnet.Engine.SetNets). The file and
// event triggers are restarted on the new definitions. The first jobnet
// configured builds and starts the job network.
func (n *Node) reloadJobnets(cfg configs.JobnetsConfig) error {
	nets, err := jobnet.Compile(cfg)
	if err != nil {
		return fmt.Errorf("jobnets: %w", err)
	}
	n.jobnetMu.Lock()
	defer n.jobnetMu.Unlock()
	p := n.jobnets
	if p == nil {
		if len(nets) == 0 {
			return nil
		}
		if n.bgctx == nil {
			return errors.New("jobnets: the node is not started")
		}
		if err := n.newJobnetLocked(n.bgctx, cfg); err != nil {
			return err
		}
		return n.startJobnetLocked(n.bgctx)
	}
	p.engine.SetNets(nets)
	if p.restartTriggers != nil {
		p.restartTriggers()
	}
	n.log.Info("jobnets reloaded", "component", "jobnet", "jobnets", len(nets))
	return nil
}

// agentTags are the agents the embedded server lets in and their tags:
// the leader takes a report on a tag's task only from one of them holding
// the tag. nil with an external NATS server, which the node does not
// configure (its own permissions decide who may take a tag's tasks).
func (n *Node) agentTags() map[string][]string {
	if n.opts.Bus.URL != "" {
		return nil
	}
	m := make(map[string][]string, len(n.opts.Bus.Agents))
	for _, a := range n.opts.Bus.Agents {
		m[a.Name] = a.Tags
	}
	return m
}

func (p *jobnetPart) close() {
	if p.file != nil {
		_ = p.file.Close()
	}
}

// startJobnet runs the engine, the agents' results and heartbeats, the
// triggers and the node's built-in agent.
func (n *Node) startJobnet(ctx context.Context) error {
	n.jobnetMu.Lock()
	defer n.jobnetMu.Unlock()
	return n.startJobnetLocked(ctx)
}

func (n *Node) startJobnetLocked(ctx context.Context) error {
	p := n.jobnets
	if p == nil {
		return nil
	}
	ctx, p.cancel = context.WithCancel(ctx)
	lg := n.log.With("component", "jobnet")
	builtin := &jobnet.Agent{Name: n.opts.Name, Node: true, NC: n.bus.Conn(), Logger: lg, Trust: p.trust, Results: n.ingest.in,
		Registerer: n.opts.Registry, Exec: &jobnet.Local{Name: "node:" + n.opts.Name, Builtins: n.builtins()}}
	run := func(f func() error) {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if err := f(); err != nil && ctx.Err() == nil {
				lg.Error("jobnet stopped", "err", err)
			}
		}()
	}
	for _, f := range []func() error{
		func() error { return p.engine.Run(ctx) },
		func() error { return p.agents.Serve(ctx, p.engine) },
		// Remote agents' results, into this node's spool (leader or not).
		func() error { return p.agents.ServeReports(ctx, n.ingest.in) },
		func() error { return builtin.Run(ctx) },
		// Remote agents' rotated passwords, into the ledger.
		func() error { return n.serveVault(ctx, n.bus.Conn()) },
	} {
		run(f)
	}
	var (
		tmu      sync.Mutex
		tcancel  context.CancelFunc
		tdone    chan struct{}
		startTrg = func() {
			tctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			tcancel, tdone = cancel, done
			run(func() error { defer close(done); return p.engine.RunTriggers(tctx, n.bus.Conn()) })
		}
	)
	startTrg()
	p.restartTriggers = func() {
		tmu.Lock()
		defer tmu.Unlock()
		if ctx.Err() != nil {
			return
		}
		tcancel()
		<-tdone
		startTrg()
	}
	n.log.Info("job network started", "jobnets", len(p.engine.Nets()), "raft", n.raft != nil)
	return nil
}

// stopJobnet stops what startJobnet started (local jobs are killed) and
// closes the run log.
func (n *Node) stopJobnet() {
	n.jobnetMu.Lock()
	p := n.jobnets
	n.jobnetMu.Unlock()
	if p == nil {
		return
	}
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	p.close()
}

// jobnetEngine is the node's jobnet engine; nil while no jobnet is
// configured.
func (n *Node) jobnetEngine() *jobnet.Engine {
	n.jobnetMu.Lock()
	defer n.jobnetMu.Unlock()
	if n.jobnets == nil {
		return nil
	}
	return n.jobnets.engine
}

// jobnetsView is what the console serves: the jobnets the node runs now
// (none until some are configured; a reload may add them).
func (n *Node) jobnetsView() console.Jobnets {
	return jobnetView{n.jobnetEngine, n.store}
}

// jobnetView implements console.Jobnets over the engine (live runs) and
// the ledger's run history.
type jobnetView struct {
	engine func() *jobnet.Engine // nil while no jobnet is configured
	hist   ledger.RunHistoryStore
}

func (v jobnetView) summary(net *jobnet.Net, live map[string]int, now time.Time) console.JobnetSummary {
	s := console.JobnetSummary{Name: net.Name, Description: net.Description, Triggers: len(net.Triggers),
		Concurrency: net.Concurrency, Jobs: len(net.Jobs), Live: live[net.Name]}
	var next time.Time
	for _, sc := range net.Schedules {
		s.Schedules = append(s.Schedules, sc.Expr)
		if t := sc.Next(now); !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if !next.IsZero() {
		s.Next = &next
	}
	return s
}

func (v jobnetView) nets() map[string]*jobnet.Net {
	if e := v.engine(); e != nil {
		return e.Nets()
	}
	return nil
}

func (v jobnetView) runs() []*runstate.Run {
	if e := v.engine(); e != nil {
		return e.Runs()
	}
	return nil
}

func (v jobnetView) live() map[string]int {
	out := map[string]int{}
	for _, r := range v.runs() {
		if r.Live() && r.Parent == "" {
			out[r.Jobnet]++
		}
	}
	return out
}

// Jobnets implements console.Jobnets.
func (v jobnetView) Jobnets() []console.JobnetSummary {
	nets := v.nets()
	live := v.live()
	now := time.Now()
	var out []console.JobnetSummary
	for _, name := range slices.Sorted(maps.Keys(nets)) {
		out = append(out, v.summary(nets[name], live, now))
	}
	return out
}

// Jobnet implements console.Jobnets.
func (v jobnetView) Jobnet(name string) (console.JobnetDetail, error) {
	net := v.nets()[name]
	if net == nil {
		return console.JobnetDetail{}, fmt.Errorf("%w %q", console.ErrNoJobnet, name)
	}
	d := console.JobnetDetail{JobnetSummary: v.summary(net, v.live(), time.Now()), Params: net.Params.Defaults(), ParamPatterns: paramPatterns(net.Params)}
	level := map[string]int{}
	var depth func(string) int
	depth = func(j string) int {
		if l, ok := level[j]; ok {
			return l
		}
		level[j] = 0 // cycles are rejected at load; this only guards
		l := 0
		if jc := net.Job(j); jc != nil {
			for _, nd := range jc.Needs {
				l = max(l, depth(nd)+1)
			}
		}
		level[j] = l
		return l
	}
	for _, jc := range net.Jobs {
		node := console.JobNode{Name: jc.Name, Kind: jc.Kind, Command: jc.Command, Args: jc.Args, Jobnet: jc.Jobnet,
			Needs: jc.Needs, Hold: jc.Hold, Timeout: jsondur.Duration(jc.Timeout), Retries: jc.Retry.Count}
		switch {
		case jc.RunOn.Node != "":
			node.RunOn = "node:" + jc.RunOn.Node
		case jc.RunOn.Agent != "":
			node.RunOn = "agent:" + jc.RunOn.Agent
		case jc.RunOn.Tag != "":
			node.RunOn = "tag:" + jc.RunOn.Tag
		}
		d.Jobs = append(d.Jobs, node)
		l := depth(jc.Name)
		for len(d.Levels) <= l {
			d.Levels = append(d.Levels, nil)
		}
		d.Levels[l] = append(d.Levels[l], jc.Name)
	}
	return d, nil
}

// paramPatterns are the declared parameters' patterns.
func paramPatterns(ps configs.JobnetParams) map[string]string {
	out := make(map[string]string, len(ps))
	for _, p := range ps {
		out[p.Name] = p.Pattern
		if p.Pattern == "" {
			out[p.Name] = configs.DefaultParamPattern
		}
	}
	return out
}

// StartRun implements console.Jobnets.
func (v jobnetView) StartRun(ctx context.Context, name string, params map[string]string, by string) (string, error) {
	net := v.nets()[name]
	if net == nil {
		return "", fmt.Errorf("%w %q", console.ErrNoJobnet, name)
	}
	if err := net.CheckParams(params); err != nil {
		return "", fmt.Errorf("%w: %w", console.ErrInvalid, err)
	}
	id, err := v.engine().Start(ctx, name, params, "operator", by)
	if err != nil {
		return "", jobnetErr(err)
	}
	return id, nil
}

// Runs implements console.Jobnets: the replicated (live and recently
// ended) runs, then the history, newest first.
func (v jobnetView) Runs(ctx context.Context, f ledger.RunFilter) ([]ledger.RunRecord, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	seen := map[string]bool{}
	var out []ledger.RunRecord
	for _, r := range v.runs() {
		if f.Jobnet != "" && r.Jobnet != f.Jobnet {
			continue
		}
		rec := jobnet.ToRecord(r)
		rec.Jobs = nil
		out = append(out, rec)
		seen[r.ID] = true
	}
	hist, err := v.hist.Runs(ctx, ledger.RunFilter{Jobnet: f.Jobnet, Limit: limit})
	if err != nil && len(out) == 0 {
		return nil, err
	}
	for _, r := range hist {
		if !seen[r.ID] {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b ledger.RunRecord) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return cmpString(b.ID, a.ID)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Run implements console.Jobnets.
func (v jobnetView) Run(ctx context.Context, id string) (ledger.RunRecord, error) {
	if e := v.engine(); e != nil {
		if r, ok := e.GetRun(id); ok {
			return jobnet.ToRecord(r), nil
		}
	}
	rec, err := v.hist.RunDetail(ctx, id)
	if errors.Is(err, incident.ErrNotFound) {
		return rec, fmt.Errorf("%w %q", console.ErrNoRun, id)
	}
	return rec, err
}

// LiveRuns implements web.LiveRuns: the runs in the replicated state,
// with their jobs, without reading the history (the console's run
// watcher polls it).
func (v jobnetView) LiveRuns() []ledger.RunRecord {
	e := v.engine()
	if e == nil {
		return nil
	}
	var out []ledger.RunRecord
	for _, r := range e.Runs() {
		out = append(out, jobnet.ToRecord(r))
	}
	return out
}

// ActRun implements console.Jobnets.
func (v jobnetView) ActRun(ctx context.Context, id string, a console.RunAction) error {
	e := v.engine()
	if e == nil {
		return fmt.Errorf("%w %q (no job network)", console.ErrNoRun, id)
	}
	err := e.Act(ctx, id, jobnet.Action{Verb: a.Verb, Job: a.Job, Mode: a.From, By: a.By})
	return jobnetErr(err)
}

// jobnetErr maps the engine's errors to the console's.
func jobnetErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jobnet.ErrNoJobnet):
		return fmt.Errorf("%w: %w", console.ErrNoJobnet, err)
	case errors.Is(err, runstate.ErrNoRun):
		return fmt.Errorf("%w: %w (not live: archived runs cannot be acted on)", console.ErrNoRun, err)
	case errors.Is(err, runstate.ErrNoJob), errors.Is(err, runstate.ErrBadOp), errors.Is(err, jobnet.ErrBadAction), errors.Is(err, jobnet.ErrBadParam):
		return fmt.Errorf("%w: %w", console.ErrInvalid, err)
	case errors.Is(err, runstate.ErrState), errors.Is(err, jobnet.ErrForbidden), errors.Is(err, runstate.ErrExists):
		return fmt.Errorf("%w: %w", console.ErrConflict, err)
	case errors.Is(err, cluster.ErrNoQuorum), errors.Is(err, cluster.ErrNoLeader), errors.Is(err, cluster.ErrNotLeader), errors.Is(err, cluster.ErrStopped):
		// No leader to commit to (an election, or this node is cut off
		// from the majority): 503, at once (cluster.ErrNoQuorum).
		return console.Unavailable(err)
	}
	return err
}

// The lazy store keeps the run history once the real store is open.

var _ ledger.RunHistoryStore = (*lazyStore)(nil)

func (l *lazyStore) runs() (ledger.RunHistoryStore, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	rs, ok := s.(ledger.RunHistoryStore)
	if !ok {
		return nil, fmt.Errorf("%w: the %T store keeps no run history", ledger.ErrUnavailable, s)
	}
	return rs, nil
}

// RecordRun implements ledger.RunHistoryStore.
func (l *lazyStore) RecordRun(ctx context.Context, r ledger.RunRecord) error {
	s, err := l.runs()
	if err != nil {
		return err
	}
	return s.RecordRun(ctx, r)
}

// Runs implements ledger.RunHistoryStore.
func (l *lazyStore) Runs(ctx context.Context, f ledger.RunFilter) ([]ledger.RunRecord, error) {
	s, err := l.runs()
	if err != nil {
		return nil, err
	}
	return s.Runs(ctx, f)
}

// RunDetail implements ledger.RunHistoryStore.
func (l *lazyStore) RunDetail(ctx context.Context, id string) (ledger.RunRecord, error) {
	s, err := l.runs()
	if err != nil {
		return ledger.RunRecord{}, err
	}
	return s.RunDetail(ctx, id)
}
