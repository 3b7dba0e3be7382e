package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/unyo-ops/unyo/console"
)

const maintenanceUsage = `usage:
  unyo maintenance add --name NAME (--target GLOB | --tag KEY=VALUE | --site SITE)
                       [--start TIME] [--end TIME | --duration 4h] [--comment TEXT] [--by NAME]
  unyo maintenance add --name NAME --site SITE --cron "0 1 * * SUN#1" --duration 12h [--tz Asia/Tokyo]
  unyo maintenance list [--all] [-o table|json]
  unyo maintenance end ID [--by NAME]

TIME is RFC 3339 (2026-12-01T01:00:00+09:00) or local "2006-01-02 15:04".
--cron is five fields, minute hour day-of-month month day-of-week, read in
--tz: "0 1 1 * *" is 01:00 on the 1st of each month. The day of week may
name one weekday of the month: SUN#1 (or 0#1) the first Sunday, #1 to #5;
5L (or FRIL) the last Friday; a list such as SAT#2,SAT#4. With #N or L the
day of month must be *.
During a window, faults in scope are recorded but not notified; one still
open when the window ends is notified then.`

func maintenanceCmd(env *Env) *cobra.Command {
	_, long, _ := strings.Cut(maintenanceUsage, "\n\n")
	return group("maintenance", "add, list, end maintenance windows", long,
		maintenanceAddCmd(env), maintenanceListCmd(env), maintenanceEndCmd(env))
}

// parseTime accepts RFC 3339 or a local "2006-01-02 15:04".
func parseTime(flag, s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return &t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return &t, nil
		}
	}
	return nil, usagef("--%s %q: want RFC 3339 or \"2006-01-02 15:04\"", flag, s)
}

func maintenanceAddCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "add", Short: "add a maintenance window: one-off (--end or --duration) or recurring (--cron)", ValidArgsFunction: noArgs,
		Example: `  unyo maintenance add --name "kernel patch" --target 'web*' --duration 4h
  unyo maintenance add --name "monthly" --site tokyo-1 --cron "0 1 * * SUN#1" --duration 12h --tz Asia/Tokyo`}
	fs := cmd.Flags()
	server := serverFlag(fs, env)
	name := fs.String("name", "", "what the window is for (required)")
	target := fs.String("target", "", "targets in scope: a name or glob (web*)")
	tag := fs.String("tag", "", "incidents with this label in scope: KEY=VALUE")
	site := fs.String("site", "", "incidents of this site (label site) in scope")
	start := fs.String("start", "", "start (default now)")
	end := fs.String("end", "", "end of a one-off window")
	dur := fs.String("duration", "", "length: of a one-off window (instead of --end), or of each recurrence")
	cron := fs.String("cron", "", "recurring: cron expression of the starts (minute hour day month weekday; weekday may be SUN#1 or FRIL)")
	tz := fs.String("tz", "", "time zone of --cron (default UTC)")
	comment := fs.String("comment", "", "comment")
	out := outputFlag(cmd)
	_ = cmd.RegisterFlagCompletionFunc("target", completeTargets(env, server))
	cmd.RunE = run(func(ctx context.Context, pos []string) error {
		if len(pos) > 0 {
			return usagef("unexpected argument %q\n%s", pos[0], maintenanceUsage)
		}
		if err := checkOutput(*out); err != nil {
			return err
		}
		return maintenanceAdd(ctx, env, *server, *name, *target, *tag, *site, *start, *end, *dur, *cron, *tz, *comment, *out)
	})
	return cmd
}

func maintenanceAdd(ctx context.Context, env *Env, server endpoint, name, target, tag, site, start, end, dur, cron, tz, comment, out string) error {
	req := console.MaintenanceRequest{Name: name, Duration: dur, Cron: cron, TimeZone: tz, Comment: comment}
	n := 0
	for _, s := range []struct{ scope, v string }{{"target", target}, {"tag", tag}, {"site", site}} {
		if s.v != "" {
			req.Scope, req.Match = s.scope, s.v
			n++
		}
	}
	if n != 1 {
		return usagef("give exactly one of --target, --tag, --site\n%s", maintenanceUsage)
	}
	if name == "" {
		return usagef("--name: required")
	}
	var err error
	if req.Start, err = parseTime("start", start); err != nil {
		return err
	}
	if req.End, err = parseTime("end", end); err != nil {
		return err
	}
	c, err := newClient(env, server)
	if err != nil {
		return err
	}
	m, err := c.AddMaintenance(ctx, req)
	if err != nil {
		return err
	}
	if out == "json" {
		return printJSON(env.Stdout, m)
	}
	fmt.Fprintf(env.Stdout, "maintenance window %d added: %s\n", m.ID, describeWindow(m))
	return nil
}

func describeWindow(m console.MaintenanceView) string {
	scope := m.Scope + " " + m.Match
	when := ""
	if m.Cron != "" {
		tz := m.TimeZone
		if tz == "" {
			tz = "UTC"
		}
		when = fmt.Sprintf("every %q (%s) for %s", m.Cron, tz, m.Duration)
	} else if m.End != nil {
		when = fmtTime(m.Start) + " → " + fmtTime(*m.End)
	}
	s := fmt.Sprintf("%s: %s, %s", safe(m.Name), safe(scope), safe(when))
	switch {
	case m.EndedAt != nil:
		s += ", ended " + fmtTime(*m.EndedAt) + " by " + safe(m.EndedBy)
	case m.Active:
		s += ", in force until " + fmtUntil(m.ActiveUntil, time.Now())
	}
	return s
}

func maintenanceListCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "the maintenance windows not over (--all: every one)", ValidArgsFunction: noArgs}
	a := newAPICmd(env, cmd)
	all := cmd.Flags().Bool("all", false, "include windows that are over")
	cmd.RunE = run(func(ctx context.Context, pos []string) error { return maintenanceList(ctx, env, a, pos, *all) })
	return cmd
}

func maintenanceList(ctx context.Context, env *Env, a *apiCmd, pos []string, all bool) error {
	out := a.out
	c, err := a.connect(pos, 0, maintenanceUsage)
	if err != nil {
		return err
	}
	ms, err := c.Maintenances(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	var shown []console.MaintenanceView
	for _, m := range ms {
		over := m.EndedAt != nil || (m.Cron == "" && m.End != nil && !m.End.After(now))
		if all || !over {
			shown = append(shown, m)
		}
	}
	if *out == "json" {
		if shown == nil {
			shown = []console.MaintenanceView{}
		}
		return printJSON(env.Stdout, shown)
	}
	tw := newTable(env.Stdout)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPE\tWHEN\tSTATUS\tBY")
	for _, m := range shown {
		when := ""
		if m.Cron != "" {
			when = fmt.Sprintf("cron %q %s for %s", m.Cron, dash(m.TimeZone), m.Duration)
		} else if m.End != nil {
			when = fmtTime(m.Start) + " → " + fmtTime(*m.End)
		}
		status := "scheduled"
		switch {
		case m.EndedAt != nil:
			status = "ended"
		case m.Active:
			status = "in force until " + fmtUntil(m.ActiveUntil, now)
		case m.Cron == "" && m.End != nil && !m.End.After(now):
			status = "over"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s %s\t%s\t%s\t%s\n", m.ID, safe(m.Name), safe(string(m.Scope)), safe(m.Match), safe(when), status, safe(m.CreatedBy))
	}
	return tw.Flush()
}

func maintenanceEndCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "end ID", Short: "end a maintenance window now", ValidArgsFunction: noArgs}
	server := serverFlag(cmd.Flags(), env)
	cmd.RunE = run(func(ctx context.Context, pos []string) error { return maintenanceEnd(ctx, env, pos, server) })
	return cmd
}

func maintenanceEnd(ctx context.Context, env *Env, pos []string, server *endpoint) error {
	if len(pos) != 1 {
		return usagef("usage: unyo maintenance end ID")
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id < 1 {
		return usagef("%q is not a maintenance window id", pos[0])
	}
	c, err := newClient(env, *server)
	if err != nil {
		return err
	}
	m, err := c.EndMaintenance(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "maintenance window %d: %s\n", m.ID, describeWindow(m))
	return nil
}
