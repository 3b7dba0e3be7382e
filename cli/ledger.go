package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

const ledgerUsage = `usage:
  unyo ledger export [--from DATE] [--to DATE] [--out FILE]

Writes the fault ledger as CSV, one row per incident opened in [from, to):
times opened, acknowledged, resolved; MTTA and MTTR in seconds; the
escalation level reached; the fault report. DATE is YYYY-MM-DD or RFC 3339;
the default is the last month.`

func ledgerCmd(env *Env) *cobra.Command {
	_, long, _ := strings.Cut(ledgerUsage, "\n\n")
	cmd := &cobra.Command{Use: "export", Short: "write the fault ledger as CSV", Long: long, ValidArgsFunction: noArgs}
	fs := cmd.Flags()
	server := serverFlag(fs, env)
	from := fs.String("from", "", "first day (YYYY-MM-DD or RFC 3339)")
	to := fs.String("to", "", "end, exclusive (YYYY-MM-DD or RFC 3339)")
	out := fs.String("out", "", "write to this file instead of stdout")
	cmd.RunE = run(func(ctx context.Context, pos []string) error {
		if len(pos) > 0 {
			return usagef("unexpected argument %q\n%s", pos[0], ledgerUsage)
		}
		return ledgerExport(ctx, env, *server, *from, *to, *out)
	})
	return group("ledger", "export the fault ledger as CSV", "", cmd)
}

func ledgerExport(ctx context.Context, env *Env, server endpoint, from, to, out string) error {
	c, err := newClient(env, server)
	if err != nil {
		return err
	}
	if out == "" {
		return c.Export(ctx, from, to, env.Stdout)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if err := c.Export(ctx, from, to, f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "wrote %s\n", out)
	return nil
}
