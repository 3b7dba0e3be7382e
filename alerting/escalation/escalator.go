package escalation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/notify"
	"github.com/unyo-ops/unyo/bus"

	"github.com/unyo-ops/unyo/internal/redact"
)

// By is the name the escalator writes timeline entries under.
const By = "escalation"

// Errors.
var (
	// ErrNoStore: the store does not implement ledger.EscalationStore.
	ErrNoStore = errors.New("escalation: the ledger store does not keep escalation state")
)

// Clock gives the time; tests inject a fake one.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// Options configure an Escalator.
type Options struct {
	Config Config
	// Store is the ledger; it must implement ledger.EscalationStore.
	Store ledger.Store
	// Bus carries incident transitions; nil means transitions are fed with
	// Handle (tests).
	Bus *bus.Bus
	// Notifiers by channel (mail, webhook, command).
	Notifiers map[string]notify.Notifier
	// Sink receives the events of a failing notifier (the bus).
	Sink notify.Sink
	// Parents returns the parent of a target ("" for none): a target whose
	// parent is down is unreachable and not paged.
	Parents func(target string) string
	Clock   Clock
	// Node names this node (in events); Owner identifies this escalator
	// in notification claims (default node + random suffix).
	Node  string
	Owner string
	// Fence returns this node's leadership term (in a cluster, the Raft
	// term it leads in). It is read when the escalator becomes active and
	// carried by every notification claim, so once a newer leader has
	// claimed, this one cannot (ledger.ErrFenced). Nil means 0.
	Fence func() int64
	// VerifyLeader confirms with a quorum that this node still leads. When
	// a claim is fenced out by a fence above this node's own term, a
	// confirmed leader knows the higher fence is from an earlier cluster
	// (rebuilt, so its terms started again) and takes the fence over. Nil
	// with a Fence: never take over. With no Fence (a single node) the
	// fence is always taken over.
	VerifyLeader func(context.Context) error
	// PollInterval is how often due steps and notifications are looked
	// for besides wake-ups (default 1s); Lease how long a claimed
	// notification is ours (default 2m); SendTimeout bounds one attempt
	// (default 30s).
	PollInterval time.Duration
	Lease        time.Duration
	SendTimeout  time.Duration
	// Durable is the JetStream consumer name (default "escalator").
	Durable    string
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Escalator runs escalation policies. It acts only while active
// (SetActive): in a cluster only the leader is, and every step it takes is a
// compare-and-set on the escalation's version with deterministic
// notification keys, so a new leader (or a restart) continues where the last
// one stopped, neither skipping a step nor repeating one.
type Escalator struct {
	opts  Options
	cfg   Config
	store ledger.EscalationStore
	led   ledger.Store
	log   *slog.Logger
	clock Clock
	m     *metrics
	nm    *notify.Metrics
	hl    *notify.Health
	cons  jetstream.Consumer

	wakeSteps   chan struct{}
	wakeDeliver chan struct{}

	timerMu sync.Mutex
	timer   *time.Timer // wakeAt
	timerAt time.Time

	mu     sync.Mutex
	active bool
	// fence is read by the loops while SetActive holds mu: atomic.
	fence  atomic.Int64
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New checks the options and, with a bus, creates the durable consumer of
// incident transitions. It starts nothing: call Start or SetActive(true).
func New(ctx context.Context, o Options) (*Escalator, error) {
	o.Config.defaults()
	if err := o.Config.Validate(); err != nil {
		return nil, fmt.Errorf("escalation: %w", err)
	}
	es, ok := o.Store.(ledger.EscalationStore)
	if !ok {
		return nil, ErrNoStore
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 30 * time.Second
	}
	if o.Durable == "" {
		o.Durable = "escalator"
	}
	if o.Node == "" {
		o.Node = "unyo"
	}
	if o.Owner == "" {
		var b [4]byte
		rand.Read(b[:])
		o.Owner = o.Node + "-" + hex.EncodeToString(b[:])
	}
	for _, p := range o.Config.Policies {
		for _, s := range p.Steps {
			for _, ch := range s.Channels {
				if o.Notifiers[ch] == nil {
					return nil, fmt.Errorf("escalation: policy %s uses channel %s, which has no notifier configured", p.Name, ch)
				}
			}
		}
	}
	e := &Escalator{opts: o, cfg: o.Config, store: es, led: o.Store, clock: o.Clock,
		log: o.Logger.With("component", "escalation"), m: newMetrics(o.Registerer), nm: notify.NewMetrics(o.Registerer),
		wakeSteps: make(chan struct{}, 1), wakeDeliver: make(chan struct{}, 1)}
	e.hl = &notify.Health{Node: o.Node, FailAfter: o.Config.FailAfter, Sink: o.Sink, Logger: e.log, Metrics: e.nm, Now: o.Clock.Now}
	if o.Bus != nil {
		cons, err := o.Bus.EnsureConsumer(ctx, o.Bus.IncidentsStream(), jetstream.ConsumerConfig{
			Durable:       o.Durable,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       30 * time.Second,
			MaxAckPending: 1024,
			// A new consumer starts with what is published from now on: enabling
			// alerting does not page for history.
			DeliverPolicy: jetstream.DeliverNewPolicy,
		}, 0)
		if err != nil {
			return nil, fmt.Errorf("escalation: %w", err)
		}
		e.cons = cons
	}
	return e, nil
}

// Config returns the configuration in force.
func (e *Escalator) Config() Config { return e.cfg }

// Start makes the escalator active (a single node is always the leader).
func (e *Escalator) Start() { e.SetActive(true) }

// Stop makes it inactive and waits for its loops to end.
func (e *Escalator) Stop() { e.SetActive(false) }

// SetActive starts (true) or stops (false) the transition consumer, the
// step loop and the delivery loop. It is idempotent; stopping waits for the
// loops. Work in flight is safe to abandon: it is redone from the ledger.
func (e *Escalator) SetActive(on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if on == e.active {
		return
	}
	e.active = on
	if !on {
		e.cancel()
		e.wg.Wait()
		e.m.active.Set(0)
		e.log.Info("escalator inactive")
		return
	}
	e.fence.Store(e.currentFence())
	e.m.fence.Set(float64(e.fence.Load()))
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	loops := []func(context.Context){e.stepLoop, e.deliverLoop}
	if e.cons != nil {
		loops = append(loops, e.consumeLoop)
	}
	for _, f := range loops {
		e.wg.Add(1)
		go func() { defer e.wg.Done(); f(ctx) }()
	}
	e.m.active.Set(1)
	e.log.Info("escalator active", "owner", e.opts.Owner, "fence", e.fence.Load())
}

func (e *Escalator) currentFence() int64 {
	if e.opts.Fence == nil {
		return 0
	}
	return e.opts.Fence()
}

// claimFence is the fence this escalator claims with.
func (e *Escalator) claimFence() int64 { return e.fence.Load() }

// refreshFence is called when a claim was fenced out: if this node has
// since become leader in a newer term (leadership lost and won again
// between two looks), it claims with that term from now on. It reports
// whether the fence rose.
func (e *Escalator) refreshFence() bool {
	f := e.currentFence()
	for {
		old := e.fence.Load()
		if f <= old {
			return false
		}
		if e.fence.CompareAndSwap(old, f) {
			e.m.fence.Set(float64(f))
			return true
		}
	}
}

// mayTakeOver: a fenced-out claim may take the fence over only when this
// node has no terms (single node) or a quorum confirms it leads.
func (e *Escalator) mayTakeOver(ctx context.Context) bool {
	if e.opts.Fence == nil {
		return true
	}
	if e.opts.VerifyLeader == nil {
		return false
	}
	return e.opts.VerifyLeader(ctx) == nil
}

// Active reports whether the escalator is active.
func (e *Escalator) Active() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.active
}

// Wake makes the loops look for due work now.
func (e *Escalator) Wake() {
	for _, ch := range []chan struct{}{e.wakeSteps, e.wakeDeliver} {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (e *Escalator) consumeLoop(ctx context.Context) {
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, time.Second)
		batch, err := e.cons.Fetch(64, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			if ctx.Err() == nil {
				e.log.Warn("fetch transitions", "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		for msg := range batch.Messages() {
			var tr bus.Transition
			if err := json.Unmarshal(msg.Data(), &tr); err != nil || tr.Entry.IncidentID == 0 {
				e.log.Error("undecodable transition; dropped", "subject", msg.Subject(), "err", err)
				_ = msg.Term()
				continue
			}
			if err := e.Handle(ctx, tr); err != nil {
				if ctx.Err() == nil {
					e.log.Warn("handle transition; will retry", "incident", tr.Entry.IncidentID, "kind", tr.Entry.Kind, "err", err)
				}
				_ = msg.NakWithDelay(time.Second)
				continue
			}
			_ = msg.Ack()
		}
		if err := batch.Error(); err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			e.log.Debug("fetch batch", "err", err)
		}
		cancel()
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// Handle applies one incident transition. It is idempotent: a transition
// with a seq the escalation has seen changes nothing.
func (e *Escalator) Handle(ctx context.Context, tr bus.Transition) error {
	e.m.transitions.WithLabelValues(string(tr.Entry.Kind)).Inc()
	switch tr.Entry.Kind {
	case incident.KindOpened:
		return e.opened(ctx, tr)
	case incident.KindAcknowledged, incident.KindResolved, incident.KindClosed, incident.KindRecovered, incident.KindRecurred:
		return e.retry(ctx, tr.Entry.IncidentID, func(esc *ledger.Escalation) ([]ledger.Notification, []ledger.Note, bool, error) {
			if esc.LastSeq >= tr.Entry.Seq {
				return nil, nil, false, nil
			}
			esc.LastSeq = tr.Entry.Seq
			return e.apply(ctx, esc, tr)
		})
	}
	return nil
}

func (e *Escalator) opened(ctx context.Context, tr bus.Transition) error {
	inc := tr.Incident
	p, ok := e.cfg.policy(inc)
	if !ok {
		e.log.Info("no escalation policy matches", "incident", inc.ID, "target", inc.Target, "check", inc.Check)
		return nil
	}
	snap, err := json.Marshal(p)
	if err != nil {
		return err
	}
	now := e.clock.Now()
	_, created, err := e.store.StartEscalation(ctx, ledger.Escalation{IncidentID: inc.ID, Policy: p.Name, Snapshot: snap,
		State: ledger.EscActive, NextAt: &now, LastSeq: tr.Entry.Seq})
	if err != nil {
		if errors.Is(err, incident.ErrNotFound) {
			return nil // the incident is gone
		}
		return err
	}
	if created {
		e.m.started.Inc()
		e.wake(e.wakeSteps)
	}
	return nil
}

// retry loads the escalation, lets fn change it, and writes it, reloading
// on a version conflict. An incident without escalation is left alone.
func (e *Escalator) retry(ctx context.Context, id int64, fn func(*ledger.Escalation) ([]ledger.Notification, []ledger.Note, bool, error)) error {
	for attempt := 0; ; attempt++ {
		esc, err := e.store.Escalation(ctx, id)
		if errors.Is(err, incident.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		ns, notes, write, err := fn(&esc)
		if err != nil || !write {
			return err
		}
		_, err = e.store.UpdateEscalation(ctx, esc, ns, notes)
		if errors.Is(err, ledger.ErrConflict) && attempt < 5 {
			continue
		}
		if err == nil {
			if len(ns) > 0 {
				e.wake(e.wakeDeliver)
			}
			e.wake(e.wakeSteps)
			if esc.NextAt != nil {
				e.wakeAt(*esc.NextAt)
			}
		}
		return err
	}
}

func (e *Escalator) wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// wakeAt wakes the step loop when t comes, so a step runs on time rather
// than at the next poll. One timer is kept, for the earliest time asked
// for; a later time dropped in its favour is found by the poll.
func (e *Escalator) wakeAt(t time.Time) {
	d := t.Sub(e.clock.Now())
	if d <= 0 || d > time.Hour {
		return
	}
	e.timerMu.Lock()
	defer e.timerMu.Unlock()
	if e.timer != nil && !e.timerAt.IsZero() && !t.Before(e.timerAt) {
		return
	}
	if e.timer != nil {
		e.timer.Stop()
	}
	e.timerAt = t
	e.timer = time.AfterFunc(d, func() {
		e.timerMu.Lock()
		e.timerAt = time.Time{}
		e.timerMu.Unlock()
		e.wake(e.wakeSteps)
	})
}

// apply changes esc for a transition other than opened.
func (e *Escalator) apply(ctx context.Context, esc *ledger.Escalation, tr bus.Transition) ([]ledger.Notification, []ledger.Note, bool, error) {
	now := e.clock.Now()
	var p Policy
	if err := json.Unmarshal(esc.Snapshot, &p); err != nil {
		return nil, nil, false, fmt.Errorf("escalation %d: policy snapshot: %w", esc.IncidentID, err)
	}
	switch tr.Entry.Kind {
	case incident.KindAcknowledged:
		if esc.State == ledger.EscDone {
			return nil, nil, true, nil
		}
		if _, err := e.store.CancelNotifications(ctx, esc.IncidentID, notify.KindProblem); err != nil {
			return nil, nil, false, err
		}
		esc.State, esc.Reason, esc.NextAt = ledger.EscAcknowledged, "acknowledged by "+tr.Entry.By, nil
		if p.AckTimeout > 0 {
			t := tr.Entry.At.Add(p.AckTimeout)
			esc.NextAt = &t
		}
		e.m.acked.Inc()
		return nil, nil, true, nil

	case incident.KindResolved, incident.KindClosed:
		if esc.State == ledger.EscDone && esc.Reason == "resolved" {
			return nil, nil, true, nil
		}
		if _, err := e.store.CancelNotifications(ctx, esc.IncidentID, notify.KindProblem, notify.KindFlapping, notify.KindReminder); err != nil {
			return nil, nil, false, err
		}
		esc.State, esc.Reason, esc.NextAt = ledger.EscDone, "resolved", nil
		// A recovery notice to every destination that was told of the problem.
		sent, err := e.store.Notifications(ctx, esc.IncidentID)
		if err != nil {
			return nil, nil, false, err
		}
		var ns []ledger.Notification
		seen := map[string]bool{}
		for _, n := range sent {
			if n.State != ledger.NotifySent || n.Kind == notify.KindRecovery {
				continue
			}
			d := n.Channel + "\x00" + n.Destination
			if seen[d] {
				continue
			}
			seen[d] = true
			ns = append(ns, e.notification(tr.Incident, notify.KindRecovery, fmt.Sprintf("%d/recovery", esc.IncidentID),
				n.Channel, n.Destination, n.Role, 0, now))
		}
		return ns, nil, true, nil

	case incident.KindRecovered, incident.KindRecurred:
		// Flap detection.
		if esc.FlapSince == nil || now.Sub(*esc.FlapSince) > e.cfg.Storm.FlapWindow {
			esc.FlapSince, esc.Flaps = &now, 0
		}
		esc.Flaps++
		var (
			ns    []ledger.Notification
			notes []ledger.Note
		)
		if esc.Flaps >= e.cfg.Storm.FlapThreshold && !esc.Flapping && esc.State != ledger.EscDone {
			esc.Flapping = true
			e.m.flapping.Inc()
			notes = append(notes, ledger.Note{Kind: incident.KindFlapping, By: By, At: now,
				Comment: fmt.Sprintf("%d state changes within %s: flapping; notified once, no further steps until acknowledged or resolved", esc.Flaps, e.cfg.Storm.FlapWindow)})
			if _, err := e.store.CancelNotifications(ctx, esc.IncidentID, notify.KindProblem); err != nil {
				return nil, nil, false, err
			}
			if len(p.Steps) > 0 {
				ns = e.stepNotifications(tr.Incident, p.Steps[0], notify.KindFlapping, fmt.Sprintf("%d/flapping", esc.IncidentID), 0, now)
			}
			esc.State, esc.Reason, esc.NextAt = ledger.EscSuppressed, "flapping", nil
			return ns, notes, true, nil
		}
		// Otherwise recovery and recurrence change nothing here: a step that
		// comes due while the incident is recovered is suppressed (and looked
		// at again), so a blip never advances the escalation.
		return ns, notes, true, nil
	}
	return nil, nil, false, nil
}

func (e *Escalator) stepLoop(ctx context.Context) {
	tick := time.NewTicker(e.opts.PollInterval)
	defer tick.Stop()
	for {
		if err := e.RunDue(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ledger.ErrUnavailable) {
			e.log.Warn("escalation steps", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-e.wakeSteps:
		}
	}
}

// RunDue runs every escalation whose NextAt has come.
func (e *Escalator) RunDue(ctx context.Context) error {
	for ctx.Err() == nil {
		now := e.clock.Now()
		// Look one poll ahead: what falls due before the next poll gets a
		// timer, so a new leader runs it on time, not up to a poll late.
		due, err := e.store.DueEscalations(ctx, now.Add(e.opts.PollInterval), 256)
		if err != nil {
			return err
		}
		for i, esc := range due { // ordered by NextAt
			if esc.NextAt.After(now) {
				e.wakeAt(*esc.NextAt)
				due = due[:i]
				break
			}
		}
		var windows []ledger.Maintenance
		if len(due) > 0 {
			if windows, err = e.store.Maintenances(ctx); err != nil {
				return err
			}
		}
		down := downCache{} // like the windows, read once per pass
		progressed := 0
		for _, esc := range due {
			err := e.retry(ctx, esc.IncidentID, func(cur *ledger.Escalation) ([]ledger.Notification, []ledger.Note, bool, error) {
				if cur.NextAt == nil || cur.NextAt.After(now) {
					return nil, nil, false, nil // someone else ran it
				}
				return e.step(ctx, cur, windows, down, now)
			})
			if err != nil {
				return err
			}
			progressed++
		}
		if len(due) < 256 || progressed == 0 { // fewer than asked for: none left due
			return nil
		}
	}
	return ctx.Err()
}

// step decides what a due escalation does now.
func (e *Escalator) step(ctx context.Context, esc *ledger.Escalation, windows []ledger.Maintenance, down downCache, now time.Time) ([]ledger.Notification, []ledger.Note, bool, error) {
	inc, err := e.led.Incident(ctx, esc.IncidentID)
	if err != nil {
		return nil, nil, false, err
	}
	var p Policy
	if err := json.Unmarshal(esc.Snapshot, &p); err != nil {
		return nil, nil, false, fmt.Errorf("escalation %d: policy snapshot: %w", esc.IncidentID, err)
	}
	var notes []ledger.Note
	note := func(k incident.Kind, format string, args ...any) {
		notes = append(notes, ledger.Note{Kind: k, By: By, At: now, Comment: fmt.Sprintf(format, args...)})
	}
	if !inc.State.Active() {
		esc.State, esc.Reason, esc.NextAt = ledger.EscDone, string(inc.State), nil
		return nil, nil, true, nil
	}
	if esc.State == ledger.EscAcknowledged {
		if inc.State != incident.Acknowledged {
			esc.NextAt = nil
			return nil, nil, true, nil
		}
		// Acknowledged, not resolved in time: start over.
		esc.Cycle++
		esc.Step, esc.Repeat = 0, 0
		esc.State, esc.Reason = ledger.EscActive, ""
		e.m.retriggered.Inc()
		note(incident.KindStep, "acknowledged by %s but not resolved within %s: escalation starts over", inc.AckedBy, p.AckTimeout)
	}
	if esc.State == ledger.EscDone || esc.Flapping {
		esc.NextAt = nil
		return nil, notes, true, nil
	}
	// Suppressed?
	if reason, until := e.suppressed(ctx, inc, &p, windows, down, now); reason != "" {
		if esc.State != ledger.EscSuppressed || esc.Reason != reason {
			note(incident.KindSuppressed, "%s", reason)
			e.m.suppressed.WithLabelValues(strings.SplitN(reason, ":", 2)[0]).Inc()
		}
		esc.State, esc.Reason = ledger.EscSuppressed, reason
		esc.NextAt = &until
		return nil, notes, true, nil
	}
	wasSuppressed, prevReason := esc.State == ledger.EscSuppressed, esc.Reason
	if wasSuppressed {
		note(incident.KindStep, "no longer suppressed (%s); escalation continues", prevReason)
	}
	esc.State, esc.Reason = ledger.EscActive, ""
	if esc.Step >= len(p.Steps) {
		if esc.Repeat >= p.Repeat {
			esc.State, esc.Reason, esc.NextAt = ledger.EscDone, "every step has run", nil
			note(incident.KindStep, "every step has run (%d passes); escalation ends", esc.Repeat+1)
			return nil, notes, true, nil
		}
		esc.Repeat++
		esc.Step = 0
	}
	s := p.Steps[esc.Step]
	level := esc.Step + 1
	kind := notify.KindProblem
	if wasSuppressed && strings.HasPrefix(prevReason, "maintenance") {
		kind = notify.KindReminder
	}
	ns := e.stepNotifications(inc, s, kind, fmt.Sprintf("%d/c%d/r%d/s%d", esc.IncidentID, esc.Cycle, esc.Repeat, esc.Step), level, now)
	var who []string
	for _, r := range s.Roles {
		who = append(who, "role "+r)
	}
	for _, c := range s.Contacts {
		who = append(who, "contact "+c)
	}
	skipped := e.offDuty(s, now)
	comment := fmt.Sprintf("step %d of %d (pass %d): notify %s by %s", level, len(p.Steps), esc.Repeat+1,
		strings.Join(who, ", "), strings.Join(s.Channels, ", "))
	if len(skipped) > 0 {
		comment += "; off duty now: " + strings.Join(skipped, ", ")
	}
	note(incident.KindStep, "%s", comment)
	esc.Level = max(esc.Level, level)
	esc.Step++
	next := now.Add(s.Wait)
	esc.NextAt = &next
	e.m.steps.Inc()
	return ns, notes, true, nil
}

// suppressed says why inc must not be notified now, and when to look again.
func (e *Escalator) suppressed(ctx context.Context, inc incident.Incident, p *Policy, windows []ledger.Maintenance, down downCache, now time.Time) (string, time.Time) {
	recheck := now.Add(e.cfg.Recheck)
	for _, w := range windows {
		if !MatchesWindow(w, inc) {
			continue
		}
		if on, until := ActiveWindow(w, now); on {
			return fmt.Sprintf("maintenance: window %d %q until %s", w.ID, w.Name, until.In(e.cfg.Location).Format(time.DateTime)), minTime(until, recheck)
		}
	}
	// The target itself is down (its ping incident is active): another
	// check of it failing is the same fault, paged once, for ping.
	if !slices.Contains(e.cfg.DownChecks, inc.Check) {
		isDown, id, err := e.parentDown(ctx, down, inc.Target)
		if err != nil {
			e.log.Warn("target state", "target", inc.Target, "err", err)
		} else if isDown {
			return fmt.Sprintf("unreachable: %s is down (incident %d)", inc.Target, id), recheck
		}
	}
	if e.opts.Parents != nil {
		if parent := e.opts.Parents(inc.Target); parent != "" && parent != inc.Target {
			isDown, id, err := e.parentDown(ctx, down, parent)
			if err != nil {
				e.log.Warn("parent state", "parent", parent, "err", err)
			} else if isDown {
				return fmt.Sprintf("unreachable: parent %s is down (incident %d)", parent, id), recheck
			}
		}
	}
	if inc.Recovered {
		return "recovered: waiting for the problem to recur or the incident to be resolved", recheck
	}
	if p.WindowCalendar != nil && !p.WindowCalendar.Open(now) {
		next := p.WindowCalendar.NextOpen(now)
		if next.IsZero() {
			next = now.Add(24 * time.Hour)
		}
		return fmt.Sprintf("outside window: calendar %s opens %s", p.Window, next.In(e.cfg.Location).Format(time.DateTime)), next
	}
	return "", time.Time{}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// downCache holds, for one pass of RunDue over the due escalations, what
// parentDown found per target: a storm of checks failing on one target
// asks the ledger once per pass, not once per incident (1000 queries of
// 100 incidents each for a storm of 1000).
type downCache map[string]downState

type downState struct {
	down bool
	id   int64
}

// parentDown reports whether the parent (or a target itself) has an
// active, unrecovered incident on one of the down checks; cache (nil: none)
// keeps the answer for the rest of the pass.
func (e *Escalator) parentDown(ctx context.Context, cache downCache, parent string) (bool, int64, error) {
	if st, ok := cache[parent]; ok {
		return st.down, st.id, nil
	}
	incs, err := e.led.Incidents(ctx, ledger.Filter{States: []incident.State{incident.Open, incident.Acknowledged}, Target: parent, Limit: 100})
	if err != nil {
		return false, 0, err
	}
	st := downState{}
	for _, inc := range incs {
		if !inc.Recovered && slices.Contains(e.cfg.DownChecks, inc.Check) {
			st = downState{down: true, id: inc.ID}
			break
		}
	}
	if cache != nil {
		cache[parent] = st
	}
	return st.down, st.id, nil
}

// offDuty lists the step's roles whose calendar is closed at now.
func (e *Escalator) offDuty(s Step, now time.Time) []string {
	var out []string
	for _, rn := range s.Roles {
		if r, ok := e.cfg.role(rn); ok && r.Calendar != "" {
			if cal, ok := e.cfg.calendar(r.Calendar); ok && !cal.Open(now) {
				out = append(out, rn)
			}
		}
	}
	return out
}

// stepNotifications resolves a step's recipients now (roles, not people:
// whoever a role reaches when the step runs) into one notification per
// channel and destination.
func (e *Escalator) stepNotifications(inc incident.Incident, s Step, kind, keyPrefix string, level int, now time.Time) []ledger.Notification {
	off := map[string]bool{}
	for _, r := range e.offDuty(s, now) {
		off[r] = true
	}
	var contacts []Contact
	var roles []string
	seen := map[string]bool{}
	add := func(name string) {
		if ct, ok := e.cfg.contact(name); ok && !seen[name] {
			seen[name] = true
			contacts = append(contacts, ct)
		}
	}
	for _, rn := range s.Roles {
		if off[rn] {
			continue
		}
		if r, ok := e.cfg.role(rn); ok {
			roles = append(roles, rn)
			for _, c := range r.Contacts {
				add(c)
			}
		}
	}
	for _, c := range s.Contacts {
		add(c)
	}
	role := strings.Join(roles, ",")
	var ns []ledger.Notification
	for _, ch := range s.Channels {
		switch ch {
		case ChannelMail:
			var addrs []string
			for _, c := range contacts {
				addrs = append(addrs, c.Mail...)
			}
			addrs = dedupSorted(addrs)
			if len(addrs) > 0 {
				ns = append(ns, e.notification(inc, kind, keyPrefix, ch, strings.Join(addrs, ","), role, level, now))
			}
		case ChannelWebhook:
			var urls []string
			for _, c := range contacts {
				urls = append(urls, string(c.Webhook)) // "" is the configured default URL
			}
			for _, u := range dedupSorted(urls) {
				ns = append(ns, e.notification(inc, kind, keyPrefix, ch, u, role, level, now))
			}
		case ChannelCommand:
			ns = append(ns, e.notification(inc, kind, keyPrefix, ch, "", role, level, now))
		}
	}
	return ns
}

func dedupSorted(s []string) []string {
	sort.Strings(s)
	return slices.Compact(s)
}

// notification builds one record; its key is deterministic.
func (e *Escalator) notification(inc incident.Incident, kind, keyPrefix, channel, dest, role string, level int, now time.Time) ledger.Notification {
	h := fnv.New64a()
	h.Write([]byte(dest))
	scope := inc.Target
	if e.cfg.Storm.GroupBy == GroupByCheck {
		scope = inc.Check
	}
	return ledger.Notification{
		Key:         fmt.Sprintf("%s/%s/%016x", keyPrefix, channel, h.Sum64()),
		IncidentID:  inc.ID,
		GroupKey:    strings.Join([]string{kind, scope, channel, dest}, "|"),
		Kind:        kind,
		Channel:     channel,
		Destination: dest,
		Role:        role,
		Level:       level,
		NotBefore:   now.Add(e.cfg.Storm.GroupWait),
	}
}

func (e *Escalator) deliverLoop(ctx context.Context) {
	tick := time.NewTicker(e.opts.PollInterval)
	defer tick.Stop()
	for {
		n, err := e.Deliver(ctx)
		if err != nil && ctx.Err() == nil && !errors.Is(err, ledger.ErrUnavailable) {
			e.log.Warn("deliver notifications", "err", err)
		}
		if n > 0 && err == nil {
			continue // there may be more
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-e.wakeDeliver:
			if g := e.cfg.Storm.GroupWait; g > 0 {
				// Come back when the new notifications are due.
				time.AfterFunc(g, func() { e.wake(e.wakeDeliver) })
			}
		}
	}
}

// Deliver claims due notifications and sends each group as one message. It
// returns how many groups it handled. Once ctx ends it sends no further
// group and releases their claims; a group being sent is finished and
// recorded first (bounded by SendTimeout), so a leader that steps down
// leaves nothing for its successor to send twice.
func (e *Escalator) Deliver(ctx context.Context) (int, error) {
	claim := func(takeover bool) ([]ledger.Notification, error) {
		return e.store.ClaimNotifications(ctx, ledger.Claim{Now: e.clock.Now(), Owner: e.opts.Owner,
			Fence: e.claimFence(), Takeover: takeover, Lease: e.opts.Lease, MaxGroups: 64})
	}
	ns, err := claim(false)
	if errors.Is(err, ledger.ErrFenced) {
		e.m.fenced.Inc()
		switch {
		case e.refreshFence():
			ns, err = claim(false)
		case e.mayTakeOver(ctx):
			e.log.Warn("notification fence is above this leader's term: the cluster was rebuilt or was a single node; taking the fence over",
				"fence", e.claimFence(), "err", err)
			ns, err = claim(true)
		default:
			return 0, err
		}
	}
	if err != nil || len(ns) == 0 {
		return 0, err
	}
	groups := map[string][]ledger.Notification{}
	var order []string
	for _, n := range ns {
		if _, ok := groups[n.GroupKey]; !ok {
			order = append(order, n.GroupKey)
		}
		groups[n.GroupKey] = append(groups[n.GroupKey], n)
	}
	var errs []error
	for i, g := range order {
		if ctx.Err() != nil {
			var keys []string
			for _, g := range order[i:] {
				for _, n := range groups[g] {
					keys = append(keys, n.Key)
				}
			}
			if err := e.store.ReleaseNotifications(context.WithoutCancel(ctx), keys, e.opts.Owner); err != nil {
				errs = append(errs, err)
			}
			return i, errors.Join(append(errs, ctx.Err())...)
		}
		if err := e.send(ctx, groups[g]); err != nil {
			errs = append(errs, err)
		}
	}
	return len(order), errors.Join(errs...)
}

// send delivers one group and records the attempt.
func (e *Escalator) send(ctx context.Context, group []ledger.Notification) error {
	first := group[0]
	msg := notify.Message{Key: first.Key, Kind: first.Kind, Channel: first.Channel, Role: first.Role, Level: first.Level,
		Receiver: first.Role, Location: e.cfg.Location, ExternalURL: e.cfg.ExternalURL}
	if first.Destination != "" {
		msg.To = strings.Split(first.Destination, ",")
		if first.Channel == ChannelWebhook {
			msg.To = []string{first.Destination}
		}
	}
	keys := make([]string, 0, len(group))
	attempts := 0
	for _, n := range group {
		keys = append(keys, n.Key)
		attempts = max(attempts, n.Attempts)
		inc, err := e.led.Incident(ctx, n.IncidentID)
		if err != nil {
			if rerr := e.store.ReleaseNotifications(context.WithoutCancel(ctx), keysOf(group), e.opts.Owner); rerr != nil {
				err = errors.Join(err, rerr)
			}
			return err
		}
		msg.Items = append(msg.Items, notify.Item{Incident: inc, URL: notify.IncidentURL(e.cfg.ExternalURL, inc.ID),
			RunbookURL: notify.RunbookURL(e.cfg.ExternalURL, inc.Runbook)})
	}
	msg.At = e.clock.Now()
	nf := e.opts.Notifiers[first.Channel]
	var (
		retry   bool
		sendErr error
	)
	start := time.Now()
	if nf == nil {
		sendErr = fmt.Errorf("no %s notifier configured", first.Channel)
	} else {
		// Not cancelled when the escalator stops: a message on the wire is
		// finished and recorded, so the next leader does not send it again.
		sctx, cancel := context.WithTimeoutCause(context.WithoutCancel(ctx), e.opts.SendTimeout, errors.New("notification send timed out"))
		retry, sendErr = nf.Notify(sctx, msg)
		cancel()
	}
	took := time.Since(start)
	// What is said about this attempt (log, timeline, notifier health)
	// never carries a webhook's token or a notifier's quoted credentials.
	sendErr = redact.Err(sendErr)
	e.nm.Observe(first.Channel, took, retry, sendErr)
	to := redact.Text(first.Destination)
	if to == "" {
		to = first.Channel
	}
	what := fmt.Sprintf("%s %s to %s", first.Kind, first.Channel, to)
	if first.Level > 0 {
		what += fmt.Sprintf(" (step %d, %s)", first.Level, first.Role)
	}
	if len(group) > 1 {
		what += fmt.Sprintf(", one message for %d incidents", len(group))
	}
	now := e.clock.Now()
	a := ledger.Attempt{At: now, By: first.Channel}
	if sendErr == nil {
		a.Comment = fmt.Sprintf("delivered by %s (fence %d): %s", e.opts.Node, e.claimFence(), what)
		e.hl.OK(ctx, first.Channel)
		for _, n := range group {
			e.m.latency.Observe(now.Sub(n.CreatedAt).Seconds())
		}
	} else {
		a.Err = sendErr.Error()
		wait, more := e.cfg.Retry.Next(attempts + 1)
		if retry && more {
			a.RetryAt = now.Add(wait)
			a.Comment = fmt.Sprintf("attempt %d failed, retry in %s: %s: %v", attempts+1, wait, what, sendErr)
		} else {
			a.Comment = fmt.Sprintf("attempt %d failed, giving up: %s: %v", attempts+1, what, sendErr)
		}
		e.hl.Failed(ctx, first.Channel, sendErr)
		e.log.Warn("notification failed", "channel", first.Channel, "to", to, "attempt", attempts+1, "retry_at", a.RetryAt, "err", sendErr)
	}
	if err := e.store.FinishNotifications(context.WithoutCancel(ctx), keys, e.opts.Owner, a); err != nil {
		return err
	}
	if !a.RetryAt.IsZero() {
		time.AfterFunc(time.Until(a.RetryAt)+10*time.Millisecond, func() { e.wake(e.wakeDeliver) })
	}
	return nil
}

func keysOf(ns []ledger.Notification) []string {
	keys := make([]string, len(ns))
	for i, n := range ns {
		keys[i] = n.Key
	}
	return keys
}

type metrics struct {
	active      prometheus.Gauge
	fence       prometheus.Gauge
	fenced      prometheus.Counter
	transitions *prometheus.CounterVec
	started     prometheus.Counter
	steps       prometheus.Counter
	acked       prometheus.Counter
	retriggered prometheus.Counter
	suppressed  *prometheus.CounterVec
	flapping    prometheus.Counter
	latency     prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{Name: "unyo_escalation_active",
			Help: "1 while this node's escalator is the active one."}),
		fence: prometheus.NewGauge(prometheus.GaugeOpts{Name: "unyo_escalation_fence",
			Help: "The fence (leadership term) this escalator claims notifications with."}),
		fenced: prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_escalation_fenced_total",
			Help: "Notification claims refused because a newer leader has claimed."}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unyo_escalation_transitions_total",
			Help: "Incident transitions handled, by kind."}, []string{"kind"}),
		started: prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_escalation_started_total",
			Help: "Escalations started (a policy frozen onto a new incident)."}),
		steps: prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_escalation_steps_total",
			Help: "Escalation steps run."}),
		acked: prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_escalation_acknowledged_total",
			Help: "Escalations stopped by an acknowledgement."}),
		retriggered: prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_escalation_retriggered_total",
			Help: "Escalations started over after an acknowledgement timed out."}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unyo_escalation_suppressed_total",
			Help: "Escalations suppressed, by reason (maintenance, unreachable, recovered, outside window)."}, []string{"reason"}),
		flapping: prometheus.NewCounter(prometheus.CounterOpts{Name: "unyo_escalation_flapping_total",
			Help: "Incidents found flapping."}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "unyo_escalation_notification_delay_seconds",
			Help:    "From a notification being recorded to its delivery (includes storm.group_wait and retries).",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 10)}),
	}
	if reg != nil {
		reg.MustRegister(m.active, m.fence, m.fenced, m.transitions, m.started, m.steps, m.acked, m.retriggered, m.suppressed, m.flapping, m.latency)
	}
	return m
}
