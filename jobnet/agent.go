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
)

// Subjects and streams of remote execution. Tasks and results are in
// JetStream work-queue streams, so neither is lost when the leader or an
// agent restarts; each is published with its attempt key as message id,
// so a repeated dispatch or report is stored once.
const (
	TaskStream      = "UNYO_JOBS"
	ResultStream    = "UNYO_JOBRESULTS"
	taskSubject     = "unyo.job.task"      // .agent.NAME | .tag.TAG | .node.NAME
	resultSubject   = "unyo.job.result"    // one stream, read by the leader
	killSubject     = "unyo.job.kill"      // .agent.NAME | .tag.TAG | .node.NAME (core NATS)
	beatSubject     = "unyo.job.heartbeat" // core NATS: {agent, keys}
	resultsConsumer = "jobnet-results"
)

// EnsureStreams creates the job streams (idempotent).
//
// replicas > 0 creates or updates the streams with that many replicas (the
// node, which knows the bus); replicas <= 0 only creates a missing stream
// with one replica and leaves an existing one as it is (an agent, which
// must not undo the node's replication).
func EnsureStreams(ctx context.Context, js jetstream.JetStream, replicas int) error {
	for _, sc := range []jetstream.StreamConfig{
		{Name: TaskStream, Subjects: []string{taskSubject + ".>"}},
		{Name: ResultStream, Subjects: []string{resultSubject}},
	} {
		sc.Retention = jetstream.WorkQueuePolicy
		sc.Storage = jetstream.FileStorage
		sc.Duplicates = 10 * time.Minute
		sc.MaxAge = 7 * 24 * time.Hour
		sc.Replicas = max(replicas, 1)
		if replicas <= 0 {
			if _, err := js.Stream(ctx, sc.Name); err == nil {
				continue
			}
			if _, err := js.CreateStream(ctx, sc); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				return fmt.Errorf("jobnet: stream %s: %w", sc.Name, err)
			}
			continue
		}
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("jobnet: stream %s: %w", sc.Name, err)
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

// targetSubject maps "agent:NAME", "tag:TAG", "node:NAME" to a subject
// suffix ".agent.NAME".
func targetSubject(target string) (string, error) {
	kind, name, ok := strings.Cut(target, ":")
	if !ok || name == "" || (kind != "agent" && kind != "tag" && kind != "node") {
		return "", fmt.Errorf("jobnet: bad target %q", target)
	}
	return "." + kind + "." + token(name), nil
}

// Agents is the engine's side of remote execution: it dispatches tasks,
// sends kills, and feeds agents' heartbeats and results to the engine.
type Agents struct {
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger
}

var _ Remote = (*Agents)(nil)

// NewAgents makes the streams with one replica and returns the dispatcher.
func NewAgents(ctx context.Context, nc *nats.Conn, log *slog.Logger) (*Agents, error) {
	return NewReplicatedAgents(ctx, nc, 1, log)
}

// NewReplicatedAgents makes the streams with replicas copies (see
// EnsureStreams) and returns the dispatcher.
func NewReplicatedAgents(ctx context.Context, nc *nats.Conn, replicas int, log *slog.Logger) (*Agents, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if err := EnsureStreams(ctx, js, replicas); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Agents{nc: nc, js: js, log: log}, nil
}

// Dispatch implements Remote.
func (a *Agents) Dispatch(ctx context.Context, target string, t Task) error {
	sfx, err := targetSubject(target)
	if err != nil {
		return err
	}
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	_, err = a.js.Publish(ctx, taskSubject+sfx, b, jetstream.WithMsgID("task:"+t.Key()))
	return err
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
func (a *Agents) Serve(ctx context.Context, e *Engine) error {
	sub, err := a.nc.Subscribe(beatSubject, func(m *nats.Msg) {
		var hb heartbeat
		if json.Unmarshal(m.Data, &hb) == nil {
			e.Heartbeat(hb.Keys)
		}
	})
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	cons, err := a.js.CreateOrUpdateConsumer(ctx, ResultStream, jetstream.ConsumerConfig{
		Durable: resultsConsumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second,
		MaxAckPending: 10000,
	})
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

type heartbeat struct {
	Agent string   `json:"agent"`
	Keys  []string `json:"keys"`
}

// Agent runs jobs on a managed server: `unyo agent --name NAME --nats URL`.
// It takes tasks for its name (and for each of its tags) from JetStream,
// acknowledges a task when it starts it (so a task runs at most once),
// reports liveness of what it runs every Heartbeat, and publishes each
// result to JetStream, retrying until stored.
type Agent struct {
	// Name is the agent's name (run_on.agent).
	Name string
	// Node makes it a unyo node's built-in agent (run_on.node: Name).
	Node bool
	Tags []string
	NC   *nats.Conn
	// Exec runs the tasks (default &Local{Name: "agent:" + Name}).
	Exec      Executor
	Heartbeat time.Duration
	// Parallel caps concurrent tasks (default 64).
	Parallel int
	Logger   *slog.Logger

	mu      sync.Mutex
	running map[string]context.CancelFunc
}

// Run serves until ctx ends; running tasks are killed then.
func (a *Agent) Run(ctx context.Context) error {
	if a.Name == "" || a.NC == nil {
		return errors.New("jobnet agent: name and NATS connection required")
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
	js, err := jetstream.New(a.NC)
	if err != nil {
		return err
	}
	if err := EnsureStreams(ctx, js, 0); err != nil {
		return err
	}
	targets := []struct{ durable, subject string }{{kind + "-" + token(a.Name), "." + kind + "." + token(a.Name)}}
	for _, t := range a.Tags {
		targets = append(targets, struct{ durable, subject string }{"tag-" + token(t), ".tag." + token(t)})
	}
	sem := make(chan struct{}, a.Parallel)
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, t := range targets {
		ks, err := a.NC.Subscribe(killSubject+t.subject, func(m *nats.Msg) { a.kill(string(m.Data)) })
		if err != nil {
			return err
		}
		defer ks.Unsubscribe()
		cons, err := js.CreateOrUpdateConsumer(ctx, TaskStream, jetstream.ConsumerConfig{
			Durable: t.durable, FilterSubject: taskSubject + t.subject,
			AckPolicy: jetstream.AckExplicitPolicy, AckWait: 30 * time.Second, MaxAckPending: a.Parallel,
		})
		if err != nil {
			return fmt.Errorf("jobnet agent: consumer %s: %w", t.durable, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				batch, err := cons.Fetch(a.Parallel, jetstream.FetchMaxWait(500*time.Millisecond))
				if err != nil {
					if ctx.Err() == nil {
						time.Sleep(200 * time.Millisecond)
					}
					continue
				}
				for m := range batch.Messages() {
					var task Task
					if err := json.Unmarshal(m.Data(), &task); err != nil {
						_ = m.Term()
						continue
					}
					select {
					case sem <- struct{}{}:
					case <-ctx.Done():
						_ = m.Nak()
						return
					}
					// At most once: the task is ours from here.
					if err := m.DoubleAck(ctx); err != nil {
						<-sem
						continue
					}
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
	a.Logger.Info("agent serving", "name", a.Name, "tags", a.Tags)
	<-ctx.Done()
	return nil
}

func (a *Agent) beat() {
	a.mu.Lock()
	keys := make([]string, 0, len(a.running))
	for k := range a.running {
		keys = append(keys, k)
	}
	a.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	b, _ := json.Marshal(heartbeat{Agent: a.Name, Keys: keys})
	_ = a.NC.Publish(beatSubject, b)
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
	a.mu.Unlock()
	b, _ := json.Marshal(res)
	for backoff := 100 * time.Millisecond; ; backoff = min(2*backoff, 5*time.Second) {
		pctx, pcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		_, err := js.Publish(pctx, resultSubject, b, jetstream.WithMsgID("result:"+k))
		pcancel()
		if err == nil {
			return
		}
		a.Logger.Warn("publish result; retrying", "job", k, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			if backoff > 2*time.Second {
				return
			}
		}
	}
}
