package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/unyo-ops/unyo/alerting/ledger"
)

const drillUsage = `usage: unyo drill list [--name JOBNET/JOB] [--month YYYY-MM] [--limit N] [-o table|json]
       unyo drill show ID [-o table|json]
A drill is started as its jobnet is: unyo jobnet start JOBNET.`

func drillCmd(env *Env) *cobra.Command {
	list := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "failover drills, newest first, with RTO and RPO", ValidArgsFunction: noArgs}
	la := newAPICmd(env, list)
	name := list.Flags().String("name", "", "only drills of this job (JOBNET/JOB)")
	month := list.Flags().String("month", "", "only drills started in this month (YYYY-MM, UTC)")
	limit := list.Flags().Int("limit", 100, "at most this many (1 to 1000)")
	list.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := la.connect(pos, 0, drillUsage)
		if err != nil {
			return err
		}
		if *limit < 1 || *limit > 1000 {
			return usagef("--limit %d: want 1 to 1000", *limit)
		}
		ds, err := c.Drills(ctx, *name, *month, *limit)
		if err != nil {
			return err
		}
		if la.json() {
			if ds == nil {
				ds = []ledger.DrillRecord{}
			}
			return printJSON(env.Stdout, ds)
		}
		tw := newTable(env.Stdout)
		fmt.Fprintln(tw, "ID\tNAME\tKIND\tRESULT\tSTARTED\tRTO\tTARGET\tRPO")
		for _, d := range ds {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", safe(d.ID), safe(d.Name), safe(d.Kind), safe(d.Result),
				fmtTime(d.Started), dur(d.RTO), dur(d.TargetRTO), d.RPO)
		}
		return tw.Flush()
	})
	show := &cobra.Command{Use: "show ID", Short: "a drill: its measures, targets and timeline"}
	sa := newAPICmd(env, show)
	show.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := sa.connect(pos, 1, drillUsage)
		if err != nil {
			return err
		}
		d, err := c.Drill(ctx, pos[0])
		if err != nil {
			return err
		}
		if sa.json() {
			return printJSON(env.Stdout, d)
		}
		w := env.Stdout
		fmt.Fprintf(w, "drill %s (%s) of %s: %s\n", safe(d.ID), safe(d.Kind), safe(d.Name), safe(d.Result))
		if d.Reason != "" {
			fmt.Fprintf(w, "reason: %s\n", safe(d.Reason))
		}
		fmt.Fprintf(w, "RTO %s (target %s); RPO %d writes, %s (target %d)\n", dur(d.RTO), dur(d.TargetRTO), d.RPO, dur(d.RPOTime), d.TargetRPO)
		fmt.Fprintf(w, "started %s, injected %s, served %s, ended %s\n", fmtTime(d.Started), fmtTime(d.Injected), fmtTime(d.Served), fmtTime(d.Ended))
		for _, s := range d.Steps {
			fmt.Fprintf(w, "  %s  %s\n", fmtTime(s.At), safe(s.What))
		}
		return nil
	})
	return group("drill", "failover drills: list and show their measured RTO and RPO", drillUsage, list, show)
}

func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(time.Millisecond).String()
}

const passwordUsage = `usage: unyo password list [-o table|json]
       unyo password reveal ACCOUNT [--slot current|previous|pending]
Passwords are set by rotate-password jobs; each reveal is in the audit log.`

func passwordCmd(env *Env) *cobra.Command {
	list := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "accounts whose passwords rotate, and when (no password)", ValidArgsFunction: noArgs}
	la := newAPICmd(env, list)
	list.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := la.connect(pos, 0, passwordUsage)
		if err != nil {
			return err
		}
		ps, err := c.Passwords(ctx)
		if err != nil {
			return err
		}
		if la.json() {
			if ps == nil {
				ps = []ledger.PasswordRecord{}
			}
			return printJSON(env.Stdout, ps)
		}
		tw := newTable(env.Stdout)
		fmt.Fprintln(tw, "ACCOUNT\tCURRENT SINCE\tPREVIOUS\tPENDING\tLAST FAILURE")
		at := func(p ledger.PasswordRecord, slot string) string {
			if s, ok := p.Slots[slot]; ok {
				return fmtTime(s.At)
			}
			return "-"
		}
		for _, p := range ps {
			fail := "-"
			if p.LastAbort != "" {
				fail = fmtTime(p.LastAbortAt) + " " + p.LastAbort
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", safe(p.Account), at(p, ledger.SlotCurrent), at(p, ledger.SlotPrevious),
				at(p, ledger.SlotPending), safe(fail))
		}
		return tw.Flush()
	})
	reveal := &cobra.Command{Use: "reveal ACCOUNT", Short: "print an account's password (audited)"}
	ra := newAPICmd(env, reveal)
	slot := reveal.Flags().String("slot", "current", "current, previous or pending")
	reveal.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := ra.connect(pos, 1, passwordUsage)
		if err != nil {
			return err
		}
		r, err := c.RevealPassword(ctx, pos[0], *slot)
		if err != nil {
			return err
		}
		if ra.json() {
			return printJSON(env.Stdout, r)
		}
		// The password alone, for a pipe; it is what was asked for.
		fmt.Fprintln(env.Stdout, r.Password)
		return nil
	})
	return group("password", "rotated passwords: list accounts, reveal one (audited)", passwordUsage, list, reveal)
}
