package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func oncallCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "oncall", Short: "who each role reaches now", ValidArgsFunction: noArgs}
	fs := cmd.Flags()
	server := serverFlag(fs, env)
	at := fs.String("at", "", "at this time instead of now (RFC 3339 or \"2006-01-02 15:04\")")
	out := outputFlag(cmd)
	cmd.RunE = run(func(ctx context.Context, pos []string) error { return runOnCall(ctx, env, pos, server, at, out) })
	return cmd
}

func runOnCall(ctx context.Context, env *Env, pos []string, server *endpoint, at, out *string) error {
	if len(pos) > 0 {
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
	tw := newTable(env.Stdout)
	fmt.Fprintln(tw, "ROLE\tON DUTY\tREACHES")
	for _, r := range roles {
		duty := "yes"
		if !r.OnDuty {
			duty = "no"
			if r.NextOnDuty != nil {
				duty += " (from " + r.NextOnDuty.In(local).Format("Mon "+timeLayout) + ")"
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
