package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/client"
)

const incidentUsage = `usage:
  unyo incident list [--state S[,S]] [--target T] [--limit N] [-o table|json]
  unyo incident show ID [-o table|json]
  unyo incident ack|resolve|close|comment ID --by NAME [--comment TEXT]
  unyo incident report ID [--cause TEXT --action TEXT --prevention TEXT --role ROLE --by NAME]`

func runIncident(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("%s", incidentUsage)
	}
	switch args[0] {
	case "list", "ls":
		return incidentList(ctx, env, args[1:])
	case "show":
		return incidentShow(ctx, env, args[1:])
	case "ack", "resolve", "close", "comment":
		return incidentAct(ctx, env, args[0], args[1:])
	case "report":
		return incidentReport(ctx, env, args[1:]) // cli/report.go
	}
	return usagef("unknown incident command %q\n%s", args[0], incidentUsage)
}

func outputFlag(fs interface {
	String(string, string, string) *string
}) *string {
	return fs.String("o", "table", "output format: table or json")
}

func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return usagef("-o %q: want table or json", o)
	}
	return nil
}

func incidentList(ctx context.Context, env *Env, args []string) error {
	fs := flags(env, "incident list")
	server := serverFlag(fs, env)
	state := fs.String("state", "", "only incidents in these states (open, acknowledged, resolved, closed; comma-separated)")
	target := fs.String("target", "", "only incidents of this target")
	limit := fs.Int("limit", 100, "at most this many")
	out := outputFlag(fs)
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("unexpected argument %q\n%s", pos[0], incidentUsage)
	}
	if err := checkOutput(*out); err != nil {
		return err
	}
	if *limit < 1 || *limit > 10000 {
		return usagef("--limit %d: want 1 to 10000", *limit)
	}
	o := client.ListOptions{Target: *target, Limit: *limit}
	for _, s := range strings.Split(*state, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if !incident.State(s).Valid() {
			return usagef("--state %q: want open, acknowledged, resolved or closed", s)
		}
		o.States = append(o.States, incident.State(s))
	}
	c, err := newClient(env, *server)
	if err != nil {
		return err
	}
	incs, err := c.Incidents(ctx, o)
	if err != nil {
		return err
	}
	if *out == "json" {
		return printJSON(env.Stdout, incs)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATE\tSEVERITY\tTARGET\tCHECK\tCOUNT\tLAST SEEN\tOWNER\tMESSAGE")
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

func incidentShow(ctx context.Context, env *Env, args []string) error {
	fs := flags(env, "incident show")
	server := serverFlag(fs, env)
	out := outputFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: unyo incident show ID [-o table|json]")
	}
	if err := checkOutput(*out); err != nil {
		return err
	}
	id, err := parseID(pos[0])
	if err != nil {
		return err
	}
	c, err := newClient(env, *server)
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
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
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
	tw = tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
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

func incidentAct(ctx context.Context, env *Env, verb string, args []string) error {
	fs := flags(env, "incident "+verb)
	server := serverFlag(fs, env)
	comment := fs.String("comment", "", "comment for the timeline")
	out := outputFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: unyo incident %s ID [--comment TEXT]  (you act as the identity of your token: unyo whoami)", verb)
	}
	if err := checkOutput(*out); err != nil {
		return err
	}
	id, err := parseID(pos[0])
	if err != nil {
		return err
	}
	c, err := newClient(env, *server)
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
