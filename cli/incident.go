package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/client"
)

const incidentUsage = `usage:
  unyo incident list [--state S[,S]] [--target T] [--limit N] [-o table|json]
  unyo incident show ID [-o table|json]
  unyo incident ack|resolve|close|comment ID [--comment TEXT]
  unyo incident report ID [--cause TEXT --action TEXT --prevention TEXT]`

func incidentCmd(env *Env) *cobra.Command {
	subs := []*cobra.Command{incidentListCmd(env), incidentShowCmd(env)}
	for _, v := range []struct{ verb, short string }{
		{"ack", "acknowledge an incident: you own it, escalation stops"},
		{"resolve", "resolve an incident: the fault is over"},
		{"close", "close an incident: nothing more to do"},
		{"comment", "add a comment to an incident's timeline"},
	} {
		subs = append(subs, incidentActCmd(env, v.verb, v.short))
	}
	subs = append(subs, incidentReportCmd(env)) // cli/report.go
	return group("incident", "list, show, ack, resolve, close, comment on incidents",
		"Incidents are the faults the node opened from events (checks, traps, syslog, unyo event send).\n"+
			"You act as the identity of your token (unyo whoami).", subs...)
}

func incidentListCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "list incidents, newest first", ValidArgsFunction: noArgs}
	fs := cmd.Flags()
	server := serverFlag(fs, env)
	state := fs.String("state", "", "only incidents in these states (open, acknowledged, resolved, closed; comma-separated)")
	target := fs.String("target", "", "only incidents of this target")
	limit := fs.Int("limit", 100, "at most this many (1 to 10000)")
	out := outputFlag(cmd)
	_ = cmd.RegisterFlagCompletionFunc("state", cobra.FixedCompletions([]string{"open", "acknowledged", "resolved", "closed"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("target", completeTargets(env, server))
	cmd.RunE = run(func(ctx context.Context, pos []string) error {
		return incidentList(ctx, env, pos, *server, *state, *target, *limit, *out)
	})
	return cmd
}

func incidentList(ctx context.Context, env *Env, pos []string, server endpoint, state, target string, limit int, out string) error {
	if len(pos) > 0 {
		return usagef("unexpected argument %q\n%s", pos[0], incidentUsage)
	}
	if err := checkOutput(out); err != nil {
		return err
	}
	if limit < 1 || limit > 10000 {
		return usagef("--limit %d: want 1 to 10000", limit)
	}
	o := client.ListOptions{Target: target, Limit: limit}
	for _, s := range strings.Split(state, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !incident.State(s).Valid() {
			return usagef("--state %q: want open, acknowledged, resolved or closed", s)
		}
		o.States = append(o.States, incident.State(s))
	}
	c, err := newClient(env, server)
	if err != nil {
		return err
	}
	incs, err := c.Incidents(ctx, o)
	if err != nil {
		return err
	}
	if out == "json" {
		return printJSON(env.Stdout, incs)
	}
	tw := newTable(env.Stdout)
	fmt.Fprintln(tw, "ID\tSTATE\tSEVERITY\tTARGET\tCHECK\tOCCURRENCES\tLAST SEEN\tOWNER\tMESSAGE")
	for _, i := range incs {
		state := string(i.State)
		if i.Recovered {
			state += " (recovered)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", i.ID, state, safe(string(i.Severity)), safe(i.Target), safe(i.Check),
			i.Count, fmtTime(i.LastSeen), dash(i.Owner), oneLine(i.Message, 60))
	}
	return tw.Flush()
}

func incidentShowCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "show ID", Short: "an incident and its timeline"}
	fs := cmd.Flags()
	server := serverFlag(fs, env)
	out := outputFlag(cmd)
	cmd.ValidArgsFunction = completeIncidents(env, server, false)
	cmd.RunE = run(func(ctx context.Context, pos []string) error { return incidentShow(ctx, env, pos, server, out) })
	return cmd
}

func incidentShow(ctx context.Context, env *Env, pos []string, server *endpoint, out *string) error {
	id, c, err := incidentClient(env, pos, server, *out, "usage: unyo incident show ID [-o table|json]")
	if err != nil {
		return err
	}
	d, err := c.Incident(ctx, id)
	if err != nil {
		return err
	}
	if *out == "json" {
		return printJSON(env.Stdout, d)
	}
	i := d.Incident
	tw := newTable(env.Stdout)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, safe(v)) }
	row("Incident", strconv.FormatInt(i.ID, 10))
	row("State", string(i.State))
	row("Severity", string(i.Severity))
	row("Target", i.Target)
	row("Check", i.Check)
	row("Source", i.Source)
	row("Dedup key", i.DedupKey)
	row("Message", i.Message)
	row("Occurrences", strconv.FormatInt(i.Count, 10))
	row("First seen", fmtTime(i.FirstSeen))
	row("Last seen", fmtTime(i.LastSeen))
	row("Recovered", fmt.Sprint(i.Recovered))
	row("Owner", dash(i.Owner))
	if i.Runbook != "" {
		row("Runbook", i.Runbook)
	}
	tw.Flush()
	fmt.Fprintln(env.Stdout, "\nTimeline:")
	tw = newTable(env.Stdout)
	for _, e := range d.Timeline {
		comment := oneLine(e.Comment, 80)
		if e.Received != nil {
			// The source's time and this platform's differ: show both.
			rcv := "received " + fmtTime(*e.Received)
			if comment != "" {
				rcv += "; "
			}
			comment = rcv + comment
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", fmtTime(e.At), e.Kind, safe(e.By), e.State, comment)
	}
	return tw.Flush()
}

func incidentActCmd(env *Env, verb, short string) *cobra.Command {
	cmd := &cobra.Command{Use: verb + " ID", Short: short}
	fs := cmd.Flags()
	server := serverFlag(fs, env)
	comment := fs.String("comment", "", "comment for the timeline")
	out := outputFlag(cmd)
	cmd.ValidArgsFunction = completeIncidents(env, server, true)
	cmd.RunE = run(func(ctx context.Context, pos []string) error {
		return incidentAct(ctx, env, verb, pos, server, comment, out)
	})
	return cmd
}

func incidentAct(ctx context.Context, env *Env, verb string, pos []string, server *endpoint, comment, out *string) error {
	id, c, err := incidentClient(env, pos, server, *out,
		"usage: unyo incident "+verb+" ID [--comment TEXT]  (you act as the identity of your token: unyo whoami)")
	if err != nil {
		return err
	}
	r, err := c.Act(ctx, id, verb, *comment)
	if err != nil {
		return err
	}
	if *out == "json" {
		return printJSON(env.Stdout, r)
	}
	fmt.Fprintf(env.Stdout, "incident %d: %s by %s, now %s\n", r.Incident.ID, r.Entry.Kind, safe(r.Entry.By), r.Incident.State)
	return nil
}

// incidentClient starts a command on one incident: its one argument, the
// output format and the client (usage is the usage error's text).
func incidentClient(env *Env, pos []string, server *endpoint, out, usage string) (int64, *client.Client, error) {
	if len(pos) != 1 {
		return 0, nil, usagef("%s", usage)
	}
	if err := checkOutput(out); err != nil {
		return 0, nil, err
	}
	id, err := parseID(pos[0])
	if err != nil {
		return 0, nil, err
	}
	c, err := newClient(env, *server)
	if err != nil {
		return 0, nil, err
	}
	return id, c, nil
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, usagef("%q is not an incident id", s)
	}
	return id, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// dash returns s made safe for a terminal, or "-" when it is empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return safe(s)
}
