package scheduler

import (
	"context"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/monitor/ping"
	"github.com/unyo-ops/unyo/monitor/target"
	"github.com/unyo-ops/unyo/monitor/threshold"
)

// pingTick is the grain of the ping loop: checks whose slots fall in the
// same tick start together, and finished checks are handled on the next
// tick. Probes stay spread over the interval at this resolution. At 10 ms
// the loop's wake-ups, not its probes, were most of its cost at 10,000
// targets (100 a second for 1,000 probes: 41–45 µs of CPU per probe on
// loopback, 23–24 µs at 50 ms); a check starts at most this much after
// its slot, which an interval of at least a second does not notice.
const pingTick = 50 * time.Millisecond

// pingLoop runs every ping check of a Scheduler from one goroutine: a heap
// of checks ordered by their next slot, started through the Pinger's
// StartBatch, their outcomes turned into states, samples and events in
// batches; storing the samples and publishing the events is the results
// goroutine's (results.go), so a slow sink never delays a probe. A
// hundred thousand targets cost two goroutines, not a hundred thousand
// goroutines and timers.
type pingLoop struct {
	// procMu is held while outcomes are handled, so that SetTargets can
	// wait for a removed check's last outcome to be done with.
	procMu sync.Mutex

	mu sync.Mutex // guards the fields below and every runner's ping fields
	// heap holds every scheduled check by next slot, the slot's time
	// inline so that ordering reads one array, not a runner per
	// comparison. A removed check's entry stays until it comes up (or
	// until they are half the heap): stale counts them.
	heap  []pingSlot
	stale int
	armed time.Time // when the loop will wake; zero when idle
	outs  []pingOutcome
	spare []pingOutcome
	wake  chan struct{}

	results *resultQueue
	// samples and events are handlePings' scratch slices.
	samples []Sample
	events  []queuedEvent

	okCount, failedCount prometheus.Counter
	duration             prometheus.Observer
}

// pingSlot is a check in the heap: its next slot in Unix ns.
type pingSlot struct {
	at int64
	r  *runner
}

// pingOutcome is a finished ping check waiting for the loop.
type pingOutcome struct {
	r          *runner
	res        ping.Result
	err        error
	start, end time.Time // start: the check's, taken when the loop picks the outcome up
}

// pingState is the part of a runner that only ping checks use.
type pingState struct {
	addr    netip.Addr
	off     time.Duration
	next    time.Time // next slot
	running bool      // a check is in flight (its slot's successors are skipped)
	stopped bool      // removed by SetTargets
	started time.Time
	st      *target.State // created on the first outcome
	done    func(ping.Result, error)
}

func (s *Scheduler) newPingLoop() *pingLoop {
	return &pingLoop{
		wake:        make(chan struct{}, 1),
		results:     newResultQueue(maxQueuedEvents, maxQueuedSamples),
		okCount:     s.metrics.checks.WithLabelValues("ping", "ok"),
		failedCount: s.metrics.checks.WithLabelValues("ping", "failed"),
		duration:    s.metrics.duration.WithLabelValues("ping"),
	}
}

// addPing schedules r (a ping runner). Called with s.mu held.
func (s *Scheduler) addPing(r *runner) {
	pl := s.ping
	addr, _ := netip.ParseAddr(r.target.Address)
	r.ping = &pingState{addr: addr, off: offset(r.key, r.interval)}
	r.ping.done = func(res ping.Result, err error) { pl.finished(r, res, err) }
	r.ping.next = r.firstAt(time.Now(), r.ping.off)
	pl.mu.Lock()
	pl.push(r)
	if pl.armed.IsZero() || r.ping.next.Before(pl.armed) {
		pl.signal()
	}
	pl.mu.Unlock()
}

// removePing unschedules r and waits until the loop is not handling its
// outcome. Called with s.mu held.
func (s *Scheduler) removePing(r *runner) {
	pl := s.ping
	pl.mu.Lock()
	r.ping.stopped = true
	pl.stale++
	if pl.stale > 1024 && pl.stale > len(pl.heap)/2 {
		pl.compact()
	}
	pl.mu.Unlock()
	pl.procMu.Lock()
	// An empty critical section: wait for the batch in progress.
	pl.procMu.Unlock()
}

func (pl *pingLoop) signal() {
	select {
	case pl.wake <- struct{}{}:
	default:
	}
}

// finished is the Pinger's done callback: queue the outcome for the loop
// and wake it when it would otherwise sleep past the next tick.
func (pl *pingLoop) finished(r *runner, res ping.Result, err error) {
	now := time.Now()
	pl.mu.Lock()
	pl.outs = append(pl.outs, pingOutcome{r: r, res: res, err: err, end: now})
	if len(pl.outs) == 1 && (pl.armed.IsZero() || pl.armed.Sub(now) > pingTick) {
		pl.armed = now
		pl.signal()
	}
	pl.mu.Unlock()
}

// runPings is the ping loop's goroutine.
func (s *Scheduler) runPings(ctx context.Context) {
	defer s.wg.Done()
	pl := s.ping
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var due []*runner
	var reqs []ping.Request
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-pl.wake:
		}
		now := time.Now()
		pl.procMu.Lock()
		pl.mu.Lock()
		outs := pl.outs
		pl.outs, pl.spare = pl.spare, nil
		// Skip the outcomes of removed checks; the rest are handled below.
		// A check whose outcome is in is no longer running, even if the
		// outcome waits here while the last round is still being handled
		// (a slow sample store or bus): the watchdog below must not take
		// it for lost, and the next check may start.
		n := 0
		for _, o := range outs {
			if !o.r.ping.stopped {
				o.start = o.r.ping.started
				o.r.ping.running = false
				outs[n] = o
				n++
			}
		}
		clear(outs[n:])
		outs = outs[:n]
		due = due[:0]
		var lag time.Duration
		var missed int
		for nowNs := now.UnixNano(); len(pl.heap) > 0 && pl.heap[0].at <= nowNs; {
			r := pl.heap[0].r
			p := r.ping
			if p.stopped {
				pl.pop()
				pl.stale--
				continue
			}
			// A loop running late (a starved or paused process) starts
			// the check once, now, and the slots it passed are missed.
			late := time.Duration(nowNs - pl.heap[0].at)
			lag = max(lag, late)
			missed += int(late / r.interval)
			p.next = nextSlot(now, r.interval, p.off)
			pl.heap[0].at = p.next.UnixNano()
			pl.down(0)
			if p.running {
				cfg := r.target.Ping
				stall := time.Duration(max(cfg.Packets, 1))*cfg.PacketInterval + cfg.Timeout + 2*time.Second
				if now.Sub(p.started) < stall {
					missed++
					continue // the previous check overran: skip this slot
				}
				// Its completion never came: start a new check rather than
				// leave the target unchecked for good.
				s.metrics.lostPings.Inc()
				s.log.Warn("ping check lost its completion; starting a new one", "target", r.target.Name, "started", p.started)
			}
			p.running, p.started = true, now // started again when it starts, below
			due = append(due, r)
		}
		pl.mu.Unlock()
		if len(due) > 0 || missed > 0 {
			s.metrics.pingLag.Observe(lag.Seconds())
		}
		if missed > 0 {
			s.metrics.missedSlots.Add(float64(missed))
		}

		s.handlePings(outs)
		pl.procMu.Unlock()

		if len(due) > 0 {
			// Their start is now, not when the round began: handling the
			// round's results may have taken a while. One StartBatch
			// writes the tick's requests with a few system calls.
			reqs = reqs[:0]
			now := time.Now()
			pl.mu.Lock()
			for _, r := range due {
				r.ping.started = now
				reqs = append(reqs, ping.Request{Addr: r.ping.addr, Config: *r.target.Ping, Done: r.ping.done})
			}
			pl.mu.Unlock()
			s.pinger.StartBatch(reqs)
			clear(reqs)
		}
		clear(due)

		clear(outs)
		pl.mu.Lock()
		pl.spare = outs[:0]
		pl.armed = time.Time{}
		if len(pl.heap) > 0 {
			// Round up to the tick so that nearby slots share a wake-up.
			pl.armed = time.Unix(0, pl.heap[0].at).Add(pingTick - 1).Truncate(pingTick)
		}
		if len(pl.outs) > 0 {
			if t := time.Now().Add(pingTick); pl.armed.IsZero() || t.Before(pl.armed) {
				pl.armed = t
			}
		}
		armed := pl.armed
		pl.mu.Unlock()
		if !armed.IsZero() {
			timer.Reset(time.Until(armed))
		}
	}
}

// handlePings turns finished ping checks into states, samples and events,
// and queues the samples and events for the results goroutine.
func (s *Scheduler) handlePings(outs []pingOutcome) {
	if len(outs) == 0 {
		return
	}
	pl := s.ping
	samples := pl.samples[:0]
	events := pl.events[:0]
	var msg []byte
	for i := range outs {
		o := &outs[i]
		r, p := o.r, o.r.ping
		t := r.target
		start, pr := o.start, o.res
		loss := pr.Loss()
		res := target.Result{Time: start, Duration: o.end.Sub(start), OK: pr.Received > 0 && loss < t.Ping.MaxLoss,
			Values: map[string]float64{"loss_percent": loss}}
		first := len(samples)
		add := func(name string, v float64) {
			samples = append(samples, Sample{Target: t.Name, Name: name, Value: v, Time: start})
		}
		add("ping_up", b2f(pr.Received > 0))
		add("ping_loss_percent", loss)
		msg = strconv.AppendInt(msg[:0], int64(pr.Received), 10)
		msg = append(msg, '/')
		msg = strconv.AppendInt(msg, int64(pr.Sent), 10)
		msg = append(msg, " replies, "...)
		msg = strconv.AppendFloat(msg, loss, 'f', 0, 64)
		msg = append(msg, "% loss"...)
		if pr.Received > 0 {
			res.Values["rtt_avg_seconds"] = pr.Avg.Seconds()
			add("ping_rtt_min_seconds", pr.Min.Seconds())
			add("ping_rtt_avg_seconds", pr.Avg.Seconds())
			add("ping_rtt_max_seconds", pr.Max.Seconds())
			add("ping_jitter_seconds", pr.Jitter.Seconds())
			msg = append(msg, ", rtt min/avg/max "...)
			msg = appendMs(msg, pr.Min)
			msg = append(msg, '/')
			msg = appendMs(msg, pr.Avg)
			msg = append(msg, '/')
			msg = appendMs(msg, pr.Max)
			msg = append(msg, " ms"...)
		}
		if o.err != nil {
			res.OK = false
			msg = append(msg, ": "...)
			msg = append(msg, o.err.Error()...)
		}
		res.Message = string(msg)
		if res.OK {
			pl.okCount.Inc()
		} else {
			pl.failedCount.Inc()
		}
		pl.duration.Observe(res.Duration.Seconds())
		if p.st == nil {
			p.st = s.state(t, "ping", "ping", t.Ping.DownAfter, incident.Critical)
		}
		if ev := p.st.Record(res); ev != nil {
			if ev.Status == incident.Problem && t.Parent != "" {
				if ps := s.tracker.Get(t.Parent, "ping"); ps != nil {
					if status, _ := ps.Status(); status == target.Down {
						ev.Severity = incident.Info
						if ev.Labels == nil {
							ev.Labels = map[string]string{}
						}
						ev.Labels["parent_down"] = t.Parent
						ev.Message += " (behind " + t.Parent + ", which is down)"
					}
				}
			}
			events = append(events, queuedEvent{t.Name, *ev})
		}
		for _, x := range samples[first:] {
			for _, ev := range s.engine.Observe(threshold.Input{Target: t.Name, Tags: t.Tags, Metric: x.Name, Value: x.Value, Time: x.Time}) {
				events = append(events, queuedEvent{t.Name, ev})
			}
		}
	}
	if s.opts.Samples == nil {
		samples = samples[:0]
	}
	if dropped := pl.results.add(samples, events); dropped > 0 {
		s.metrics.samplesDropped.Add(float64(dropped))
	}
	clear(samples)
	clear(events)
	pl.samples, pl.events = samples[:0], events[:0]
}

// appendMs appends d in milliseconds with three decimals.
func appendMs(b []byte, d time.Duration) []byte {
	return strconv.AppendFloat(b, float64(d)/float64(time.Millisecond), 'f', 3, 64)
}

// The heap of ping checks, ordered by next slot.

func (pl *pingLoop) push(r *runner) {
	pl.heap = append(pl.heap, pingSlot{r.ping.next.UnixNano(), r})
	pl.up(len(pl.heap) - 1)
}

// pop removes the earliest entry.
func (pl *pingLoop) pop() {
	last := len(pl.heap) - 1
	pl.heap[0] = pl.heap[last]
	pl.heap[last] = pingSlot{}
	pl.heap = pl.heap[:last]
	if last > 0 {
		pl.down(0)
	}
}

// compact drops the entries of removed checks and restores the order.
func (pl *pingLoop) compact() {
	h := pl.heap[:0]
	for _, e := range pl.heap {
		if !e.r.ping.stopped {
			h = append(h, e)
		}
	}
	clear(pl.heap[len(h):])
	pl.heap, pl.stale = h, 0
	for i := len(h)/2 - 1; i >= 0; i-- {
		pl.down(i)
	}
}

func (pl *pingLoop) up(j int) {
	h := pl.heap
	for j > 0 {
		i := (j - 1) / 2
		if h[j].at >= h[i].at {
			break
		}
		h[i], h[j] = h[j], h[i]
		j = i
	}
}

func (pl *pingLoop) down(i int) {
	h := pl.heap
	n := len(h)
	for {
		j := 2*i + 1
		if j >= n {
			break
		}
		if j2 := j + 1; j2 < n && h[j2].at < h[j].at {
			j = j2
		}
		if h[j].at >= h[i].at {
			break
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}
