package node

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/drill"
	"github.com/unyo-ops/unyo/internal/secretbox"
	"github.com/unyo-ops/unyo/jobnet"
	"github.com/unyo-ops/unyo/rotate"
)

// Failover drills and password rotation on the node: the built-in job
// kinds drill and rotate-password, and what the API lists and reveals.

func (n *Node) drillStore() (ledger.DrillStore, error) {
	s, err := n.store.get()
	if err != nil {
		return nil, err
	}
	ds, ok := s.(ledger.DrillStore)
	if !ok {
		return nil, fmt.Errorf("%w: the %T store keeps no drills", ledger.ErrUnavailable, s)
	}
	return ds, nil
}

func (n *Node) passwordStore() (ledger.PasswordStore, error) {
	s, err := n.store.get()
	if err != nil {
		return nil, err
	}
	ps, ok := s.(ledger.PasswordStore)
	if !ok {
		return nil, fmt.Errorf("%w: the %T store keeps no passwords", ledger.ErrUnavailable, s)
	}
	return ps, nil
}

// Drills implements console.Drills.
func (n *Node) Drills(ctx context.Context, f ledger.DrillFilter) ([]ledger.DrillRecord, error) {
	ds, err := n.drillStore()
	if err != nil {
		return nil, err
	}
	return ds.Drills(ctx, f)
}

// Drill implements console.Drills.
func (n *Node) Drill(ctx context.Context, id string) (ledger.DrillRecord, error) {
	ds, err := n.drillStore()
	if err != nil {
		return ledger.DrillRecord{}, err
	}
	return ds.Drill(ctx, id)
}

// nodePasswords implements console.Passwords.
type nodePasswords struct{ n *Node }

func (p nodePasswords) Passwords(ctx context.Context) ([]ledger.PasswordRecord, error) {
	ps, err := p.n.passwordStore()
	if err != nil {
		return nil, err
	}
	return ps.Passwords(ctx)
}

func (p nodePasswords) Reveal(ctx context.Context, account, slot string) (string, error) {
	ps, err := p.n.passwordStore()
	if err != nil {
		return "", err
	}
	rec, err := ps.Password(ctx, account)
	if err != nil {
		return "", err
	}
	s, ok := rec.Slots[slot]
	if !ok {
		return "", fmt.Errorf("account %q has no %s password: %w", account, slot, incident.ErrNotFound)
	}
	key, err := p.n.secretKey()
	if err != nil {
		return "", fmt.Errorf("cluster secret key: %w", err)
	}
	return secretbox.Open(key, s.Sealed)
}

// vault is rotate.Vault on the ledger, sealing with the cluster key.
type vault struct {
	n  *Node
	by string
}

func (v vault) Pending(ctx context.Context, account, pw string) error {
	ps, err := v.n.passwordStore()
	if err != nil {
		return err
	}
	key, err := v.n.createSecretKey()
	if err != nil {
		return fmt.Errorf("cluster secret key: %w", err)
	}
	sealed, err := secretbox.Seal(key, pw)
	if err != nil {
		return err
	}
	return ps.PendingPassword(ctx, account, sealed, v.by, time.Now())
}

func (v vault) Commit(ctx context.Context, account string) error {
	ps, err := v.n.passwordStore()
	if err != nil {
		return err
	}
	return ps.CommitPassword(ctx, account, time.Now())
}

func (v vault) Abort(ctx context.Context, account, reason string) error {
	ps, err := v.n.passwordStore()
	if err != nil {
		return err
	}
	return ps.AbortPassword(ctx, account, reason, time.Now())
}

// rotateBuiltin is the job kind rotate-password. It runs where the job
// runs (the node's built-in agent with run_on.node, or the leader) and
// keeps the passwords in the ledger before it sets them.
func (n *Node) rotateBuiltin(ctx context.Context, t jobnet.Task) (int, string, error) {
	return rotate.RunJob(ctx, vault{n: n, by: "job:" + t.Jobnet + "/" + t.Job}, t.Rotate.Host, t.Rotate)
}

// drillBuiltin is the job kind drill: it runs the drill, stores its
// record (at the start and at the end), compares it with the last drills
// of the same name, and ends 1 when the drill failed or was aborted (a
// job fault: an incident with runbook drill-failed).
func (n *Node) drillBuiltin(ctx context.Context, t jobnet.Task) (int, string, error) {
	c := t.Drill
	name := t.Jobnet + "/" + t.Job
	id := strings.NewReplacer("/", "-", ":", "", "@", "-").Replace(t.Run + "-" + t.Job + "-" + strconv.Itoa(t.Attempt))
	spec := drill.Spec{ID: id, Name: name, Kind: c.Kind, Run: t.Run, By: "job:" + name, Limit: c.Limit,
		TargetRTO: c.TargetRTO, TargetRPO: c.TargetRPO, SwitchBack: c.SwitchBack}
	var out strings.Builder
	spec.Progress = func(s ledger.DrillStep) { fmt.Fprintf(&out, "%s %s\n", s.At.UTC().Format("15:04:05.000"), s.What) }
	switch c.Kind {
	case drill.KindPlatform:
		if err := n.platformDrill(&spec, c); err != nil {
			return 2, "", err
		}
	case drill.KindExternal:
		externalDrill(&spec, c)
	default:
		return 2, "", fmt.Errorf("drill kind %q", c.Kind)
	}
	ds, dsErr := n.drillStore()
	var prev []ledger.DrillRecord
	if dsErr == nil {
		prev, _ = ds.Drills(ctx, ledger.DrillFilter{Name: name, Limit: 5})
		_ = ds.RecordDrill(ctx, ledger.DrillRecord{ID: id, Name: name, Kind: c.Kind, Run: t.Run, By: spec.By,
			Started: time.Now(), Result: ledger.DrillRunning, TargetRTO: c.TargetRTO, TargetRPO: c.TargetRPO})
	}
	if n.auth != nil {
		_, _ = n.auth.AppendAudit(context.WithoutCancel(ctx), auth.AuditEntry{At: time.Now(), Actor: spec.By, Kind: "job",
			Action: "drill.start", Target: name, Result: "ok", Detail: "drill " + id + " (" + c.Kind + ")"})
	}
	d := drill.Run(ctx, spec)
	for _, p := range prev {
		if p.Result == ledger.DrillRunning {
			continue
		}
		fmt.Fprintf(&out, "previous %s %s: %s RTO %s RPO %d\n", p.ID, p.Started.UTC().Format(time.DateTime), p.Result,
			p.RTO.Round(time.Millisecond), p.RPO)
	}
	fmt.Fprintf(&out, "result %s: RTO %s (target %s), RPO %d writes / %s (target %d)\n", d.Result,
		d.RTO.Round(time.Millisecond), c.TargetRTO, d.RPO, d.RPOTime.Round(time.Millisecond), c.TargetRPO)
	if dsErr != nil {
		fmt.Fprintf(&out, "not stored: %v\n", dsErr)
	} else if err := ds.RecordDrill(context.WithoutCancel(ctx), d); err != nil {
		fmt.Fprintf(&out, "not stored: %v\n", err)
	}
	if d.Result != ledger.DrillPassed {
		return 1, out.String(), fmt.Errorf("drill %s %s: %s", name, d.Result, d.Reason)
	}
	return 0, out.String(), nil
}

func externalDrill(s *drill.Spec, c configs.JobDrill) {
	checks := map[string]drill.Check{}
	for _, ch := range c.Checks {
		var p func(context.Context) error
		switch {
		case ch.TCP != "":
			p = drill.TCPProbe(ch.TCP)
		case ch.HTTP != "":
			p = drill.HTTPProbe(ch.HTTP)
		default:
			p = drill.CommandProbe(ch.Command[0], ch.Command[1:])
		}
		checks[ch.Name] = drill.Check{Name: ch.Name, Probe: p}
	}
	all := func(names []string) func(context.Context) error {
		return func(ctx context.Context) error {
			for _, nm := range names {
				if err := checks[nm].Probe(ctx); err != nil {
					return fmt.Errorf("check %s: %w", nm, err)
				}
			}
			return nil
		}
	}
	cmd := func(argv []string) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := drill.Command(ctx, argv[0], argv[1:], nil)
			return err
		}
	}
	// Before the drill the pair serves as restored (the primary); after
	// the switchover, as served (the standby).
	injected := false
	served, restored := all(c.ServedWhen), all(c.RestoredWhen)
	s.Served = func(ctx context.Context) error {
		if !injected {
			return restored(ctx)
		}
		return served(ctx)
	}
	s.Restored = restored
	sw := cmd(c.Switchover)
	s.Inject = func(ctx context.Context) error { injected = true; return sw(ctx) }
	if len(c.Switchback) > 0 {
		s.Rollback = cmd(c.Switchback)
	}
	for _, nm := range c.StopWhenBad {
		s.Stop = append(s.Stop, checks[nm])
	}
	switch {
	case len(c.Canary.TCP) > 0:
		s.Canary = drill.TCPCanary{Addrs: c.Canary.TCP}
	case len(c.Canary.Write) > 0:
		s.Canary = drill.CommandCanary{WriteCmd: c.Canary.Write[0], WriteArgs: c.Canary.Write[1:], Read: c.Canary.Read[0], ReadArgs: c.Canary.Read[1:]}
	}
}

// platformDrill moves Raft leadership (and runs the kill command on the
// old leader's name). Served again means: a leader in quorum other than
// the old one whose log commits (scheduling and escalation run on the
// leader), every target assigned and none to a killed member
// (monitoring), and canary events through this node's ingest into the
// ledger.
func (n *Node) platformDrill(s *drill.Spec, c configs.JobDrill) error {
	if n.raft == nil {
		return errors.New("a platform drill needs the cluster (Raft)")
	}
	var old string
	var index uint64
	s.Inject = func(ctx context.Context) error {
		old, index = n.raft.Leader().ID, n.raft.AppliedIndex()
		if err := n.raft.TransferLeadership(ctx, c.To); err != nil {
			return err
		}
		if len(c.KillCommand) > 0 {
			if _, err := drill.Command(ctx, c.KillCommand[0], c.KillCommand[1:], []string{"UNYO_DRILL_MEMBER=" + old}); err != nil {
				return fmt.Errorf("kill command: %w", err)
			}
		}
		return nil
	}
	s.Served = func(ctx context.Context) error {
		st := n.raft.Status()
		switch {
		case st.Leader.ID == "":
			return errors.New("no leader")
		case old != "" && st.Leader.ID == old:
			return fmt.Errorf("%s still leads", old)
		case !n.raft.InQuorum():
			return errors.New("not in quorum")
		case old != "" && n.raft.AppliedIndex() <= index:
			return errors.New("the new leader has committed nothing yet")
		case st.Unassigned > 0:
			return fmt.Errorf("%d targets unassigned", st.Unassigned)
		}
		if old != "" && len(c.KillCommand) > 0 {
			if k := len(n.raft.AssignedTo(old)); k > 0 {
				return fmt.Errorf("%d targets still on the killed member %s", k, old)
			}
		}
		return nil
	}
	s.Canary = &eventCanary{n: n, id: s.ID}
	return nil
}

// eventCanary writes canary events through the node's ingest (spool →
// JetStream → ledger); the highest surviving is the highest event id the
// ledger has applied.
type eventCanary struct {
	n  *Node
	id string
}

// MaxCanaryScan bounds how far below the last acknowledged write the
// ledger is searched for the highest surviving one.
const MaxCanaryScan = 10000

func (c *eventCanary) eventID(seq int64) string {
	return "drill-" + c.id + "-" + strconv.FormatInt(seq, 10)
}

func (c *eventCanary) Write(ctx context.Context, seq int64) error {
	now := time.Now()
	return c.n.ingest.in.Publish(ctx, incident.Event{ID: c.eventID(seq), Source: "drill", Target: "unyo", Check: "drill-canary",
		Severity: incident.Info, Status: incident.OK, DedupKey: "drill-canary:" + c.id, Message: "drill canary " + strconv.FormatInt(seq, 10),
		Time: now, Received: now})
}

func (c *eventCanary) Highest(ctx context.Context, upTo int64) (int64, error) {
	for seq := upTo; seq > 0 && seq > upTo-MaxCanaryScan; seq-- {
		ok, _, err := c.n.store.EventApplied(ctx, c.eventID(seq))
		if err != nil {
			return 0, err
		}
		if ok {
			return seq, nil
		}
	}
	return 0, nil
}
