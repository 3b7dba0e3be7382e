package drill

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
)

// Kinds of drill.
const (
	KindPlatform = "platform"
	KindExternal = "external"
)

// Canary writes a sequence through the path under test.
type Canary interface {
	// Write stores seq; nil means acknowledged (durable).
	Write(ctx context.Context, seq int64) error
	// Highest returns the highest sequence number that survived, at most
	// upTo (0: none survived).
	Highest(ctx context.Context, upTo int64) (int64, error)
}

// Check is a named probe: nil when healthy.
type Check struct {
	Name  string
	Probe func(ctx context.Context) error
}

// Spec is one drill.
type Spec struct {
	ID, Name, Kind, Run, By string
	// Inject moves the service to its standby (required).
	Inject func(ctx context.Context) error
	// Served reports nil once the path serves again (required); it must
	// serve before the drill too.
	Served func(ctx context.Context) error
	// Rollback switches back (external: the switchback command); nil:
	// nothing to roll back.
	Rollback func(ctx context.Context) error
	// Restored reports nil once the path serves after a rollback
	// (default Served).
	Restored func(ctx context.Context) error
	// SwitchBack runs Rollback after a passing drill too, and waits for
	// Served again.
	SwitchBack bool
	// Stop are the stop conditions: one going bad aborts the drill.
	Stop []Check
	// Canary (nil: RPO is not measured).
	Canary Canary
	// CanaryEvery is the canary period (default 100ms); WriteTimeout
	// bounds one write (default 1s).
	CanaryEvery, WriteTimeout time.Duration
	// Limit: the path must serve again within it (default 2m).
	Limit time.Duration
	// Settle bounds the wait for the canary's writes to land before the
	// highest surviving one is read (default 10s).
	Settle time.Duration
	// Poll is how often Served and Stop are probed (default 100ms).
	Poll time.Duration
	// TargetRTO (0: none) and TargetRPO (writes) are compared with the
	// measures.
	TargetRTO time.Duration
	TargetRPO int64
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Progress is told each step (may be nil).
	Progress func(ledger.DrillStep)
}

func (s *Spec) defaults() {
	if s.CanaryEvery <= 0 {
		s.CanaryEvery = 100 * time.Millisecond
	}
	if s.WriteTimeout <= 0 {
		s.WriteTimeout = time.Second
	}
	if s.Limit <= 0 {
		s.Limit = 2 * time.Minute
	}
	if s.Settle <= 0 {
		s.Settle = 10 * time.Second
	}
	if s.Poll <= 0 {
		s.Poll = 100 * time.Millisecond
	}
	if s.Now == nil {
		s.Now = time.Now
	}
}

// canary runs the writer: every period the next sequence, and remembers
// the last acknowledged one and when it was written.
type canary struct {
	c       Canary
	mu      sync.Mutex
	next    int64
	lastAck int64
	writeAt map[int64]time.Time
	acked   []ackAt
	fails   int
}

type ackAt struct {
	seq int64
	at  time.Time
}

func (s *Spec) runCanary(ctx context.Context, cn *canary) {
	t := time.NewTicker(s.CanaryEvery)
	defer t.Stop()
	for {
		cn.mu.Lock()
		cn.next++
		seq := cn.next
		at := s.Now()
		cn.writeAt[seq] = at
		cn.mu.Unlock()
		wctx, cancel := context.WithTimeout(ctx, s.WriteTimeout)
		err := cn.c.Write(wctx, seq)
		cancel()
		cn.mu.Lock()
		if err == nil {
			if seq > cn.lastAck {
				cn.lastAck = seq
			}
			cn.acked = append(cn.acked, ackAt{seq, s.Now()})
		} else {
			cn.fails++
		}
		cn.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ackedAfter reports whether a write started at or after t was
// acknowledged.
func (cn *canary) ackedAfter(t time.Time) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	for i := len(cn.acked) - 1; i >= 0; i-- {
		if !cn.writeAt[cn.acked[i].seq].Before(t) {
			return true
		}
	}
	return false
}

// ErrNotServing is the reason of a drill whose path did not serve.
var ErrNotServing = errors.New("not serving")

// Run runs the drill and returns its record (Result passed, failed or
// aborted, with Reason). It never returns with the fault injected and not
// rolled back when a Rollback exists, unless the rollback itself failed
// (said in Reason).
func Run(ctx context.Context, s Spec) ledger.DrillRecord {
	s.defaults()
	d := ledger.DrillRecord{ID: s.ID, Name: s.Name, Kind: s.Kind, Run: s.Run, By: s.By, Started: s.Now(),
		TargetRTO: s.TargetRTO, TargetRPO: s.TargetRPO, Result: ledger.DrillRunning}
	step := func(format string, args ...any) {
		st := ledger.DrillStep{At: s.Now(), What: fmt.Sprintf(format, args...)}
		d.Steps = append(d.Steps, st)
		if s.Progress != nil {
			s.Progress(st)
		}
	}
	end := func(result, format string, args ...any) ledger.DrillRecord {
		d.Result, d.Ended = result, s.Now()
		if format != "" {
			d.Reason = fmt.Sprintf(format, args...)
			step("%s: %s", result, d.Reason)
		} else {
			step("%s", result)
		}
		return d
	}
	if s.Inject == nil || s.Served == nil {
		return end(ledger.DrillFailed, "drill %s: inject and served are required", s.Name)
	}
	// Before: the path serves and no stop condition is bad.
	if err := s.probe(ctx, s.Served); err != nil {
		return end(ledger.DrillFailed, "not serving before the drill: %v", err)
	}
	if c, err := s.badStop(ctx); c != "" {
		return end(ledger.DrillFailed, "stop condition %s bad before the drill: %v", c, err)
	}
	var cn *canary
	cctx, stopCanary := context.WithCancel(ctx)
	defer stopCanary()
	var cwg sync.WaitGroup
	if s.Canary != nil {
		cn = &canary{c: s.Canary, writeAt: map[int64]time.Time{}}
		cwg.Add(1)
		go func() { defer cwg.Done(); s.runCanary(cctx, cn) }()
		// One acknowledged write before the fault.
		if err := s.waitFor(ctx, s.Limit, func(context.Context) error {
			if cn.ackedAfter(d.Started) {
				return nil
			}
			return errors.New("no canary write acknowledged")
		}); err != nil {
			stopCanary()
			cwg.Wait()
			return end(ledger.DrillFailed, "canary before the drill: %v", err)
		}
		step("canary writing every %s", s.CanaryEvery)
	}
	rollback := func(why string) string {
		if s.Rollback == nil {
			return ""
		}
		step("rolling back (%s)", why)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.Limit)
		defer cancel()
		if err := s.Rollback(rctx); err != nil {
			return fmt.Sprintf("; rollback failed: %v", err)
		}
		restored := s.Restored
		if restored == nil {
			restored = s.Served
		}
		if err := s.waitFor(rctx, s.Limit, restored); err != nil {
			return fmt.Sprintf("; not serving after the rollback: %v", err)
		}
		step("rolled back: serving")
		return ""
	}
	d.Injected = s.Now()
	step("injecting")
	if err := s.Inject(ctx); err != nil {
		stopCanary()
		cwg.Wait()
		return end(ledger.DrillFailed, "inject: %v%s", err, rollback("inject failed"))
	}
	injectedAt := s.Now()
	step("injected")
	// Until served: every Poll, the stop conditions, then Served (and a
	// canary write begun after the injection returned, acknowledged).
	deadline := d.Injected.Add(s.Limit)
	for {
		if c, err := s.badStop(ctx); c != "" {
			stopCanary()
			cwg.Wait()
			return end(ledger.DrillAborted, "stop condition %s went bad: %v%s", c, err, rollback("stop condition "+c))
		}
		err := s.probe(ctx, s.Served)
		if err == nil && (cn == nil || cn.ackedAfter(injectedAt)) {
			break
		}
		if err == nil {
			err = errors.New("no canary write acknowledged since the fault")
		}
		if !s.Now().Before(deadline) || ctx.Err() != nil {
			stopCanary()
			cwg.Wait()
			return end(ledger.DrillFailed, "%v within %s: %v%s", ErrNotServing, s.Limit, err, rollback("not serving"))
		}
		select {
		case <-ctx.Done():
		case <-time.After(s.Poll):
		}
	}
	d.Served = s.Now()
	d.RTO = d.Served.Sub(d.Injected)
	step("serving again after %s", d.RTO.Round(time.Millisecond))
	stopCanary()
	cwg.Wait()
	if cn != nil {
		s.measureRPO(ctx, cn, &d, step)
	}
	if s.SwitchBack && s.Rollback != nil {
		if why := rollback("switch back"); why != "" {
			return end(ledger.DrillFailed, "switch back%s", why)
		}
	}
	switch {
	case s.TargetRTO > 0 && d.RTO > s.TargetRTO:
		return end(ledger.DrillFailed, "RTO %s above its target %s", d.RTO.Round(time.Millisecond), s.TargetRTO)
	case cn != nil && d.RPO > s.TargetRPO:
		return end(ledger.DrillFailed, "RPO %d writes (%s) above its target %d", d.RPO, d.RPOTime.Round(time.Millisecond), s.TargetRPO)
	}
	return end(ledger.DrillPassed, "")
}

// measureRPO waits (up to Settle) for the acknowledged writes to land,
// then RPO = last acknowledged − highest surviving.
func (s *Spec) measureRPO(ctx context.Context, cn *canary, d *ledger.DrillRecord, step func(string, ...any)) {
	cn.mu.Lock()
	last := cn.lastAck
	cn.mu.Unlock()
	var high int64
	var err error
	deadline := s.Now().Add(s.Settle)
	for {
		high, err = cn.c.Highest(ctx, last)
		if (err == nil && high >= last) || !s.Now().Before(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(s.Poll):
		}
	}
	if err != nil {
		step("canary: reading the highest surviving write: %v", err)
	}
	d.RPO = max(0, last-high)
	if d.RPO > 0 {
		cn.mu.Lock()
		d.RPOTime = cn.writeAt[last].Sub(cn.writeAt[high+1]) + s.CanaryEvery
		cn.mu.Unlock()
	}
	step("canary: %d written, last acknowledged %d, highest surviving %d, %d failed writes", cn.next, last, high, cn.fails)
}

func (s *Spec) probe(ctx context.Context, f func(context.Context) error) error {
	pctx, cancel := context.WithTimeout(ctx, max(s.Poll*10, time.Second))
	defer cancel()
	return f(pctx)
}

// badStop returns the first stop condition that is bad.
func (s *Spec) badStop(ctx context.Context) (string, error) {
	for _, c := range s.Stop {
		if err := s.probe(ctx, c.Probe); err != nil {
			return c.Name, err
		}
	}
	return "", nil
}

func (s *Spec) waitFor(ctx context.Context, d time.Duration, f func(context.Context) error) error {
	deadline := s.Now().Add(d)
	for {
		err := s.probe(ctx, f)
		if err == nil {
			return nil
		}
		if !s.Now().Before(deadline) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(s.Poll):
		}
	}
}
