package jobnet

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Direct hand-off: the leader offers a due task to a live agent over core
// NATS request/reply before storing it in the task stream, so that a job
// starts while JetStream elects the stream's leader (seconds) as long as
// the leader and the agent reach each other. The stream stays the durable
// fallback: a task nobody takes directly is stored there as before.
//
// The subjects are unyo.job.direct.agent.NAME, .tag.TAG or .node.NAME,
// followed by what is asked, .take or .confirm; the message is the signed
// task, as stored in the stream:
//
//   - take: run it. Each agent listens in a queue group per target (one
//     agent of a tag gets the offer). It answers {"taken":true} once it
//     has verified the task and has a slot for it (then runs it), or when
//     it already took the attempt (from the stream or an earlier offer);
//     else {"no": reason} (gated, busy, refused), and the leader stores
//     the task in the stream.
//   - confirm: did you take it? Every agent of the target hears it; one
//     that took the attempt answers {"taken":true}; for an agent or node
//     target the agent answers {"no":"not taken"}, a tag's agents that did
//     not take it stay silent. The leader asks it when an offer was not
//     answered in time (the agent may have taken it and its answer been
//     lost) and when it dispatches again (a retry after the stream may
//     have stored the task, a new leader's takeover): those never make an
//     agent of a tag take a task directly, so a tag's task already in the
//     stream is not also run by another agent of the tag. The one agent
//     of an agent or node target that answers "not taken" is then offered
//     the task (take): it refuses a stream copy of an attempt it took.
//
// The two are on distinct subjects because NATS counts an answer against
// each delivery to the connection: a request delivered to two
// subscriptions of one agent (its queue and its plain one) could not be
// answered under the agent's response permission (one answer each).
//
// Exactly once: an attempt's key is remembered by the agent that took it
// (Agent.seen) whichever way it came, so the stream copy of a task taken
// directly is refused as a replay (not run, no result) and an offer of a
// task taken from the stream is answered "taken".
const (
	directSubject = "unyo.job.direct" // .agent.NAME | .tag.TAG | .node.NAME, then .take | .confirm (core NATS request/reply)
	directTake    = "take"
	directConfirm = "confirm"
	// directQueue is the queue group of the agents' take subscriptions.
	directQueue = "unyo-direct"
	// notTaken is an agent's answer to a confirmation of an attempt it
	// has not taken.
	notTaken = "not taken"
)

// DirectTimeout bounds the direct hand-off of one dispatch try: two
// thirds for the offer, one third for the confirmation asked when the
// offer is not answered. Zero disables the hand-off (tasks go to the
// stream only).
var DirectTimeout = 1500 * time.Millisecond

type directAnswer struct {
	Taken bool   `json:"taken,omitempty"`
	No    string `json:"no,omitempty"`
}

// offerResult is how a direct offer or confirmation ended.
type offerResult int

const (
	offerTaken      offerResult = iota // an agent has the task
	offerRefused                       // answered no, or nobody listens
	offerUnanswered                    // no answer in time: unknown
)

// offer sends the signed task b to subject with mode and waits up to
// timeout for an answer.
func (a *Agents) offer(ctx context.Context, subject, mode string, b []byte, timeout time.Duration) (offerResult, string) {
	if timeout <= 0 {
		return offerRefused, "direct hand-off disabled"
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := a.nc.RequestWithContext(rctx, subject+"."+mode, b)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return offerRefused, "no agent listening"
	case err != nil:
		return offerUnanswered, err.Error()
	}
	var ans directAnswer
	if json.Unmarshal(resp.Data, &ans) != nil {
		return offerRefused, "undecodable answer"
	}
	if ans.Taken {
		return offerTaken, ""
	}
	return offerRefused, ans.No
}

// handOff tries the direct hand-off of a signed task: an offer (take) or,
// for again, only a confirmation. It reports whether an agent has it.
func (a *Agents) handOff(ctx context.Context, sfx, key string, b []byte, again bool) bool {
	d := DirectTimeout
	if d <= 0 {
		return false
	}
	subj := directSubject + sfx
	if !again {
		res, why := a.offer(ctx, subj, directTake, b, d*2/3)
		switch res {
		case offerTaken:
			a.direct.WithLabelValues("taken").Inc()
			return true
		case offerRefused:
			a.direct.WithLabelValues("refused").Inc()
			a.log.Debug("direct hand-off refused; storing the task", "job", key, "subject", subj, "why", why)
			return false
		}
		a.log.Info("direct hand-off unanswered; asking whether it was taken", "job", key, "subject", subj, "err", why)
	}
	res, why := a.offer(ctx, subj, directConfirm, b, d/3)
	if res == offerTaken {
		a.direct.WithLabelValues("confirmed").Inc()
		return true
	}
	if again && res == offerRefused && why == notTaken && !strings.HasPrefix(sfx, ".tag.") {
		// The one agent of an agent or node target says it has not
		// taken the attempt: it is offered the task, so that a new
		// leader's takeover does not wait for the stream (whose leader
		// may be electing, for seconds). Still once: the agent takes an
		// attempt once whichever way it comes, and refuses the stream's
		// copy, if the old leader stored one, as a replay.
		res, why = a.offer(ctx, subj, directTake, b, d*2/3)
		if res == offerTaken {
			a.direct.WithLabelValues("taken").Inc()
			return true
		}
	}
	a.direct.WithLabelValues("unanswered").Inc()
	a.log.Debug("no agent holds the task; storing it", "job", key, "subject", subj, "why", why)
	return false
}

// DispatchAgain implements againDispatcher: as Dispatch, but an agent is
// only asked whether it took the attempt already, never offered it: the
// task may be in the stream (a retry after a store that failed late, a new
// leader's takeover), where another agent of a tag could take it.
func (a *Agents) DispatchAgain(ctx context.Context, target string, t Task) error {
	return a.dispatch(ctx, target, t, true)
}

// directTarget is one target an agent takes tasks for.
type directTarget struct {
	subject string // ".agent.NAME", ".tag.TAG", ".node.NAME"
	name    string // "agent:NAME", ...
	tag     bool
}

func (a *Agent) directTargets() []directTarget {
	kind := "agent"
	if a.Node {
		kind = "node"
	}
	ts := []directTarget{{subject: "." + kind + "." + token(a.Name), name: kind + ":" + a.Name}}
	for _, t := range a.Tags {
		ts = append(ts, directTarget{subject: ".tag." + token(t), name: "tag:" + t, tag: true})
	}
	return ts
}

// serveDirect answers the leader's direct offers and confirmations for the
// agent's targets (see directSubject) until the returned stop is called.
// A task taken directly runs as one fetched from the stream does, in a
// slot of sem, counted in wg. An agent whose NATS user may not subscribe
// there (an external NATS configured before this existed) takes tasks from
// the stream only: the leader hears no one and stores them there.
func (a *Agent) serveDirect(ctx context.Context, js jetstream.JetStream, sem chan struct{}, wg *sync.WaitGroup) (stop func(), _ error) {
	var (
		mu     sync.Mutex
		closed bool
		subs   []*nats.Subscription
	)
	stop = func() {
		mu.Lock()
		closed = true
		mu.Unlock()
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	}
	for _, t := range a.directTargets() {
		take, err := a.NC.QueueSubscribe(directSubject+t.subject+"."+directTake, directQueue, func(m *nats.Msg) {
			if m.Reply == "" {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if closed || ctx.Err() != nil {
				respond(m, directAnswer{No: "agent stopping"})
				return
			}
			a.takeDirect(ctx, js, m, t, sem, wg)
		})
		if err != nil {
			stop()
			return nil, err
		}
		subs = append(subs, take)
		confirm, err := a.NC.Subscribe(directSubject+t.subject+"."+directConfirm, func(m *nats.Msg) {
			if m.Reply == "" {
				return
			}
			a.confirmDirect(m, t)
		})
		if err != nil {
			stop()
			return nil, err
		}
		subs = append(subs, confirm)
	}
	return stop, nil
}

func respond(m *nats.Msg, ans directAnswer) {
	b, _ := json.Marshal(ans)
	_ = m.Respond(b)
}

// takeDirect handles an offer: the task is verified as a fetched one is,
// and taken if the gate is open and a slot free.
func (a *Agent) takeDirect(ctx context.Context, js jetstream.JetStream, m *nats.Msg, t directTarget, sem chan struct{}, wg *sync.WaitGroup) {
	o, err := a.verify(m.Data, t.name)
	if err != nil {
		var r *Refusal
		if errors.As(err, &r) && r.Reason == RefusedReplayed {
			respond(m, directAnswer{Taken: true}) // ours already
			return
		}
		// Not counted nor reported here: the stream copy the leader
		// stores now is refused, counted and reported as any other.
		reason := RefusedMalformed
		if r != nil {
			reason = r.Reason
		}
		respond(m, directAnswer{No: "refused: " + reason})
		return
	}
	task := o.Task
	if a.Gate != nil {
		if why := a.Gate(); why != "" {
			a.forget(task.Key())
			respond(m, directAnswer{No: "jobs refused: " + why})
			return
		}
	}
	select {
	case sem <- struct{}{}:
	default:
		a.forget(task.Key())
		respond(m, directAnswer{No: "busy"})
		return
	}
	// At most once: the task is ours from here, answered or not (a lost
	// answer makes the leader ask again, and the agent says it took it;
	// the stream copy is refused as a replay).
	respond(m, directAnswer{Taken: true})
	a.Logger.Info("task run", "job", task.Key(), "command", taskCommand(task), "target", o.Target,
		"by", o.By, "key_id", o.keyID, "direct", true)
	a.ran.Inc()
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() { <-sem }()
		a.execute(ctx, js, task)
	}()
}

// confirmDirect answers whether the agent took the attempt of the signed
// task in m. Only a task signed by a trusted key for this target is
// answered.
func (a *Agent) confirmDirect(m *nats.Msg, t directTarget) {
	o, err := a.Trust.open(m.Data, time.Now())
	if err != nil {
		var r *Refusal
		if !errors.As(err, &r) || r.Reason != RefusedExpired {
			return
		}
	}
	if o.Target != t.name || o.Task.Run == "" {
		return
	}
	a.mu.Lock()
	_, took := a.seen[o.Task.Key()]
	a.mu.Unlock()
	switch {
	case took:
		respond(m, directAnswer{Taken: true})
	case !t.tag:
		respond(m, directAnswer{No: notTaken})
	}
}

// againDispatcher is a Remote that can dispatch an attempt again without
// offering it to an agent directly (Agents).
type againDispatcher interface {
	DispatchAgain(ctx context.Context, target string, t Task) error
}

// isTagTarget: a task for any agent holding a tag.
func isTagTarget(target string) bool { return strings.HasPrefix(target, "tag:") }
