package cli

import (
	"context"
	"fmt"
	"os"
)

const ledgerUsage = `usage:
  unyo ledger export [--from DATE] [--to DATE] [--out FILE]

Writes the fault ledger as CSV, one row per incident opened in [from, to):
times opened, acknowledged, resolved; MTTA and MTTR in seconds; the
escalation level reached; the fault report. DATE is YYYY-MM-DD or RFC 3339;
the default is the last month.`

func runLedger(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 || args[0] != "export" {
		return usagef("%s", ledgerUsage)
	}
	fs := flags(env, "ledger export")
	server := serverFlag(fs, env)
	from := fs.String("from", "", "first day (YYYY-MM-DD or RFC 3339)")
	to := fs.String("to", "", "end, exclusive (YYYY-MM-DD or RFC 3339)")
	out := fs.String("out", "", "write to this file instead of stdout")
	if pos, err := parse(fs, args[1:]); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("unexpected argument %q\n%s", pos[0], ledgerUsage)
	}
	c, err := newClient(env, *server)
	if err != nil {
		return err
	}
	if *out == "" {
		return c.Export(ctx, *from, *to, env.Stdout)
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := c.Export(ctx, *from, *to, f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(env.Stderr, "wrote %s\n", *out)
	return nil
}
