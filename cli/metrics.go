package cli

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/console"
)

const metricsUsage = `usage:
  unyo metrics NAME [--metric M] [--labels k=v,...] [--from T] [--to T] [--step auto|raw|1m|1h|1d] [-o table|json|csv]

A target's samples: raw ones for a short range, the 1-minute, 1-hour or
1-day rollups (mean, min, max) for longer ones. T is RFC 3339, YYYY-MM-DD
(midnight, local time) or a duration back from now (24h); the default is
the last hour.`

// metricsCmd is "unyo metrics NAME".
func metricsCmd(env *Env) *cobra.Command {
	_, long, _ := strings.Cut(metricsUsage, "\n\n")
	c := &cobra.Command{Use: "metrics NAME", Short: "a target's samples and rollups", Long: long}
	server := serverFlag(c.Flags(), env)
	c.ValidArgsFunction = completeWith(env, server, targetNames)
	o := metricsOpts{
		metric: c.Flags().String("metric", "", "one metric (default: all)"),
		labels: c.Flags().String("labels", "", "only series with these labels (k=v,k2=v2)"),
		from:   c.Flags().String("from", "", "start (RFC 3339, YYYY-MM-DD or a duration ago; default 1h)"),
		to:     c.Flags().String("to", "", "end, exclusive (default now)"),
		step:   c.Flags().String("step", "auto", "auto, raw, 1m, 1h or 1d"),
		out:    c.Flags().StringP("output", "o", "table", "output format: table, json or csv"),
	}
	c.RunE = run(func(ctx context.Context, pos []string) error { return runMetrics(ctx, env, server, o, pos) })
	return c
}

type metricsOpts struct{ metric, labels, from, to, step, out *string }

func runMetrics(ctx context.Context, env *Env, server *endpoint, o metricsOpts, pos []string) error {
	if len(pos) != 1 {
		return usagef("%s", metricsUsage)
	}
	out := *o.out
	if out != "table" && out != "json" && out != "csv" {
		return usagef("-o %q: want table, json or csv", out)
	}
	now := time.Now()
	q := client.SamplesQuery{Metric: *o.metric, Labels: *o.labels, Step: *o.step}
	var err error
	if q.From, err = parseWhen("--from", *o.from, now); err != nil {
		return err
	}
	if q.To, err = parseWhen("--to", *o.to, now); err != nil {
		return err
	}
	c, err := newClient(env, *server)
	if err != nil {
		return err
	}
	r, err := c.Samples(ctx, pos[0], q)
	if err != nil {
		return err
	}
	switch out {
	case "json":
		return printJSON(env.Stdout, r)
	case "csv":
		return writeSamplesCSV(env.Stdout, r)
	}
	tw := newTable(env.Stdout)
	fmt.Fprintf(tw, "TIME\tMETRIC\tLABELS\tVALUE\tMIN\tMAX\t(step %s)\n", r.Step)
	for _, s := range r.Series {
		for _, p := range s.Points {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", fmtTime(p.Time), safe(s.Metric), safe(labelText(s.Labels)),
				FormatValue(p.Value, s.Unit), FormatValue(p.Min, s.Unit), FormatValue(p.Max, s.Unit))
		}
	}
	return tw.Flush()
}

// parseWhen reads a --from/--to value: "" (zero), RFC 3339, YYYY-MM-DD in
// local time, or a duration before now.
func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, v, time.Local); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usagef("%s %q: want RFC 3339, YYYY-MM-DD or a duration such as 24h", flag, v)
}

func labelText(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + l[k])
	}
	return b.String()
}

func writeSamplesCSV(w io.Writer, r console.SamplesResponse) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"target", "metric", "labels", "unit", "time", "value", "min", "max", "count"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, s := range r.Series {
		for _, p := range s.Points {
			_ = cw.Write([]string{csvSafe(r.Target), csvSafe(s.Metric), csvSafe(labelText(s.Labels)), s.Unit,
				p.Time.UTC().Format(time.RFC3339), f(p.Value), f(p.Min), f(p.Max), strconv.FormatInt(p.Count, 10)})
		}
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// FormatValue writes v with its unit the way an operator reads it: 12.3%,
// 1.2 ms, 3.4 GB, 120 Mbit/s.
func FormatValue(v float64, unit string) string {
	switch unit {
	case "%":
		return strconv.FormatFloat(v, 'f', 1, 64) + "%"
	case "s":
		return time.Duration(v * float64(time.Second)).Round(time.Microsecond).String()
	case "B":
		return si(v, 1024, []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"})
	case "bit/s":
		return si(v, 1000, []string{"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"})
	case "/s":
		return strconv.FormatFloat(v, 'g', 4, 64) + "/s"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

func si(v, base float64, units []string) string {
	i := 0
	for ; i < len(units)-1 && (v >= base || v <= -base); i++ {
		v /= base
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i]
}
