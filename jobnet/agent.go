package jobnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/configs"
)

// Subjects and streams of remote execution. Tasks and results are in
// JetStream work-queue streams, so neither is lost when the leader or an
// agent restarts; each is published with its attempt key as message id,
// so a repeated dispatch or report is stored once.
const (
	TaskStream      = "UNYO_JOBS"
	ResultStream    = "UNYO_JOBRESULTS"
	taskSubject     = "unyo.job.task"      // .agent.NAME | .tag.TAG | .node.NAME
	resultSubject   = "unyo.job.result"    // .NAME | .node.NAME: one stream, read by the leader
	killSubject     = "unyo.job.kill"      // .agent.NAME | .tag.TAG | .node.NAME (core NATS)
	beatSubject     = "unyo.job.heartbeat" // .NAME | .node.NAME, core NATS: {agent, keys}
	resultsConsumer = "jobnet-results"
)

// EnsureStreams creates the job streams (idempotent), retrying while
// JetStream cannot make them yet (no meta leader, too few peers for the
// replicas, a concurrent create; see bus.EnsureStream) for up to
// timeout (0: 30s; negative: until ctx ends), logging its progress.
//
// replicas > 0 creates or updates the streams with that many replicas (the
// node, which knows the bus); replicas <= 0 only creates a missing stream
// with one replica and leaves an existing one as it is (an agent, which
// must not undo the node's replication).
func EnsureStreams(ctx context.Context, js jetstream.JetStream, replicas int, timeout time.Duration, log *slog.Logger) error {
	for _, sc := range []jetstream.StreamConfig{
		{Name: TaskStream, Subjects: []string{taskSubject + ".>"}},
		// Results arrive on each sender's own subject (see senderOf); a
		// stream made before with the single subject unyo.job.result is
		// updated to this by the node (CreateOrUpdateStream).
		{Name: ResultStream, Subjects: []string{resultSubject + ".>"}},
	} {
		sc.Retention = jetstream.WorkQueuePolicy
		sc.Storage = jetstream.FileStorage
		sc.Duplicates = 10 * time.Minute
		sc.MaxAge = 7 * 24 * time.Hour
		sc.Replicas = max(replicas, 1)
		if err := bus.EnsureStream(ctx, js, sc, bus.StreamOptions{Timeout: timeout, CreateOnly: replicas <= 0, Logger: log}); err != nil {
			return fmt.Errorf("jobnet: %w", err)
		}
	}
	return nil
}

func token(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '*', '>', ' ', '\t':
			return '_'
		}
		return r
	}, s)
}

var errBadTarget = errors.New("jobnet: bad target")

// targetSubject maps "agent:NAME", "tag:TAG", "node:NAME" to a subject
// suffix ".agent.NAME".
func targetSubject(target string) (string, error) {
	kind, name, ok := strings.Cut(target, ":")
	if !ok || name == "" || (kind != "agent" && kind != "tag" && kind != "node") {
		return "", fmt.Errorf("%w %q", errBadTarget, target)
	}
	return "." + kind + "." + token(name), nil
}

// Agents is the engine's side of remote execution: it dispatches tasks,
// signed, sends kills, and feeds agents' heartbeats and results to the
// engine.
type Agents struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	signer  *Signer
	log     *slog.Logger
	refused *prometheus.CounterVec
	// tags: agent name → the tags it holds; nil: unknown (see
	// AgentsOptions.AgentTags).
	tags           map[string][]string
	tagsOf         func(string) ([]string, bool)
	resultsRefused *prometheus.CounterVec
	beatsRefused   *prometheus.CounterVec
	// direct counts direct hand-offs by outcome (see directSubject).
	direct *prometheus.CounterVec
	sealTo func() (string, error)
}

var _ Remote = (*Agents)(nil)

// AgentsOptions configure the dispatcher.
type AgentsOptions struct {
	// Replicas of the job streams (see EnsureStreams; default 1).
	Replicas int
	// StartTimeout bounds how long NewAgents retries making the job
	// streams while JetStream is not ready (see EnsureStreams: 0 is 30s,
	// negative waits until its context ends).
	StartTimeout time.Duration
	// Signer signs every task dispatched; without it Dispatch fails.
	Signer *Signer
	Logger *slog.Logger
	// Registerer takes unyo_jobnet_tasks_refused_total,
	// unyo_jobnet_results_refused_total and
	// unyo_jobnet_heartbeats_refused_total (nil: none).
	Registerer prometheus.Registerer
	// AgentTags are the agents that may connect and the tags each holds
	// (the embedded server's agents): a result or heartbeat for a tag:TAG
	// task is taken only from an agent listed with TAG. nil means unknown
	// (an external NATS server, whose own permissions decide who may take
	// a tag's tasks): then any agent may report on a tag's task. An empty
	// non-nil map lets no agent report on one.
	AgentTags map[string][]string
	// AgentTagsOf, when set, answers for an agent AgentTags does not list
	// (the agents enrolled at run time, whose tags change): its tags, ok
	// false for an agent it does not know either. It is asked with a nil
	// AgentTags too (an external NATS whose auth callout the nodes answer
	// for the enrolled agents).
	AgentTagsOf func(agent string) ([]string, bool)
	// SealTo, when set, gives the cluster's public curve key, put in
	// every rotate-password task dispatched (Task.SealTo) before it is
	// signed.
	SealTo func() (string, error)
}

// ErrNoSigner is returned by Dispatch without a task-signing key.
var ErrNoSigner = errors.New("jobnet: no task-signing key: tasks are not dispatched unsigned")

// NewAgents makes the job streams and returns the dispatcher.
func NewAgents(ctx context.Context, nc *nats.Conn, o AgentsOptions) (*Agents, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := EnsureStreams(ctx, js, max(o.Replicas, 1), o.StartTimeout, o.Logger); err != nil {
		return nil, err
	}
	a := &Agents{nc: nc, js: js, signer: o.Signer, log: o.Logger, tags: o.AgentTags, tagsOf: o.AgentTagsOf, sealTo: o.SealTo,
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "unyo_jobnet_tasks_refused_total",
			Help: "Tasks agents reported they refused (bad or missing signature, expired, misaddressed), by reason.",
		}, []string{"reason"}),
		resultsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "unyo_jobnet_results_refused_total",
			Help: "Job results the leader refused: from another sender than the one the attempt was dispatched to (sender), claiming another sender than their subject (claim), on a subject naming no sender (subject).",
		}, []string{"reason"}),
		beatsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "unyo_jobnet_heartbeats_refused_total",
			Help: "Attempt keys in heartbeats the leader refused, by reason (as unyo_jobnet_results_refused_total).",
		}, []string{"reason"}),
		direct: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "unyo_jobnet_direct_dispatch_total",
			Help: "Direct hand-offs of tasks to agents over core NATS, by outcome: taken, confirmed (taken, answer lost or dispatched again), refused (no agent listening, or it said no: stored in the stream), unanswered (stored in the stream).",
		}, []string{"outcome"}),
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{a.refused, a.resultsRefused, a.beatsRefused, a.direct} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("jobnet: metrics: %w", err)
			}
		}
	}
	return a, nil
}

// Dispatch implements Remote: it signs t for target, offers it to the
// target's agents directly (see directSubject) and, when none takes it,
// stores it in the task stream.
func (a *Agents) Dispatch(ctx context.Context, target string, t Task) error {
	return a.dispatch(ctx, target, t, false)
}

func (a *Agents) dispatch(ctx context.Context, target string, t Task, again bool) error {
	sfx, err := targetSubject(target)
	if err != nil {
		return err
	}
	if a.signer == nil {
		return ErrNoSigner
	}
	if t.Kind == configs.JobKindRotatePassword && a.sealTo != nil {
		if t.SealTo, err = a.sealTo(); err != nil {
			return fmt.Errorf("the cluster's curve key for rotate-password: %w", err)
		}
	}
	b, err := a.signer.Sign(target, t)
	if err != nil {
		return err
	}
	if a.handOff(ctx, sfx, t.Key(), b, again) {
		return nil
	}
	_, err = a.js.Publish(ctx, taskSubject+sfx, b, jetstream.WithMsgID("task:"+t.Key()))
	return err
}

// BeatLocal announces the attempts node runs itself, as its built-in
// agent announces those it runs for others (the leader takes them from
// the node's subject only).
func (a *Agents) BeatLocal(node string, keys []string) {
	b, _ := json.Marshal(heartbeat{Agent: node, Node: true, Keys: keys})
	_ = a.nc.Publish(beatSubject+senderSuffix("node", node), b)
}

// Kill implements Remote.
func (a *Agents) Kill(_ context.Context, target, key string) error {
	sfx, err := targetSubject(target)
	if err != nil {
		return err
	}
	return a.nc.Publish(killSubject+sfx, []byte(key))
}

// Serve feeds heartbeats and results to e until ctx ends. Results are
// taken only while e's node leads, and acknowledged only once committed
// (or found stale), so a leader change loses none.
//
// Each result and heartbeat is taken only from the subject of the sender
// the attempt was dispatched to (see accept): anything else is refused,
// logged and counted, and changes nothing.
func (a *Agents) Serve(ctx context.Context, e *Engine) error {
	sub, err := a.nc.Subscribe(beatSubject+".>", func(m *nats.Msg) {
		var hb heartbeat
		if json.Unmarshal(m.Data, &hb) != nil {
			return
		}
		keys := hb.Keys[:0:0]
		var first, firstReason string // logged once per message, not per key
		refused := 0
		for _, k := range hb.Keys {
			run, job, attempt, ok := splitKey(k)
			if !ok {
				continue
			}
			if reason := a.accept(e, m.Subject, run, job, attempt, hb.claim()); reason != "" {
				a.beatsRefused.WithLabelValues(reason).Inc()
				if refused++; refused == 1 {
					first, firstReason = k, reason
				}
				continue
			}
			keys = append(keys, k)
		}
		if refused > 0 {
			a.log.Warn("heartbeat refused", "job", first, "claimed", hb.claim(), "subject", m.Subject,
				"reason", firstReason, "keys_refused", refused)
		}
		e.Heartbeat(keys)
	})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	// Retried until made (or ctx ends): a node without its results
	// consumer would take no agent's result.
	cons, err := bus.EnsureConsumer(ctx, a.js, ResultStream, jetstream.ConsumerConfig{
		Durable: resultsConsumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second,
		MaxAckPending: 10000,
	}, -1, a.log)
	if err != nil {
		return fmt.Errorf("jobnet: results consumer: %w", err)
	}
	for ctx.Err() == nil {
		if !e.opts.Log.Leader() {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(250*time.Millisecond))
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("fetch results", "err", err)
				time.Sleep(200 * time.Millisecond)
			}
			continue
		}
		var wg sync.WaitGroup
		for m := range batch.Messages() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var r Result
				if err := json.Unmarshal(m.Data(), &r); err != nil {
					a.log.Error("undecodable job result dropped", "err", err)
					_ = m.Term()
					return
				}
				if reason := a.accept(e, m.Subject(), r.Run, r.Job, r.Attempt, r.Where); reason != "" {
					a.resultsRefused.WithLabelValues(reason).Inc()
					a.log.Warn("job result refused", "job", r.Key(), "claimed", r.Where, "subject", m.Subject(),
						"reason", reason, "code", r.Code)
					_ = m.Term()
					return
				}
				if r.Refused != "" {
					a.refused.WithLabelValues(r.Refused).Inc()
					a.log.Warn("an agent refused a task", "job", r.Key(), "where", r.Where, "reason", r.Refused, "err", r.Err)
				}
				if err := e.Report(ctx, r); err != nil {
					_ = m.NakWithDelay(500 * time.Millisecond)
					return
				}
				_ = m.Ack()
			}()
		}
		wg.Wait()
	}
	return nil
}

// accept checks a result or heartbeat for attempt run/job/attempt that
// arrived on subject and claims to come from claimed (Result.Where, or
// the heartbeat's "agent:NAME"; "" claims nothing). It returns "" to take
// it, else the reason to refuse it. An attempt that is not running is
// taken: the engine finds it stale and changes nothing.
func (a *Agents) accept(e *Engine, subject, run, job string, attempt int, claimed string) string {
	prefix := resultSubject
	if strings.HasPrefix(subject, beatSubject+".") {
		prefix = beatSubject
	}
	s, ok := senderOf(subject, prefix)
	if !ok {
		return RefusedSubject
	}
	if claimed != "" && claimed != s.String() {
		return RefusedClaim
	}
	where, running := e.reportableWhere(run, job, attempt)
	if !running {
		return ""
	}
	if !mayReport(s, where, a.tagsFor(s.name)) {
		return RefusedSender
	}
	return ""
}

// tagsFor is the tags map mayReport checks agent against: AgentTags, or
// agent's own entry from AgentTagsOf when AgentTags does not list it. With
// an external NATS (AgentTags nil) an agent AgentTagsOf knows (an
// enrolled agent, let in by the nodes' auth callout with its registry
// tags) is held to its tags too; one it does not know (a user of the
// server's own configuration) is not.
func (a *Agents) tagsFor(agent string) map[string][]string {
	if a.tagsOf == nil {
		return a.tags
	}
	if _, ok := a.tags[agent]; ok {
		return a.tags
	}
	if t, ok := a.tagsOf(agent); ok {
		return map[string][]string{agent: t}
	}
	return a.tags
}

type heartbeat struct {
	Agent string   `json:"agent"`
	Node  bool     `json:"node,omitempty"`
	Keys  []string `json:"keys"`
}

// claim is who the heartbeat says it is from, "agent:NAME" or "node:NAME".
func (hb heartbeat) claim() string {
	switch {
	case hb.Agent == "":
		return ""
	case hb.Node:
		return "node:" + hb.Agent
	}
	return "agent:" + hb.Agent
}

// Agent runs jobs on a managed server: `unyo agent --name NAME --nats URL`.
// It takes tasks for its name (and for each of its tags) from JetStream,
// runs only those signed by a key it trusts, addressed to it, not expired
// and not seen before (see Verifier), acknowledges a task when it starts
// it (so a task runs at most once), reports liveness of what it runs every
// Heartbeat, and hands each result to a node's spool (or, failing that,
// publishes it to JetStream), retrying until stored. It also takes the
// tasks the leader offers it directly over core NATS (direct.go). A task it refuses is logged, counted, removed from the stream
// and answered with a Result whose Refused says why, so that the leader
// ends the job abnormally instead of waiting for it.
type Agent struct {
	// Name is the agent's name (run_on.agent).
	Name string
	// Node makes it a unyo node's built-in agent (run_on.node: Name).
	Node bool
	Tags []string
	NC   *nats.Conn
	// Trust verifies the tasks' signatures (required).
	Trust *Verifier
	// Exec runs the tasks (default &Local{Name: "agent:" + Name}).
	Exec      Executor
	Heartbeat time.Duration
	// Parallel caps concurrent tasks (default 64).
	Parallel int
	Logger   *slog.Logger
	// Registerer takes unyo_agent_tasks_run_total and
	// unyo_agent_tasks_refused_total (nil: none).
	Registerer prometheus.Registerer
	// Results, when set, takes the agent's results and refusals instead
	// of a direct JetStream publish: a node's built-in agent hands them to
	// the node's spool (bus.Ingest), as every other ingest path does, so
	// they are on disk at once and forwarded through any stream-leader
	// election; a kill of the node after the job ended loses nothing.
	// Nil (a remote agent): sent to a node, which spools it the same way
	// (report.go), else published to JetStream; retried until stored.
	Results ResultSink

	// Gate, when set, says why the agent may not start a job now ("" when
	// it may): while it refuses, no task is fetched (they wait in the
	// stream), and it is asked again at the moment a fetched task would
	// start, which is handed back to the stream instead when it refuses.
	// The release modes refuse and mandatory use it.
	Gate func() string

	mu      sync.Mutex
	running map[string]context.CancelFunc
	// reporting: attempts that ended but whose result is not stored yet;
	// heartbeats keep naming them, so the leader does not take a job
	// whose report waits on a bus election for lost.
	reporting map[string]bool
	seen      map[string]time.Time // task key → expiry, against replays
	ran       prometheus.Counter
	refused   *prometheus.CounterVec
}

// gateRetry is how long a task handed back because the gate closed waits
// in the stream before it is offered again.
const gateRetry = time.Second

// gate is Gate's answer, "" without one.
func (a *Agent) gate() string {
	if a.Gate == nil {
		return ""
	}
	return a.Gate()
}

// ErrNoTrust is returned by Agent.Run without trusted keys.
var ErrNoTrust = errors.New("jobnet agent: no trusted task-signing key: every task would be refused")

func (a *Agent) metrics() error {
	a.ran = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "unyo_agent_tasks_run_total", Help: "Tasks the agent verified and ran."})
	a.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "unyo_agent_tasks_refused_total",
		Help: "Tasks the agent refused to run (unsigned, bad signature, unknown key, expired, misaddressed, replayed, malformed), by reason.",
	}, []string{"reason"})
	if a.Registerer == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{a.ran, a.refused} {
		if err := a.Registerer.Register(c); err != nil {
			return fmt.Errorf("jobnet agent: metrics: %w", err)
		}
	}
	return nil
}

// Run serves until ctx ends; running tasks are killed then.
func (a *Agent) Run(ctx context.Context) error {
	if a.Name == "" || a.NC == nil {
		return errors.New("jobnet agent: name and NATS connection required")
	}
	if a.Trust == nil || len(a.Trust.keys) == 0 {
		return ErrNoTrust
	}
	if err := a.metrics(); err != nil {
		return err
	}
	if a.Logger == nil {
		a.Logger = slog.New(slog.DiscardHandler)
	}
	if a.Heartbeat == 0 {
		a.Heartbeat = 2 * time.Second
	}
	if a.Parallel == 0 {
		a.Parallel = 64
	}
	kind := "agent"
	if a.Node {
		kind = "node"
	}
	if a.Exec == nil {
		a.Exec = &Local{Name: kind + ":" + a.Name}
	}
	a.running = map[string]context.CancelFunc{}
	a.reporting = map[string]bool{}
	a.seen = map[string]time.Time{}
	js, err := jetstream.New(a.NC)
	if err != nil {
		return err
	}
	type target struct{ durable, subject, name string }
	targets := []target{{kind + "-" + token(a.Name), "." + kind + "." + token(a.Name), kind + ":" + a.Name}}
	for _, t := range a.Tags {
		targets = append(targets, target{"tag-" + token(t), ".tag." + token(t), "tag:" + t})
	}
	sem := make(chan struct{}, a.Parallel)
	var wg sync.WaitGroup
	defer wg.Wait()
	// A consumer that cannot be made ends Run: what was started for the
	// targets before it stops then (cancel runs before wg.Wait).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, t := range targets {
		ks, err := a.NC.Subscribe(killSubject+t.subject, func(m *nats.Msg) { a.kill(string(m.Data)) })
		if err != nil {
			return err
		}
		defer ks.Unsubscribe()
		cons, err := a.consumer(ctx, js, jetstream.ConsumerConfig{
			Durable: t.durable, FilterSubject: taskSubject + t.subject,
			AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxAckPending: a.Parallel,
		})
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			gated := ""
			for ctx.Err() == nil {
				if a.Gate != nil {
					if why := a.gate(); why != "" {
						if why != gated {
							a.Logger.Warn("jobs refused", "reason", why)
							gated = why
						}
						select {
						case <-ctx.Done():
						case <-time.After(250 * time.Millisecond):
						}
						continue
					} else if gated != "" {
						a.Logger.Info("jobs allowed again")
						gated = ""
					}
				}
				batch, err := cons.Fetch(a.Parallel, jetstream.FetchMaxWait(500*time.Millisecond))
				if err != nil {
					if ctx.Err() == nil {
						time.Sleep(200 * time.Millisecond)
					}
					continue
				}
				for m := range batch.Messages() {
					o, err := a.verify(m.Data(), t.name)
					if err != nil {
						_ = m.Term() // a refused task is not redelivered
						a.refuse(ctx, js, m.Subject(), o.Task, err)
						continue
					}
					task := o.Task
					select {
					case sem <- struct{}{}:
					case <-ctx.Done():
						a.forget(task.Key())
						_ = m.Nak()
						return
					}
					// The gate closed since the fetch (a refuse mode that
					// arrived during the fetch's wait, or while the task
					// waited for a slot): the task is handed back, not run.
					if why := a.gate(); why != "" {
						a.forget(task.Key())
						<-sem
						_ = m.NakWithDelay(gateRetry)
						a.Logger.Warn("task handed back: jobs refused", "job", task.Key(), "reason", why)
						continue
					}
					// At most once: the task is ours from here.
					if err := m.DoubleAck(ctx); err != nil {
						a.forget(task.Key())
						<-sem
						continue
					}
					a.Logger.Info("task run", "job", task.Key(), "command", taskCommand(task), "target", o.Target,
						"by", o.By, "key_id", o.keyID)
					a.ran.Inc()
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer func() { <-sem }()
						a.execute(ctx, js, task)
					}()
				}
			}
		}()
	}
	// The leader's direct offers (direct.go), answered until Run returns.
	stopDirect, err := a.serveDirect(ctx, js, sem, &wg)
	if err != nil {
		return err
	}
	defer stopDirect()
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(a.Heartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				a.beat()
			}
		}
	}()
	a.Logger.Info("agent serving", "name", a.Name, "tags", a.Tags, "trusted_keys", a.Trust.KeyIDs())
	<-ctx.Done()
	return nil
}

// consumer creates (or updates) one of the agent's durable consumers on the
// task stream, waiting while the stream does not exist yet (the node makes
// it; an agent has no right to).
func (a *Agent) consumer(ctx context.Context, js jetstream.JetStream, cc jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	// The server answers a denied request with an asynchronous error, not
	// a reply: the request only times out, and the connection's last error
	// says why.
	denied := "Permissions Violation for Publish to \"$JS.API.CONSUMER.CREATE." + TaskStream + "." + cc.Durable + "."
	for wait, logged := 200*time.Millisecond, false; ; wait = min(2*wait, 5*time.Second) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		cons, err := js.CreateOrUpdateConsumer(cctx, TaskStream, cc)
		cancel()
		switch {
		case err == nil:
			return cons, nil
		case a.NC.LastError() != nil && strings.Contains(a.NC.LastError().Error(), denied):
			return nil, fmt.Errorf("jobnet agent: consumer %s on %s: %w (the agent's NATS user may not take %s: see nats.embedded.agents)",
				cc.Durable, cc.FilterSubject, a.NC.LastError(), cc.FilterSubject)
		case errors.Is(err, jetstream.ErrStreamNotFound):
			if !logged {
				a.Logger.Info("waiting for the task stream (a node creates it when it has jobnets)", "stream", TaskStream)
				logged = true
			}
		case permanentConsumerErr(err):
			return nil, fmt.Errorf("jobnet agent: consumer %s on %s: %w", cc.Durable, cc.FilterSubject, err)
		default:
			// Timeouts, no quorum, no placement, an election: retried.
			a.Logger.Warn("creating the task consumer; retrying", "consumer", cc.Durable, "retry_in", wait, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// permanentConsumerErr: a consumer configuration the server refuses;
// no wait cures it.
func permanentConsumerErr(err error) bool {
	var ae *jetstream.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode {
	case 10013, // consumer name already in use
		10093, // filter subject not a subset of the stream's
		10131: // filter subject does not match the create subject
		return true
	}
	return false
}

// verify opens a task message received for target (agent:NAME, tag:TAG or
// node:NAME) and checks it is addressed there and not a replay. With an
// error (a *Refusal) the task returned is unverified and only names the
// attempt to report the refusal for.
func (a *Agent) verify(data []byte, target string) (opened, error) {
	now := time.Now()
	o, err := a.Trust.open(data, now)
	if err != nil {
		return o, err
	}
	if o.Target != target {
		return o, refuse(RefusedMisaddressed, "signed for %s, received as %s", o.Target, target)
	}
	k := o.Task.Key()
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.seen[k]; dup {
		return o, refuse(RefusedReplayed, "attempt %s already taken by this agent", k)
	}
	if len(a.seen) >= maxSeen {
		for sk, exp := range a.seen {
			if !now.Before(exp) {
				delete(a.seen, sk)
			}
		}
		if len(a.seen) >= maxSeen {
			return o, refuse(RefusedOverloaded, "more than %d live tasks remembered; refusing rather than forgetting", maxSeen)
		}
	}
	a.seen[k] = o.Expires
	return o, nil
}

// forget drops a task key verify recorded, for a task not taken after all.
func (a *Agent) forget(k string) {
	a.mu.Lock()
	delete(a.seen, k)
	a.mu.Unlock()
}

// taskCommand is what a task runs, for the log.
func taskCommand(t Task) string {
	if t.Command != "" {
		return t.Command
	}
	return t.Kind
}

// refuse logs and counts a refused task and, when it names an attempt,
// publishes a result saying so (not for a replay: the attempt is this
// agent's own and is running or done).
func (a *Agent) refuse(ctx context.Context, js jetstream.JetStream, subject string, t Task, err error) {
	var r *Refusal
	if !errors.As(err, &r) {
		r = &Refusal{Reason: RefusedMalformed, Detail: err.Error()}
	}
	a.refused.WithLabelValues(r.Reason).Inc()
	k := ""
	if t.Run != "" {
		k = t.Key()
	}
	a.Logger.Warn("task refused", "job", k, "reason", r.Reason, "detail", r.Detail, "subject", subject,
		"command", taskCommand(t))
	if k == "" || r.Reason == RefusedReplayed {
		return
	}
	where := "agent:" + a.Name
	if a.Node {
		where = "node:" + a.Name
	}
	now := time.Now()
	res := Result{Run: t.Run, Job: t.Job, Attempt: t.Attempt, Code: -1, Where: where, Started: now, Ended: now,
		Refused: r.Reason, Err: fmt.Sprintf("%s refused the task: %s", where, r.Error())}
	b, _ := json.Marshal(res)
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	id := "refused:" + k + ":" + r.Reason
	if a.Results != nil {
		err := a.Results.Append(pctx, a.subject(resultSubject), id, b)
		if err == nil {
			return
		}
		a.Logger.Warn("spool refusal; publishing it", "job", k, "err", err)
	}
	a.deliver(pctx, js, k, id, b, false) // a node's spool, else the stream
}

func (a *Agent) beat() {
	a.mu.Lock()
	keys := make([]string, 0, len(a.running)+len(a.reporting))
	for k := range a.running {
		keys = append(keys, k)
	}
	for k := range a.reporting {
		keys = append(keys, k)
	}
	a.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	b, _ := json.Marshal(heartbeat{Agent: a.Name, Node: a.Node, Keys: keys})
	_ = a.NC.Publish(a.subject(beatSubject), b)
}

// subject is the agent's own results or heartbeats subject (prefix
// resultSubject or beatSubject): the only ones its NATS user may publish
// on, and the ones the leader takes its reports from.
func (a *Agent) subject(prefix string) string {
	kind := "agent"
	if a.Node {
		kind = "node"
	}
	return prefix + senderSuffix(kind, a.Name)
}

func (a *Agent) kill(key string) {
	a.mu.Lock()
	cancel := a.running[key]
	a.mu.Unlock()
	if cancel != nil {
		a.Logger.Info("kill", "job", key)
		cancel()
	}
}

func (a *Agent) execute(ctx context.Context, js jetstream.JetStream, t Task) {
	k := t.Key()
	jctx, cancel := context.WithCancel(ctx)
	a.mu.Lock()
	a.running[k] = cancel
	a.mu.Unlock()
	a.beat()
	res := a.Exec.Execute(jctx, t)
	cancel()
	a.mu.Lock()
	delete(a.running, k)
	a.reporting[k] = true
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.reporting, k)
		a.mu.Unlock()
	}()
	b, _ := json.Marshal(res)
	if a.Results != nil {
		// The spool answers once the result is on disk; it never waits
		// for the bus. A full spool (or a hung disk) falls back to the
		// direct publish below, with the same message id.
		actx, acancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err := a.Results.Append(actx, a.subject(resultSubject), "result:"+k, b)
		acancel()
		if err == nil {
			return
		}
		a.Logger.Warn("spool result; publishing it", "job", k, "err", err)
	}
	// A node's spool (over core NATS), else the results stream; retried
	// until stored.
	a.deliver(ctx, js, k, "result:"+k, b, true)
}
