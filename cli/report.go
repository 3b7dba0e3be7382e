package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/unyo-ops/unyo/alerting/availability"
	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/console"
)

func incidentReportCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "report ID", Short: "show an incident's fault report (障害報告書), or write it with --cause, --action, --prevention"}
	fs := cmd.Flags()
	server := serverFlag(fs, env)
	cause := fs.String("cause", "", "cause of the fault")
	action := fs.String("action", "", "action taken")
	prevention := fs.String("prevention", "", "measures against recurrence")
	out := outputFlag(cmd)
	cmd.ValidArgsFunction = completeIncidents(env, server, false)
	cmd.RunE = run(func(ctx context.Context, pos []string) error {
		return incidentReport(ctx, env, pos, server, cause, action, prevention, out)
	})
	return cmd
}

// incidentReport shows the fault report (障害報告書) of an incident, or
// writes it when any of --cause, --action, --prevention is given.
func incidentReport(ctx context.Context, env *Env, pos []string, server *endpoint, cause, action, prevention, out *string) error {
	id, c, err := incidentClient(env, pos, server, *out,
		"usage: unyo incident report ID [--cause TEXT --action TEXT --prevention TEXT] [-o table|json]")
	if err != nil {
		return err
	}
	if *cause != "" || *action != "" || *prevention != "" {
		if _, err := c.SetReport(ctx, id, console.ReportRequest{Cause: *cause, Action: *action, Prevention: *prevention}); err != nil {
			return err
		}
	}
	v, err := c.Report(ctx, id)
	if err != nil {
		return err
	}
	if *out == "json" {
		return printJSON(env.Stdout, v)
	}
	i := v.Incident
	ts := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return fmtTime(*t)
	}
	since := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Sub(i.OpenedAt).Round(time.Second).String()
	}
	w := env.Stdout
	fmt.Fprintf(w, "Fault report (障害報告書) — incident %d\n\n", i.ID)
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, safe(v)) }
	row("Server", i.Target)
	row("Fault", i.Check+" ("+string(i.Severity)+")")
	row("Content", i.Message)
	row("Occurrences", strconv.FormatInt(i.Count, 10))
	opened := i.OpenedAt
	row("Opened", ts(&opened))
	row("Acknowledged", ts(i.AckedAt)+"  by "+dash(i.AckedBy)+"  (MTTA "+since(i.AckedAt)+")")
	row("Resolved", ts(i.ResolvedAt)+"  by "+dash(i.ResolvedBy)+"  (MTTR "+since(i.ResolvedAt)+")")
	if v.Escalation != nil {
		row("Escalation", fmt.Sprintf("policy %s, level %d reached, %s", v.Escalation.Policy, v.Escalation.Level, v.Escalation.State))
	}
	if i.Runbook != "" {
		row("Runbook", i.Runbook)
	}
	if r := v.Report; r != nil {
		row("Cause", r.Cause)
		row("Action taken", dash(r.Action))
		row("Prevention", dash(r.Prevention))
		reporter := r.ReportedBy
		if r.Role != "" {
			reporter += " (" + r.Role + ")"
		}
		row("Reported by", reporter+", "+fmtTime(r.At))
	} else {
		row("Report", "not written yet: unyo incident report "+strconv.FormatInt(i.ID, 10)+" --cause ... --action ... --prevention ...")
	}
	tw.Flush()
	fmt.Fprintln(w, "\nTimeline:")
	tw = newTable(w)
	for _, e := range v.Timeline {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", fmtTime(e.At), e.Kind, safe(e.By), oneLine(e.Comment, 100))
	}
	return tw.Flush()
}

const reportUsage = `usage:
  unyo report availability [--month YYYY-MM | --from TIME --to TIME] [--budget 2h] [-o table|json]
  unyo report monthly [--month YYYY-MM] [--day YYYY-MM-DD] [--out DIR] [-o table|json]
  unyo report list [-o table|json]

availability: per target, the time its outage incidents (host down: ping;
service down: tcp, http, postgres checks) were down in the period; of it,
planned (inside maintenance windows that cover the target) and unplanned;
availability outside maintenance; and how much of the unplanned-downtime
budget (--budget per month, default 2h, prorated) is used. --month is read
in the node's time zone (shown at the top); the default is the current
month. TIME is RFC 3339, local "2006-01-02 15:04", or a date
"2006-01-02", which (like --month) is midnight in the node's time zone.`

func reportCmd(env *Env) *cobra.Command {
	_, long, _ := strings.Cut(reportUsage, "\n\n")
	av := &cobra.Command{Use: "availability", Short: "availability of each target against the downtime budget", Long: long, ValidArgsFunction: noArgs}
	a := newAPICmd(env, av)
	month := av.Flags().String("month", "", "calendar month YYYY-MM (default: the current month)")
	from := av.Flags().String("from", "", "start of the period, instead of --month")
	to := av.Flags().String("to", "", "end of the period (exclusive), with --from")
	budget := av.Flags().String("budget", "", "unplanned downtime allowed per month (default the node's, 2h)")
	av.RunE = run(func(ctx context.Context, pos []string) error {
		return reportAvailability(ctx, env, a, pos, month, from, to, budget)
	})
	g := group("report", "availability against the budget; monthly performance reports", "", av, monthlyCmd(env), reportListCmd(env))
	g.RunE = func(c *cobra.Command, args []string) error {
		cmd, ok := groupArgs(c, args)
		switch {
		case !ok:
			return nil // --help
		case cmd == "":
			return usagef("%s", reportUsage)
		}
		return usagef("unknown report %q\n%s", cmd, reportUsage)
	}
	return g
}

func reportAvailability(ctx context.Context, env *Env, cmd *apiCmd, pos []string, month, from, to, budget *string) error {
	c, err := cmd.connect(pos, 0, reportUsage)
	if err != nil {
		return err
	}
	q := client.AvailabilityQuery{Month: *month}
	switch {
	case *month != "" && (*from != "" || *to != ""):
		return usagef("give --month, or --from and --to, not both")
	case (*from == "") != (*to == ""):
		return usagef("--from and --to go together")
	case *month != "":
		if _, err := time.Parse("2006-01", *month); err != nil {
			return usagef("--month %q: want YYYY-MM", *month)
		}
	}
	for _, f := range []struct {
		name, v string
		dst     *time.Time
		date    *string
	}{{"from", *from, &q.From, &q.FromDate}, {"to", *to, &q.To, &q.ToDate}} {
		if _, err := time.Parse(time.DateOnly, f.v); err == nil {
			*f.date = f.v // midnight in the node's time zone, like --month
			continue
		}
		t, err := parseTime(f.name, f.v)
		if err != nil {
			return err
		}
		if t != nil {
			*f.dst = *t
		}
	}
	if *budget != "" {
		d, err := time.ParseDuration(*budget)
		if err != nil || d <= 0 {
			return usagef("--budget %q: want a positive duration such as 2h", *budget)
		}
		q.Budget = d
	}
	r, err := c.Availability(ctx, q)
	if err != nil {
		return err
	}
	if cmd.json() {
		return printJSON(env.Stdout, r)
	}
	return printAvailability(env.Stdout, r)
}

func printAvailability(w io.Writer, r availability.Report) error {
	loc, err := time.LoadLocation(r.TimeZone)
	if err != nil {
		loc = time.Local
	}
	ts := func(t time.Time) string { return t.In(loc).Format("2006-01-02 15:04") }
	dur := func(d time.Duration) string { return d.Round(time.Second).String() }
	fmt.Fprintf(w, "Availability %s → %s (%s)", ts(r.From), ts(r.To), r.TimeZone)
	if r.Until.Before(r.To) {
		fmt.Fprintf(w, ", so far (until %s)", ts(r.Until))
	}
	fmt.Fprintf(w, "\nBudget: %s of unplanned downtime per target for the period\n\n", dur(r.Budget))
	tw := newTable(w)
	fmt.Fprintln(tw, "TARGET\tDOWN\tPLANNED\tUNPLANNED\tMAINTENANCE\tAVAILABILITY\tBUDGET USED\tINCIDENTS")
	for _, t := range r.Targets {
		used := fmt.Sprintf("%.1f%%", t.BudgetUsed)
		if t.OverBudget {
			used += " OVER"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.3f%%\t%s\t%d\n", safe(t.Target), dur(t.Down), dur(t.Planned), dur(t.Unplanned),
			dur(t.Maintenance), t.Availability, used, len(t.Incidents))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, t := range r.Targets {
		if len(t.LateWindows) > 0 {
			fmt.Fprintf(w, "FLAGGED %s: maintenance window(s) %v were added after an outage began and are not applied\n", safe(t.Target), t.LateWindows)
		}
	}
	s := r.Summary
	if s.Targets == 0 {
		_, err := fmt.Fprintln(w, "\nNo target was down.")
		return err
	}
	_, err = fmt.Fprintf(w, "\n%d targets, %d over budget; worst %s: %.3f%%, %s unplanned; unplanned in all %s "+
		"(sum over targets), with any target down %s\n", s.Targets, s.OverBudget, s.Worst, s.WorstAvailability,
		dur(s.WorstUnplanned), dur(s.Unplanned), dur(s.AnyUnplanned))
	return err
}
