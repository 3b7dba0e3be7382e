package escalation_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/alerting/escalation"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/notify"
	"github.com/unyo-ops/unyo/internal/promtest"
)

// fenced returns an escalator of the harness that claims with fence f and
// whose leadership a quorum confirms when leads is true. Activating it
// and stopping its loops again fixes its fence, as a real leader's does.
func (h *harness) fenced(name string, f int64, leads bool, reg prometheus.Registerer) *escalation.Escalator {
	h.t.Helper()
	o := h.opts
	o.Config = h.cfg
	o.Node, o.Owner = name, name
	o.Fence = func() int64 { return f }
	o.VerifyLeader = func(context.Context) error {
		if leads {
			return nil
		}
		return errors.New("not leader")
	}
	o.PollInterval = time.Hour
	o.Registerer = reg
	e, err := escalation.New(context.Background(), o)
	if err != nil {
		h.t.Fatal(err)
	}
	e.SetActive(true)
	e.SetActive(false)
	return e
}

// TestDeposedLeaderIsFenced: the old leader (term 5) sends step 1; the new
// leader (term 6) claims; from then on the old one claims nothing, even
// what is due, and every step goes out once, sent by the new leader.
func TestDeposedLeaderIsFenced(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open opener) {
		h := newHarness(t, open, nil)
		id := h.open("web01", "http")
		oldReg := prometheus.NewRegistry()
		old := h.fenced("old", 5, false, oldReg)
		h.clock.Set(T0)
		h.run(old)
		h.wantMails(toOperator)

		neu := h.fenced("new", 6, true, nil)
		h.clock.Set(T0.Add(5 * time.Minute))
		if err := old.RunDue(t.Context()); err != nil { // step 2 recorded by either: no matter
			t.Fatal(err)
		}
		h.run(neu)
		h.wantMails(toOperator, toSE)

		h.clock.Set(T0.Add(15 * time.Minute))
		if err := old.RunDue(t.Context()); err != nil {
			t.Fatal(err)
		}
		n, err := old.Deliver(t.Context())
		if !errors.Is(err, ledger.ErrFenced) || n != 0 {
			t.Fatalf("old leader's Deliver = %d, %v; want 0, ErrFenced", n, err)
		}
		if got := promtest.Counter(t, oldReg, "unyo_escalation_fenced_total"); got != 1 {
			t.Errorf("unyo_escalation_fenced_total = %v, want 1", got)
		}
		h.wantMails(toOperator, toSE)
		h.run(neu)
		h.wantMails(toOperator, toSE, toManager)

		h.wantSentOnce(id)
		if f, owner, err := h.es.Fence(t.Context()); err != nil || f != 6 || owner != "new" {
			t.Errorf("Fence = %d, %q, %v; want 6, new", f, owner, err)
		}
	})
}

// TestRebuiltClusterTakesOverFence: a fence left by an earlier cluster
// (term 40) does not lock out a rebuilt one (term 2) whose leadership a
// quorum confirms; an unconfirmed one stays out.
func TestRebuiltClusterTakesOverFence(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open opener) {
		h := newHarness(t, open, nil)
		h.open("web01", "http")
		h.clock.Set(T0)
		before := h.fenced("before", 40, true, nil)
		if _, err := before.Deliver(t.Context()); err != nil { // nothing due yet: raises the fence
			t.Fatal(err)
		}
		h.wantMails()
		h.pump(before)
		if err := before.RunDue(t.Context()); err != nil {
			t.Fatal(err)
		}
		unsure := h.fenced("unsure", 2, false, nil)
		if _, err := unsure.Deliver(t.Context()); !errors.Is(err, ledger.ErrFenced) {
			t.Fatalf("unconfirmed leader's Deliver = %v, want ErrFenced", err)
		}
		h.wantMails()
		rebuilt := h.fenced("rebuilt", 2, true, nil)
		if n, err := rebuilt.Deliver(t.Context()); err != nil || n != 1 {
			t.Fatalf("confirmed leader's Deliver = %d, %v; want 1 group sent", n, err)
		}
		h.wantMails(toOperator)
		if f, owner, _ := h.es.Fence(t.Context()); f != 2 || owner != "rebuilt" {
			t.Errorf("Fence = %d, %q; want 2, rebuilt", f, owner)
		}
	})
}

// TestStoppingMidBatchReleases: a leader that steps down while sending
// finishes the message on the wire, records it, and releases the groups
// it had not sent, so the next leader sends them at once, not after the
// lease.
func TestStoppingMidBatchReleases(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, open opener) {
		ctx, stepDown := context.WithCancel(t.Context())
		var h *harness
		h = newHarness(t, open, func(c *escalation.Config, o *escalation.Options) {
			c.Storm.GroupWait = 0
			real := o.Notifiers["mail"]
			o.Notifiers = map[string]notify.Notifier{"webhook": o.Notifiers["webhook"],
				"mail": notify.Func(func(sctx context.Context, m notify.Message) (bool, error) {
					stepDown() // leadership lost while this one is on the wire
					return real.Notify(sctx, m)
				})}
			o.Lease = time.Hour
		})
		for _, target := range []string{"web01", "web02", "web03"} {
			h.open(target, "http")
		}
		h.clock.Set(T0)
		h.pump(h.esc)
		if err := h.esc.RunDue(t.Context()); err != nil {
			t.Fatal(err)
		}
		n, err := h.esc.Deliver(ctx)
		if n != 1 || !errors.Is(err, context.Canceled) {
			t.Fatalf("Deliver while stepping down = %d, %v; want 1 sent, context.Canceled", n, err)
		}
		if got := len(h.smtp.Messages()); got != 1 {
			t.Fatalf("%d mails while stepping down, want the 1 on the wire", got)
		}
		next := h.newEscalator()
		if n, err := next.Deliver(t.Context()); err != nil || n != 2 {
			t.Fatalf("next leader's Deliver within the lease = %d, %v; want the 2 released groups", n, err)
		}
		if got := len(h.smtp.Messages()); got != 3 {
			t.Fatalf("%d mails, want 3 (one per target, none twice)", got)
		}
	})
}
