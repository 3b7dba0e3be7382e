package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/unyo-ops/unyo/console"
)

// incidentReport shows the fault report (障害報告書) of an incident, or
// writes it when any of --cause, --action, --prevention is given.
func incidentReport(ctx context.Context, env *Env, args []string) error {
	fs := flags(env, "incident report")
	server := serverFlag(fs, env)
	cause := fs.String("cause", "", "cause of the fault")
	action := fs.String("action", "", "action taken")
	prevention := fs.String("prevention", "", "measures against recurrence")
	role := fs.String("role", "", "role of the reporter (operator, operations-se, ...)")
	by := fs.String("by", env.Getenv("USER"), "who reports (default $USER)")
	out := outputFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: unyo incident report ID [--cause TEXT --action TEXT --prevention TEXT --role ROLE --by NAME] [-o table|json]")
	}
	if err := checkOutput(*out); err != nil {
		return err
	}
	id, err := parseID(pos[0])
	if err != nil {
		return err
	}
	c, err := newClient(*server)
	if err != nil {
		return err
	}
	if *cause != "" || *action != "" || *prevention != "" {
		if strings.TrimSpace(*by) == "" {
			return usagef("--by: required (who reports)")
		}
		if _, err := c.SetReport(ctx, id, console.ReportRequest{Cause: *cause, Action: *action, Prevention: *prevention,
			By: *by, Role: *role}); err != nil {
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
		return t.Local().Format("2006-01-02 15:04:05")
	}
	since := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Sub(i.OpenedAt).Round(time.Second).String()
	}
	w := env.Stdout
	fmt.Fprintf(w, "Fault report (障害報告書) — incident %d\n\n", i.ID)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
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
		row("Reported by", reporter+", "+r.At.Local().Format("2006-01-02 15:04"))
	} else {
		row("Report", "not written yet: unyo incident report "+strconv.FormatInt(i.ID, 10)+" --cause ... --action ... --prevention ...")
	}
	tw.Flush()
	fmt.Fprintln(w, "\nTimeline:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, e := range v.Timeline {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", e.At.Local().Format("2006-01-02 15:04:05"), e.Kind, e.By, oneLine(e.Comment, 100))
	}
	return tw.Flush()
}
