package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/console"
)

const runUsage = `usage:
  unyo run list [--jobnet NAME] [--limit N] [-o table|json]
  unyo run show ID [-o table|json]
  unyo run hold|release|skip|kill ID [--job JOB] [--by NAME]
  unyo run rerun ID [--job JOB] [--from failed|after|all|warnings] [--by NAME]`

func runRun(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("%s", runUsage)
	}
	switch args[0] {
	case "list", "ls":
		return runList(ctx, env, args[1:])
	case "show":
		return runShow(ctx, env, args[1:])
	case "hold", "release", "skip", "kill", "rerun":
		return runAct(ctx, env, args[0], args[1:])
	}
	return usagef("unknown run command %q\n%s", args[0], runUsage)
}

func runList(ctx context.Context, env *Env, args []string) error {
	cmd := newAPICmd(env, "run list")
	jobnet := cmd.fs.String("jobnet", "", "only runs of this jobnet")
	limit := cmd.fs.Int("limit", 100, "at most this many (1 to 1000)")
	_, c, err := cmd.connect(args, 0, runUsage)
	if err != nil {
		return err
	}
	runs, err := c.Runs(ctx, *jobnet, *limit)
	if err != nil {
		return err
	}
	if cmd.json() {
		if runs == nil {
			runs = []ledger.RunRecord{}
		}
		return printJSON(env.Stdout, runs)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tJOBNET\tSTATUS\tTRIGGER\tSCHEDULED\tENDED")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", safe(r.ID), safe(r.Jobnet), r.Status, safe(string(r.Trigger)), fmtTime(r.Scheduled), fmtTime(r.Ended))
	}
	return tw.Flush()
}

func runShow(ctx context.Context, env *Env, args []string) error {
	cmd := newAPICmd(env, "run show")
	pos, c, err := cmd.connect(args, 1, runUsage)
	if err != nil {
		return err
	}
	r, err := c.Run(ctx, pos[0])
	if err != nil {
		return err
	}
	if cmd.json() {
		return printJSON(env.Stdout, r)
	}
	printRun(env, r)
	return nil
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
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
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
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

func runAct(ctx context.Context, env *Env, verb string, args []string) error {
	cmd := newAPICmd(env, "run "+verb)
	job := cmd.fs.String("job", "", "the job (default: the whole run)")
	from := ""
	if verb == "rerun" {
		cmd.fs.StringVar(&from, "from", "failed", "rerun mode: failed, after, all or warnings")
	}
	pos, c, err := cmd.connect(args, 1, runUsage)
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
	if cmd.json() {
		return printJSON(env.Stdout, r)
	}
	printRun(env, r)
	return nil
}
