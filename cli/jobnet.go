package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/unyo-ops/unyo/console"
)

const jobnetUsage = `usage:
  unyo jobnet list [-o table|json]
  unyo jobnet show NAME [-o table|json]
  unyo jobnet run NAME [--param k=v]...`

func jobnetCmd(env *Env) *cobra.Command {
	list := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "the jobnets, their schedules and next run", ValidArgsFunction: noArgs}
	la := newAPICmd(env, list)
	list.RunE = run(func(ctx context.Context, pos []string) error { return jobnetList(ctx, env, la, pos) })

	show := &cobra.Command{Use: "show NAME", Short: "a jobnet's jobs and their order"}
	sa := newAPICmd(env, show)
	show.ValidArgsFunction = completeWith(env, sa.server, jobnetNames)
	show.RunE = run(func(ctx context.Context, pos []string) error { return jobnetShow(ctx, env, sa, pos) })

	start := &cobra.Command{Use: "run NAME", Aliases: []string{"start"}, Short: "start a run of a jobnet now; prints the run id"}
	ra := newAPICmd(env, start)
	params := kvFlag{}
	start.Flags().Var(params, "param", "a parameter of the run, name=value (repeatable)")
	start.ValidArgsFunction = completeWith(env, ra.server, jobnetNames)
	start.RunE = run(func(ctx context.Context, pos []string) error { return jobnetRun(ctx, env, ra, pos, params) })
	return group("jobnet", "list and show jobnets, start a run", "", list, show, start)
}

func jobnetList(ctx context.Context, env *Env, cmd *apiCmd, args []string) error {
	c, err := cmd.connect(args, 0, jobnetUsage)
	if err != nil {
		return err
	}
	ns, err := c.Jobnets(ctx)
	if err != nil {
		return err
	}
	if cmd.json() {
		if ns == nil {
			ns = []console.JobnetSummary{}
		}
		return printJSON(env.Stdout, ns)
	}
	tw := newTable(env.Stdout)
	fmt.Fprintln(tw, "NAME\tJOBS\tSCHEDULES\tCONCURRENCY\tLIVE\tNEXT")
	for _, n := range ns {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%s\n", safe(n.Name), n.Jobs, dash(strings.Join(n.Schedules, "; ")), n.Concurrency, n.Live, timeOrDash(n.Next))
	}
	return tw.Flush()
}

func timeOrDash(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return fmtTime(*t)
}

func jobnetShow(ctx context.Context, env *Env, cmd *apiCmd, pos []string) error {
	c, err := cmd.connect(pos, 1, jobnetUsage)
	if err != nil {
		return err
	}
	d, err := c.Jobnet(ctx, pos[0])
	if err != nil {
		return err
	}
	if cmd.json() {
		return printJSON(env.Stdout, d)
	}
	w := env.Stdout
	fmt.Fprintf(w, "jobnet %s", safe(d.Name))
	if d.Description != "" {
		fmt.Fprintf(w, " — %s", safe(d.Description))
	}
	fmt.Fprintf(w, "\nconcurrency: %s   schedules: %s   triggers: %d   live runs: %d   next: %s\n",
		safe(string(d.Concurrency)), dash(strings.Join(d.Schedules, "; ")), d.Triggers, d.Live, timeOrDash(d.Next))
	if len(d.Params) > 0 {
		var ps []string
		for k, v := range d.Params {
			ps = append(ps, fmt.Sprintf("%s=%q (pattern %s)", k, v, d.ParamPatterns[k]))
		}
		sort.Strings(ps)
		fmt.Fprintf(w, "params: %s\n", safe(strings.Join(ps, ", ")))
	}
	fmt.Fprintln(w, "\nDAG (each level needs only earlier ones):")
	for i, lv := range d.Levels {
		fmt.Fprintf(w, "  %d: %s\n", i+1, safe(strings.Join(lv, "  ")))
	}
	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintln(tw, "JOB\tNEEDS\tRUN ON\tKIND\tCOMMAND")
	for _, j := range d.Jobs {
		cmd := strings.TrimSpace(j.Command + " " + strings.Join(j.Args, " "))
		if j.Jobnet != "" {
			cmd = "jobnet " + j.Jobnet
		}
		cmd = runewidthCond.Truncate(cmd, 60, "...")
		name := j.Name
		if j.Hold {
			name += " (hold)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", safe(name), dash(strings.Join(j.Needs, ",")), dash(j.RunOn), dash(j.Kind), dash(cmd))
	}
	return tw.Flush()
}

// kvFlag collects repeated --param k=v.
type kvFlag map[string]string

func (f kvFlag) String() string { return "" }

func (f kvFlag) Type() string { return "name=value" }

func (f kvFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want name=value", s)
	}
	f[k] = v
	return nil
}

func jobnetRun(ctx context.Context, env *Env, cmd *apiCmd, pos []string, params kvFlag) error {
	c, err := cmd.connect(pos, 1, jobnetUsage)
	if err != nil {
		return err
	}
	id, err := c.StartRun(ctx, pos[0], params)
	if err != nil {
		return err
	}
	if cmd.json() {
		return printJSON(env.Stdout, console.StartResponse{Run: id})
	}
	fmt.Fprintln(env.Stdout, safe(id))
	return nil
}
