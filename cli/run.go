package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/console"
)

const runUsage = `usage:
  unyo run list [--jobnet NAME] [--limit N] [-o table|json]
  unyo run show ID [-o table|json]
  unyo run hold|release|skip|kill ID [--job JOB]
  unyo run rerun ID [--job JOB] [--from failed|after|all|warnings]`

func runCmd(env *Env) *cobra.Command {
	list := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "jobnet runs, newest first", ValidArgsFunction: noArgs}
	la := newAPICmd(env, list)
	jobnet := list.Flags().String("jobnet", "", "only runs of this jobnet")
	limit := list.Flags().Int("limit", 100, "at most this many (1 to 1000)")
	_ = list.RegisterFlagCompletionFunc("jobnet", completeJobnets(env, la.server))
	list.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := la.connect(pos, 0, runUsage)
		if err != nil {
			return err
		}
		if *limit < 1 || *limit > 1000 {
			return usagef("--limit %d: want 1 to 1000", *limit)
		}
		runs, err := c.Runs(ctx, *jobnet, *limit)
		if err != nil {
			return err
		}
		if la.json() {
			if runs == nil {
				runs = []ledger.RunRecord{}
			}
			return printJSON(env.Stdout, runs)
		}
		tw := newTable(env.Stdout)
		fmt.Fprintln(tw, "ID\tJOBNET\tSTATUS\tTRIGGER\tSCHEDULED\tENDED")
		for _, r := range runs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", safe(r.ID), safe(r.Jobnet), r.Status, safe(string(r.Trigger)), fmtTime(r.Scheduled), fmtTime(r.Ended))
		}
		return tw.Flush()
	})

	show := &cobra.Command{Use: "show ID", Short: "a run and the state of each job"}
	sa := newAPICmd(env, show)
	show.ValidArgsFunction = completeWith(env, sa.server, runIDs)
	show.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := sa.connect(pos, 1, runUsage)
		if err != nil {
			return err
		}
		r, err := c.Run(ctx, pos[0])
		if err != nil {
			return err
		}
		if sa.json() {
			return printJSON(env.Stdout, r)
		}
		printRun(env, r)
		return nil
	})
	cmds := []*cobra.Command{list, show}
	for _, v := range []struct{ verb, short string }{
		{"hold", "hold a run or one job: nothing more starts until release"},
		{"release", "release what hold held"},
		{"skip", "skip a job: it counts as done"},
		{"kill", "kill a running job or the whole run"},
		{"rerun", "run again the failed jobs (or --from after|all|warnings)"},
	} {
		cmds = append(cmds, runActCmd(env, v.verb, v.short))
	}
	return group("run", "list and show jobnet runs; hold, release, skip, kill, rerun", "", cmds...)
}

func runActCmd(env *Env, verb, short string) *cobra.Command {
	cmd := &cobra.Command{Use: verb + " ID", Short: short}
	a := newAPICmd(env, cmd)
	job := cmd.Flags().String("job", "", "the job (default: the whole run)")
	from := ""
	if verb == "rerun" {
		cmd.Flags().StringVar(&from, "from", "failed", "rerun mode: failed, after, all or warnings")
		_ = cmd.RegisterFlagCompletionFunc("from", cobra.FixedCompletions([]string{"failed", "after", "all", "warnings"}, cobra.ShellCompDirectiveNoFileComp))
	}
	cmd.ValidArgsFunction = completeWith(env, a.server, runIDs)
	cmd.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := a.connect(pos, 1, runUsage)
		if err != nil {
			return err
		}
		switch from {
		case "", "failed", "after", "all", "warnings":
		default:
			return usagef("--from %q: want failed, after, all or warnings", from)
		}
		r, err := c.ActRun(ctx, pos[0], console.RunAction{Verb: verb, Job: *job, From: from})
		if err != nil {
			return err
		}
		if a.json() {
			return printJSON(env.Stdout, r)
		}
		printRun(env, r)
		return nil
	})
	return cmd
}

func printRun(env *Env, r ledger.RunRecord) {
	w := env.Stdout
	fmt.Fprintf(w, "run %s of %s: %s\n", safe(r.ID), safe(r.Jobnet), r.Status)
	fmt.Fprintf(w, "trigger: %s", safe(string(r.Trigger)))
	if r.By != "" {
		fmt.Fprintf(w, " by %s", safe(r.By))
	}
	fmt.Fprintf(w, "   scheduled: %s   created: %s   ended: %s", fmtTime(r.Scheduled), fmtTime(r.Created), fmtTime(r.Ended))
	if r.Gen > 0 {
		fmt.Fprintf(w, "   reruns: %d", r.Gen)
	}
	fmt.Fprintln(w)
	if len(r.Params) > 0 {
		var ps []string
		for k, v := range r.Params {
			ps = append(ps, k+"="+v)
		}
		fmt.Fprintf(w, "params: %s\n", safe(strings.Join(ps, " ")))
	}
	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintln(tw, "JOB\tATTEMPT\tSTATE\tCODE\tWHERE\tSTARTED\tENDED\tREASON")
	for _, j := range r.Jobs {
		code := "-"
		if j.Code != nil {
			code = fmt.Sprint(*j.Code)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", safe(j.Job), j.Attempt, j.State, code, dash(j.Where), fmtTime(j.Started), fmtTime(j.Ended), dash(firstLine(j.Reason)))
	}
	tw.Flush()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	s = runewidthCond.Truncate(s, 80, "...")
	return s
}
