package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

func runOnCall(ctx context.Context, env *Env, args []string) error {
	fs := flags(env, "oncall")
	server := serverFlag(fs, env)
	at := fs.String("at", "", "at this time instead of now (RFC 3339 or \"2006-01-02 15:04\")")
	out := outputFlag(fs)
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("usage: unyo oncall [--at TIME] [-o table|json]")
	}
	if err := checkOutput(*out); err != nil {
		return err
	}
	t, err := parseTime("at", *at)
	if err != nil {
		return err
	}
	var when time.Time
	if t != nil {
		when = *t
	}
	c, err := newClient(env, *server)
	if err != nil {
		return err
	}
	roles, err := c.OnCall(ctx, when)
	if err != nil {
		return err
	}
	if *out == "json" {
		return printJSON(env.Stdout, roles)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tON DUTY\tREACHES")
	for _, r := range roles {
		duty := "yes"
		if !r.OnDuty {
			duty = "no"
			if r.NextOnDuty != nil {
				duty += " (from " + r.NextOnDuty.Local().Format("Mon "+timeLayout) + ")"
			}
		}
		var who []string
		for _, c := range r.Contacts {
			s := c.Name
			if len(c.Mail) > 0 {
				s += " <" + strings.Join(c.Mail, ", ") + ">"
			}
			if c.Webhook != "" {
				s += " webhook"
			}
			who = append(who, s)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", safe(r.Role), duty, safe(strings.Join(who, "; ")))
	}
	return tw.Flush()
}
