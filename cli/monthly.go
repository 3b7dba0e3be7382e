package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/sys/unix"

	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/report"
)

const monthlyUsage = `usage:
  unyo report monthly [--month YYYY-MM] [--day YYYY-MM-DD] [--out DIR] [-o table|json]
  unyo report list [-o table|json]

monthly: the node makes the monthly performance report of --month (default:
the month before this one, in the node's time zone) with --day as the picked
day shown at 1-minute resolution (default: the day of the month's highest
CPU peak), stores it, and the CLI writes its files into --out (default
./report-YYYY-MM): report.html, report.pdf (when the node has Chromium),
summary.json and one CSV per table. A progress bar on a terminal, log
lines otherwise.
list: the reports the node keeps.`

// monthlyCmd is "unyo report monthly".
func monthlyCmd(env *Env) *cobra.Command {
	_, long, _ := strings.Cut(monthlyUsage, "\n\n")
	c := &cobra.Command{Use: "monthly", Short: "make the monthly performance report and fetch its files", Long: long, ValidArgsFunction: noArgs}
	a := newAPICmd(env, c)
	month := c.Flags().String("month", "", "calendar month YYYY-MM (default: last month)")
	day := c.Flags().String("day", "", "picked day YYYY-MM-DD in the month (default: the busiest)")
	out := c.Flags().String("out", "", "directory for the files (default ./report-YYYY-MM; \"-\" writes none)")
	c.RunE = run(func(ctx context.Context, pos []string) error { return reportMonthly(ctx, env, a, pos, month, day, out) })
	return c
}

// reportListCmd is "unyo report list".
func reportListCmd(env *Env) *cobra.Command {
	c := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "the monthly reports the node keeps", ValidArgsFunction: noArgs}
	a := newAPICmd(env, c)
	c.RunE = run(func(ctx context.Context, pos []string) error { return reportList(ctx, env, a, pos) })
	return c
}

// reportMonthly is "unyo report monthly".
func reportMonthly(ctx context.Context, env *Env, cmd *apiCmd, pos []string, month, day, out *string) error {
	c, err := cmd.connect(pos, 0, monthlyUsage)
	if err != nil {
		return err
	}
	if *month == "" {
		n := time.Now()
		*month = time.Date(n.Year(), n.Month(), 1, 0, 0, 0, 0, time.Local).AddDate(0, -1, 0).Format("2006-01")
	}
	if _, err := time.Parse("2006-01", *month); err != nil {
		return usagef("--month %q: want YYYY-MM", *month)
	}
	if *day != "" {
		d, err := time.Parse(time.DateOnly, *day)
		if err != nil || d.Format("2006-01") != *month {
			return usagef("--day %q: want YYYY-MM-DD in %s", *day, *month)
		}
	}
	if *out == "" {
		*out = "report-" + *month
	}
	e, err := makeReport(ctx, env, c, *month, *day)
	if err != nil {
		return err
	}
	if *out != "-" {
		if err := downloadReport(ctx, env, c, e, *out); err != nil {
			return err
		}
	}
	if cmd.json() {
		return printJSON(env.Stdout, e)
	}
	printReportEntry(env.Stdout, e)
	if *out != "-" {
		fmt.Fprintf(env.Stdout, "files    %s\n", safe(*out))
	}
	return nil
}

// makeReport asks the node for the report, showing its stages: a bar on
// a terminal, one line per stage otherwise.
func makeReport(ctx context.Context, env *Env, c *client.Client, month, day string) (report.Entry, error) {
	if f, ok := env.Stderr.(*os.File); ok && isTerminal(f) {
		p := mpb.NewWithContext(ctx, mpb.WithOutput(f), mpb.WithWidth(40))
		total := int64(len(report.Stages) + 1)
		var stage atomic.Value // written here, read by mpb's goroutine
		stage.Store("starting")
		bar := p.AddBar(total, mpb.PrependDecorators(decor.Name("report "+month+" "), decor.Any(func(decor.Statistics) string { return stage.Load().(string) }, decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.Elapsed(decor.ET_STYLE_GO)))
		e, err := c.MakeReport(ctx, month, day, func(s string, done, _ int) {
			stage.Store(s)
			bar.SetCurrent(int64(done))
		})
		if err != nil {
			bar.Abort(false)
		} else {
			stage.Store("done")
			bar.SetCurrent(total)
		}
		p.Wait()
		return e, err
	}
	start := time.Now()
	fmt.Fprintf(env.Stderr, "report %s: asking the node\n", month)
	e, err := c.MakeReport(ctx, month, day, func(s string, done, total int) {
		fmt.Fprintf(env.Stderr, "report %s: %s (%d/%d) after %s\n", month, s, done+1, total, time.Since(start).Round(time.Millisecond))
	})
	if err == nil {
		fmt.Fprintf(env.Stderr, "report %s: made in %s\n", month, time.Since(start).Round(time.Millisecond))
	}
	return e, err
}

// isTerminal says whether f is a terminal: whether it answers the
// terminal ioctl (a character device such as /dev/null is not one).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// downloadReport writes the report's files into dir.
func downloadReport(ctx context.Context, env *Env, c *client.Client, e report.Entry, dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	names := make([]string, 0, len(e.Files))
	for n := range e.Files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if filepath.Base(n) != n || strings.HasPrefix(n, ".") {
			return fmt.Errorf("the node named a file %q", n)
		}
		f, err := os.Create(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		err = c.ReportFile(ctx, e.ID, n, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	return nil
}

func printReportEntry(w io.Writer, e report.Entry) {
	fmt.Fprintf(w, "report   %s (month %s, picked day %s)\nwindow   %s – %s (%s)\ncsv      sha256 %s\npdf      %s\n",
		safe(e.ID), safe(e.Month), safe(e.Day), fmtTime(e.Window.From), fmtTime(e.Window.To), safe(e.Window.TimeZone),
		safe(e.CSVSHA256), safe(e.PDF))
}

// reportList is "unyo report list".
func reportList(ctx context.Context, env *Env, cmd *apiCmd, pos []string) error {
	c, err := cmd.connect(pos, 0, monthlyUsage)
	if err != nil {
		return err
	}
	l, err := c.Reports(ctx)
	if err != nil {
		return err
	}
	if cmd.json() {
		if l == nil {
			l = []report.Entry{}
		}
		return printJSON(env.Stdout, l)
	}
	tw := newTable(env.Stdout)
	fmt.Fprintln(tw, "ID\tMONTH\tDAY\tMADE\tBY\tFILES\tPDF\tCSV SHA-256")
	for _, e := range l {
		pdf := "no"
		if _, ok := e.Files[report.PDFFile]; ok {
			pdf = "yes"
		}
		sum := e.CSVSHA256
		if len(sum) > 16 {
			sum = sum[:16] + "…"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", safe(e.ID), safe(e.Month), safe(e.Day), fmtTime(e.MadeAt), safe(e.MadeBy), len(e.Files), pdf, safe(sum))
	}
	return tw.Flush()
}
