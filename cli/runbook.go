package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

const runbookUsage = `usage:
  unyo runbook list [-o table|json]
  unyo runbook show ID [-o table|json]

The operator runbooks (運用マニュアル) the node knows: the built-ins and the
site's own (runbooks.dir). Incidents name them by id; the console shows
them at /runbooks/ID.`

// runbookCmd is "unyo runbook".
func runbookCmd(env *Env) *cobra.Command {
	list := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "the runbooks the node knows", ValidArgsFunction: noArgs}
	la := newAPICmd(env, list)
	list.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := la.connect(pos, 0, runbookUsage)
		if err != nil {
			return err
		}
		l, err := c.Runbooks(ctx)
		if err != nil {
			return err
		}
		if la.json() {
			return printJSON(env.Stdout, l)
		}
		tw := newTable(env.Stdout)
		fmt.Fprintln(tw, "ID\tSEVERITY\tTITLE\tSOURCE")
		for _, rb := range l {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", safe(rb.ID), safe(rb.Severity), safe(rb.Title), safe(rb.Source))
		}
		return tw.Flush()
	})
	show := &cobra.Command{Use: "show ID", Short: "print one runbook", ValidArgsFunction: noArgs}
	sa := newAPICmd(env, show)
	show.RunE = run(func(ctx context.Context, pos []string) error {
		c, err := sa.connect(pos, 1, runbookUsage)
		if err != nil {
			return err
		}
		rb, err := c.Runbook(ctx, pos[0])
		if err != nil {
			return err
		}
		if sa.json() {
			return printJSON(env.Stdout, rb)
		}
		fmt.Fprintf(env.Stdout, "%s — %s (severity %s, %s)\n\n", safe(rb.ID), safe(rb.Title), safe(rb.Severity), safe(rb.Source))
		for _, l := range strings.Split(rb.Markdown, "\n") {
			fmt.Fprintln(env.Stdout, safe(l))
		}
		return nil
	})
	return group("runbook", "the operator runbooks incidents link to", "", list, show)
}
