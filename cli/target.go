package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/monitor/target"
)

const targetUsage = `usage:
  unyo target list [-o table|json]
  unyo target show NAME [-o table|json]`

func targetCmd(env *Env) *cobra.Command {
	list := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "the monitored targets and their state", ValidArgsFunction: noArgs}
	la := newAPICmd(env, list)
	list.RunE = run(func(ctx context.Context, pos []string) error { return targetList(ctx, env, la, pos) })
	show := &cobra.Command{Use: "show NAME", Short: "a target's checks and their recent results"}
	sa := newAPICmd(env, show)
	show.ValidArgsFunction = completeWith(env, sa.server, targetNames)
	show.RunE = run(func(ctx context.Context, pos []string) error { return targetShow(ctx, env, sa, pos) })
	return group("target", "list monitored targets, show one's recent results", "", list, show)
}

func targetList(ctx context.Context, env *Env, cmd *apiCmd, args []string) error {
	c, err := cmd.connect(args, 0, targetUsage)
	if err != nil {
		return err
	}
	ts, err := c.Targets(ctx)
	if err != nil {
		return err
	}
	if cmd.json() {
		if ts == nil {
			ts = []console.TargetSummary{}
		}
		return printJSON(env.Stdout, ts)
	}
	tw := newTable(env.Stdout)
	fmt.Fprintln(tw, "NAME\tADDRESS\tSTATE\tCHECKS\tLAST CHECK\tLAST RTT")
	now := time.Now()
	for _, t := range ts {
		var checks []string
		for _, ch := range t.Checks {
			checks = append(checks, ch.Check+"="+string(ch.Status))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", safe(t.Name), safe(t.Address), stateText(t.Status), safe(strings.Join(checks, ",")), ago(now, t.LastCheck), rtt(t.LastRTT))
	}
	return tw.Flush()
}

func targetShow(ctx context.Context, env *Env, cmd *apiCmd, pos []string) error {
	c, err := cmd.connect(pos, 1, targetUsage)
	if err != nil {
		return err
	}
	d, err := c.Target(ctx, pos[0])
	if err != nil {
		return err
	}
	if cmd.json() {
		return printJSON(env.Stdout, d)
	}
	now := time.Now()
	w := env.Stdout
	fmt.Fprintf(w, "target   %s (%s)\nstate    %s\n", safe(d.Name), safe(d.Address), stateText(d.Status))
	if d.Parent != "" {
		fmt.Fprintf(w, "parent   %s\n", safe(d.Parent))
	}
	if d.Site != "" {
		fmt.Fprintf(w, "site     %s\n", safe(d.Site))
	}
	fmt.Fprintf(w, "checked  %s\nrtt      %s\n", ago(now, d.LastCheck), rtt(d.LastRTT))
	latestValues(ctx, w, c, d.Name, now)
	for _, s := range d.Results {
		fmt.Fprintf(w, "\n%s: %s since %s (%d/%d failures)\n", safe(s.Check), stateText(s.Status), ago(now, timePtr(s.Since)), s.ConsecutiveFailures, s.DownAfter)
		if s.LastFailure != nil {
			fmt.Fprintf(w, "  last failure %s: %s\n", fmtTime(s.LastFailure.Time), oneLine(s.LastFailure.Message, 0))
		}
		tw := newTable(w)
		fmt.Fprintln(tw, "  TIME\tRESULT\tTOOK\tMESSAGE")
		// Every result the node keeps (monitor history.recent), oldest first.
		for _, r := range s.Recent {
			res := "ok"
			if !r.OK {
				res = "FAILED"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", fmtTime(r.Time), res, r.Duration.Round(time.Microsecond), oneLine(r.Message, 0))
		}
		tw.Flush()
	}
	if len(d.Thresholds) > 0 {
		fmt.Fprintln(w, "\nthresholds not at ok:")
		for _, t := range d.Thresholds {
			fmt.Fprintf(w, "  %s %s %s\n", safe(t.Rule), safe(fmt.Sprint(t.Labels)), t.Level)
		}
	}
	return nil
}

func stateText(s target.Status) string {
	if s == target.Down {
		return "DOWN"
	}
	return string(s)
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func ago(now time.Time, t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return now.Sub(*t).Round(time.Second).String() + " ago"
}

func rtt(v *float64) string {
	if v == nil {
		return "-"
	}
	return time.Duration(*v * float64(time.Second)).Round(time.Microsecond).String()
}

// latestValues prints each metric's newest sample of the last hour, with
// its unit (nothing when the node keeps no samples).
func latestValues(ctx context.Context, w io.Writer, c *client.Client, name string, now time.Time) {
	r, err := c.Samples(ctx, name, client.SamplesQuery{From: now.Add(-time.Hour), To: now.Add(time.Minute), Step: "raw"})
	if err != nil || len(r.Series) == 0 {
		return
	}
	fmt.Fprintln(w, "\nlatest values:")
	tw := newTable(w)
	fmt.Fprintln(tw, "  METRIC\tLABELS\tVALUE\tAT")
	for _, s := range r.Series {
		if len(s.Points) == 0 {
			continue
		}
		p := s.Points[len(s.Points)-1]
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", safe(s.Metric), safe(labelText(s.Labels)), FormatValue(p.Value, s.Unit), ago(now, &p.Time))
	}
	tw.Flush()
}
