package web

import (
	"cmp"
	"context"
	"fmt"
	"html/template"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/internal/plot"
)

// Limits of the target page's charts.
const (
	maxChartRows   = 20000 // samples or rollup rows read for one page
	maxCharts      = 24    // metrics charted on one page
	chartRawLimit  = 2 * time.Hour
	chartMinuteCap = 2 * 24 * time.Hour
)

// metricRange is one choice of the span a target's charts show.
type metricRange struct {
	Name string
	Span time.Duration
}

var metricRanges = []metricRange{
	{"1h", time.Hour}, {"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour},
}

// parseRange reads the range query parameter ("" is 24h).
func parseRange(s string) (metricRange, bool) {
	if s == "" {
		s = "24h"
	}
	for _, r := range metricRanges {
		if r.Name == s {
			return r, true
		}
	}
	return metricRange{}, false
}

// metricChart is one metric of a target drawn over the range.
type metricChart struct {
	Metric string
	Unit   string
	Series int
	SVG    template.HTML
}

// chartSet is what a target page shows of its metrics.
type chartSet struct {
	Range     metricRange
	Ranges    []metricRange
	Step      string // "raw", "1m" or "1h"
	Charts    []metricChart
	Truncated bool // more rows or metrics than a page draws
	Error     string
}

// metricUnit guesses a metric's unit from its name's suffix (Prometheus
// naming).
func metricUnit(metric string) string {
	switch {
	case strings.HasSuffix(metric, "_seconds"):
		return "s"
	case strings.HasSuffix(metric, "_percent"), strings.HasSuffix(metric, "_ratio_percent"):
		return "%"
	case strings.HasSuffix(metric, "_bytes"):
		return "B"
	case strings.HasSuffix(metric, "_bits_per_second"):
		return "bit/s"
	case strings.HasSuffix(metric, "_per_second"):
		return "/s"
	}
	return ""
}

// targetCharts reads a target's samples over [to-span, to) — raw up to
// two hours, one-minute rollups up to two days, hourly ones beyond (with
// their minimum and maximum as a band) — and draws one chart per metric,
// one line per label set, times in loc.
func targetCharts(ctx context.Context, ss ledger.SampleStore, target string, to time.Time, r metricRange, loc *time.Location) (chartSet, error) {
	out := chartSet{Range: r, Ranges: metricRanges}
	from := to.Add(-r.Span)
	type series struct {
		metric, labels string
		pts            []plot.Point
	}
	var all []*series
	idx := map[ledger.SeriesKey]*series{}
	add := func(name string, labels map[string]string, p plot.Point) {
		k := ledger.SeriesKey{Target: target, Name: name, Labels: ledger.LabelsKey(labels)}
		s, ok := idx[k]
		if !ok {
			s = &series{metric: name, labels: labelText(labels)}
			idx[k] = s
			all = append(all, s)
		}
		s.pts = append(s.pts, p)
	}
	q := ledger.SampleQuery{Target: target, From: from, To: to, Limit: maxChartRows + 1}
	band := false
	n := 0
	switch {
	case r.Span <= chartRawLimit:
		out.Step = "raw"
		rows, err := ss.Samples(ctx, q)
		if err != nil {
			return out, fmt.Errorf("samples of %s: %w", target, err)
		}
		n = len(rows)
		for _, s := range rows[:min(len(rows), maxChartRows)] {
			add(s.Name, s.Labels, plot.Point{T: s.Time, V: s.Value})
		}
	default:
		res := ledger.Minute
		out.Step = "1m"
		if r.Span > chartMinuteCap {
			res, out.Step, band = ledger.Hour, "1h", true
		}
		q.From = from.Add(-res + 1).Truncate(res) // a bucket that started before from
		rows, err := ss.Rollups(ctx, ledger.RollupQuery{SampleQuery: q, Resolution: res})
		if err != nil {
			return out, fmt.Errorf("rollups of %s: %w", target, err)
		}
		n = len(rows)
		for _, b := range rows[:min(len(rows), maxChartRows)] {
			add(b.Name, b.Labels, plot.Point{T: b.Start, V: b.Avg(), Min: b.Min, Max: b.Max})
		}
	}
	out.Truncated = n > maxChartRows
	slices.SortStableFunc(all, func(a, b *series) int {
		return cmp.Or(cmp.Compare(a.metric, b.metric), cmp.Compare(a.labels, b.labels))
	})
	var metrics []string
	byMetric := map[string][]*series{}
	for _, s := range all {
		if _, ok := byMetric[s.metric]; !ok {
			metrics = append(metrics, s.metric)
		}
		byMetric[s.metric] = append(byMetric[s.metric], s)
	}
	if len(metrics) > maxCharts {
		metrics, out.Truncated = metrics[:maxCharts], true
	}
	for i, m := range metrics {
		unit := metricUnit(m)
		c := plot.TimeChart{
			ID:       fmt.Sprintf("chart-%d", i),
			Title:    target + ": " + m,
			Unit:     unit,
			From:     from,
			To:       to,
			Location: loc,
			Width:    480, // legible on a phone (scaled to ~0.7), near 1:1 in a desktop grid cell
			Height:   180,
		}
		if unit == "%" {
			c.YFrom, c.YTo = 0, 100
		}
		c.ZeroBased = true // times, sizes, rates and states read against zero
		for _, s := range byMetric[m] {
			name := s.labels
			if name == "" {
				name = m
			}
			c.Series = append(c.Series, plot.Series{Name: name, Points: s.pts, Band: band})
		}
		out.Charts = append(out.Charts, metricChart{Metric: m, Unit: unit, Series: len(c.Series), SVG: c.HTML()})
	}
	return out, nil
}

// labelText shows a label set as k=v, k=v in key order.
func labelText(l map[string]string) string {
	var b strings.Builder
	for i, k := range slices.Sorted(maps.Keys(l)) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k + "=" + l[k])
	}
	return b.String()
}
