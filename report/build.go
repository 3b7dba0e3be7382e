package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/availability"
	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/drill"
	"github.com/unyo-ops/unyo/monitor/threshold"
)

// Options say which month to report and how.
type Options struct {
	// Month is any time in the month (in Location); required.
	Month time.Time
	// Day is the picked day (a UTC day of the month, as the rollups
	// keep them); zero: the day of the month's highest CPU peak.
	Day time.Time
	// Location gives the month's bounds for availability, incidents and
	// jobs (default UTC).
	Location *time.Location
	// Budget is the unplanned downtime allowed per month (default 2h).
	Budget time.Duration
	// Checks and Sources say which incidents are outages (package
	// availability's defaults when both are empty).
	Checks, Sources []string
	// Targets are the monitored servers: listed even without data; the
	// label "site" is their group.
	Targets []availability.KnownTarget
	// Metrics (default DefaultMetrics).
	Metrics []Metric
	// Now ends outages still going when it is before the month's end
	// (zero: the month's end).
	Now time.Time
	// TopN is the length of the top lists (default 10).
	TopN int
	// Progress, when set, is told each stage as it starts.
	Progress func(stage string, done, total int)
	// Print, when set, prints the rendered HTML to PDF in Make in place of
	// a Chromium started for the one print (PrintPage with a browser that
	// stays up: tests print and look at reports with one browser).
	Print func(ctx context.Context, html []byte) ([]byte, error)
}

// ErrNoSamples: the store keeps no samples (ledger.SampleStore).
var ErrNoSamples = errors.New("report: the ledger keeps no samples")

// maxRows caps the rows one rollup or sketch query reads.
const maxRows = 200_000_000

// Stages are the steps Build reports to Options.Progress, in order.
var Stages = []string{"statistics", "picked day", "availability", "incidents", "jobs"}

// Build reads the month from s and computes the report.
func Build(ctx context.Context, s ledger.Store, o Options) (*Report, error) {
	if o.Month.IsZero() {
		return nil, fmt.Errorf("report: month required")
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Budget == 0 {
		o.Budget = availability.DefaultBudget
	}
	if len(o.Metrics) == 0 {
		o.Metrics = DefaultMetrics
	}
	if o.TopN == 0 {
		o.TopN = 10
	}
	ss, ok := s.(ledger.SampleStore)
	if !ok {
		return nil, ErrNoSamples
	}
	progress := func(i int) {
		if o.Progress != nil {
			o.Progress(Stages[i], i, len(Stages))
		}
	}
	m := o.Month.In(o.Location)
	from := time.Date(m.Year(), m.Month(), 1, 0, 0, 0, 0, o.Location)
	to := from.AddDate(0, 1, 0)
	perfFrom := time.Date(m.Year(), m.Month(), 1, 0, 0, 0, 0, time.UTC)
	perfTo := perfFrom.AddDate(0, 1, 0)
	r := &Report{Title: "Monthly performance report " + from.Format("2006-01"), Month: from.Format("2006-01"),
		Window:  Window{From: from, To: to, TimeZone: o.Location.String(), PerfFrom: perfFrom, PerfTo: perfTo},
		Metrics: o.Metrics}
	until := to
	if !o.Now.IsZero() && o.Now.Before(until) {
		until = o.Now
		r.Notes = append(r.Notes, "the month has not ended: outages and open faults are counted until "+until.UTC().Format(time.RFC3339))
	}
	groupOf := map[string]string{}
	for _, t := range o.Targets {
		groupOf[t.Name] = t.Labels["site"]
	}

	progress(0)
	st, err := readStats(ctx, ss, o.Metrics, perfFrom, perfTo)
	if err != nil {
		return nil, err
	}
	if _, ok := s.(ledger.SketchStore); !ok {
		r.Notes = append(r.Notes, "the ledger keeps no sketches: p95 is not known")
	}
	r.statistics(st, groupOf, o)

	progress(1)
	day := o.Day.UTC().Truncate(24 * time.Hour)
	if o.Day.IsZero() {
		day = st.busiestDay(perfFrom)
	}
	if day.Before(perfFrom) || !day.Before(perfTo) {
		return nil, fmt.Errorf("report: day %s is not in %s", day.Format(time.DateOnly), r.Month)
	}
	r.Day = day.Format(time.DateOnly)
	r.Window.DayFrom, r.Window.DayTo = day, day.Add(24*time.Hour)
	if err := r.pickedDay(ctx, ss, st, groupOf, day, o); err != nil {
		return nil, err
	}

	progress(2)
	aopts := availability.Options{From: from, To: to, Now: until, Location: o.Location, Budget: o.Budget, Checks: o.Checks, Sources: o.Sources}
	in, err := availability.Load(ctx, s, aopts)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	known := slices.Clone(o.Targets)
	for _, sv := range r.Servers {
		known = append(known, availability.KnownTarget{Name: sv.Server, Labels: map[string]string{"site": sv.Group}})
	}
	r.Availability = computeAvailability(in, known, aopts)

	progress(3)
	incs, err := monthIncidents(ctx, s, from, until)
	if err != nil {
		return nil, err
	}
	r.incidents(ctx, s, incs, from, until, o.TopN)
	r.breaches(incs, from, until)

	progress(4)
	if err := r.jobs(ctx, s, from, to, o.TopN); err != nil {
		return nil, err
	}
	r.Drills = []ledger.DrillRecord{}
	if ds, err := drill.InMonth(ctx, s, from, from.Location()); err != nil {
		r.Notes = append(r.Notes, "drills: "+err.Error())
	} else if ds != nil {
		r.Drills = ds
	}
	return r, nil
}

// seriesData is what the rollups and sketches say of one series.
type seriesData struct {
	metric string // key
	key    ledger.SeriesKey
	labels map[string]string
	sum    float64
	count  int64
	max    float64
	days   map[int64]ledger.Rollup // day start (unix s) → rollup
	sketch ledger.Sketch
	prev   ledger.Sketch
}

type stats struct {
	series []*seriesData // sorted by metric order, target, labels
}

func readStats(ctx context.Context, ss ledger.SampleStore, metrics []Metric, from, to time.Time) (*stats, error) {
	st := &stats{}
	sk, _ := ss.(ledger.SketchStore)
	for _, m := range metrics {
		by := map[ledger.SeriesKey]*seriesData{}
		get := func(k ledger.SeriesKey, l map[string]string) *seriesData {
			d := by[k]
			if d == nil {
				d = &seriesData{metric: m.Key, key: k, labels: l, max: math.Inf(-1), days: map[int64]ledger.Rollup{},
					sketch: ledger.Sketch{}, prev: ledger.Sketch{}}
				by[k] = d
			}
			return d
		}
		rows, err := ss.Rollups(ctx, ledger.RollupQuery{Resolution: ledger.Day,
			SampleQuery: ledger.SampleQuery{Name: m.Name, Labels: m.Labels, From: from, To: to, Limit: maxRows}})
		if err != nil {
			return nil, fmt.Errorf("report: %s day rollups: %w", m.Name, err)
		}
		for _, b := range rows {
			d := get(ledger.SeriesKey{Target: b.Target, Name: b.Name, Labels: ledger.LabelsKey(b.Labels)}, b.Labels)
			d.sum += b.Sum
			d.count += b.Count
			d.max = max(d.max, b.Max)
			d.days[b.Start.Unix()] = b
		}
		if sk != nil {
			cells, err := sk.Sketches(ctx, ledger.SampleQuery{Name: m.Name, Labels: m.Labels, From: from.AddDate(0, -1, 0), To: to, Limit: maxRows})
			if err != nil {
				return nil, fmt.Errorf("report: %s sketches: %w", m.Name, err)
			}
			for _, c := range cells {
				k := ledger.SeriesKey{Target: c.Target, Name: c.Name, Labels: ledger.LabelsKey(c.Labels)}
				if c.Month.Equal(from) {
					get(k, c.Labels).sketch.Add(c.Bucket, c.Count)
				} else if d := by[k]; d != nil {
					d.prev.Add(c.Bucket, c.Count)
				} else {
					get(k, c.Labels).prev.Add(c.Bucket, c.Count)
				}
			}
		}
		var list []*seriesData
		for _, d := range by {
			if d.count > 0 {
				list = append(list, d)
			}
		}
		slices.SortFunc(list, func(a, b *seriesData) int {
			return cmp.Or(cmp.Compare(a.key.Target, b.key.Target), cmp.Compare(a.key.Labels, b.key.Labels))
		})
		st.series = append(st.series, list...)
	}
	return st, nil
}

// busiestDay is the UTC day with the highest CPU (the first metric's)
// maximum; the first day of the month without data.
func (st *stats) busiestDay(first time.Time) time.Time {
	best, bestV := first, math.Inf(-1)
	metric := ""
	for _, d := range st.series {
		if metric == "" {
			metric = d.metric
		}
		if d.metric != metric {
			break
		}
		for start, b := range d.days {
			t := time.Unix(start, 0).UTC()
			if b.Max > bestV || (b.Max == bestV && t.Before(best)) {
				best, bestV = t, b.Max
			}
		}
	}
	return best
}

// acc merges series into one statistic.
type acc struct {
	sum    float64
	count  int64
	max    float64
	sketch ledger.Sketch
}

func newAcc() *acc { return &acc{max: math.Inf(-1), sketch: ledger.Sketch{}} }

func (a *acc) add(d *seriesData) {
	a.sum += d.sum
	a.count += d.count
	a.max = max(a.max, d.max)
	a.sketch.Merge(d.sketch)
}

func (a *acc) stat() Stat {
	if a.count == 0 {
		return Stat{}
	}
	p95 := a.sketch.Quantile(0.95)
	if math.IsNaN(p95) {
		p95 = 0
	}
	return Stat{Avg: a.sum / float64(a.count), P95: p95, Max: a.max, Samples: a.count}
}

func labelText(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + l[k]
	}
	return strings.Join(parts, ",")
}

func groupName(g string) string {
	if g == "" {
		return "(no site)"
	}
	return g
}

func (r *Report) statistics(st *stats, groupOf map[string]string, o Options) {
	servers := map[string]map[string]*acc{}
	groups := map[string]map[string]*acc{}
	groupServers := map[string]map[string]bool{}
	type dayAcc struct {
		sum   float64
		count int64
		max   float64
	}
	groupDays := map[string]map[string]map[int64]*dayAcc{}
	for _, t := range o.Targets {
		servers[t.Name] = map[string]*acc{}
	}
	for _, d := range st.series {
		srv := d.key.Target
		g := groupName(groupOf[srv])
		if servers[srv] == nil {
			servers[srv] = map[string]*acc{}
		}
		if servers[srv][d.metric] == nil {
			servers[srv][d.metric] = newAcc()
		}
		servers[srv][d.metric].add(d)
		if groups[g] == nil {
			groups[g], groupServers[g], groupDays[g] = map[string]*acc{}, map[string]bool{}, map[string]map[int64]*dayAcc{}
		}
		groupServers[g][srv] = true
		if groups[g][d.metric] == nil {
			groups[g][d.metric] = newAcc()
			groupDays[g][d.metric] = map[int64]*dayAcc{}
		}
		groups[g][d.metric].add(d)
		for start, b := range d.days {
			da := groupDays[g][d.metric][start]
			if da == nil {
				da = &dayAcc{max: math.Inf(-1)}
				groupDays[g][d.metric][start] = da
			}
			da.sum += b.Sum
			da.count += b.Count
			da.max = max(da.max, b.Max)
		}
		prev := d.prev.Quantile(0.95)
		a := newAcc()
		a.add(d)
		r.Series = append(r.Series, SeriesStats{Server: srv, Group: g, Metric: d.metric, Labels: labelText(d.labels), Stat: a.stat(), PrevP95: prev})
	}
	for _, name := range sortedKeys(servers) {
		sv := ServerStats{Server: name, Group: groupName(groupOf[name]), Stats: map[string]Stat{}}
		for k, a := range servers[name] {
			sv.Stats[k] = a.stat()
		}
		r.Servers = append(r.Servers, sv)
	}
	for _, g := range sortedKeys(groups) {
		gs := GroupStats{Group: g, Servers: len(groupServers[g]), Stats: map[string]Stat{}, Daily: map[string][]DayPoint{}}
		for k, a := range groups[g] {
			gs.Stats[k] = a.stat()
			for _, start := range sortedKeys(groupDays[g][k]) {
				da := groupDays[g][k][start]
				gs.Daily[k] = append(gs.Daily[k], DayPoint{Day: time.Unix(start, 0).UTC().Format(time.DateOnly), Avg: da.sum / float64(da.count), Max: da.max})
			}
		}
		r.Groups = append(r.Groups, gs)
	}
	r.rankings(st, o.TopN)
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (r *Report) rankings(st *stats, n int) {
	cpu := ""
	if len(r.Metrics) > 0 {
		cpu = r.Metrics[0].Key
	}
	for _, sv := range r.Servers {
		if s, ok := sv.Stats[cpu]; ok && s.Samples > 0 {
			r.TopServers = append(r.TopServers, Ranked{Server: sv.Server, Value: s.Avg, Peak: s.Max})
		}
	}
	type link struct{ in, out *seriesData }
	links := map[[2]string]*link{}
	for _, d := range st.series {
		if d.metric != "if_in" && d.metric != "if_out" {
			continue
		}
		k := [2]string{d.key.Target, labelText(d.labels)}
		l := links[k]
		if l == nil {
			l = &link{}
			links[k] = l
		}
		if d.metric == "if_in" {
			l.in = d
		} else {
			l.out = d
		}
	}
	for k, l := range links {
		var v, peak float64
		for _, d := range []*seriesData{l.in, l.out} {
			if d != nil && d.count > 0 {
				v += d.sum / float64(d.count)
				peak += d.max
			}
		}
		r.TopLinks = append(r.TopLinks, Ranked{Server: k[0], Link: k[1], Value: v, Peak: peak})
	}
	rank := func(xs []Ranked) []Ranked {
		slices.SortFunc(xs, func(a, b Ranked) int {
			return cmp.Or(cmp.Compare(b.Value, a.Value), cmp.Compare(a.Server, b.Server), cmp.Compare(a.Link, b.Link))
		})
		xs = xs[:min(n, len(xs))]
		for i := range xs {
			xs[i].Rank = i + 1
		}
		return xs
	}
	r.TopServers, r.TopLinks = rank(r.TopServers), rank(r.TopLinks)

	for _, s := range r.Series {
		if (s.Metric == "cpu" || s.Metric == "memory") && !math.IsNaN(s.PrevP95) && s.Samples > 0 && s.P95 > s.PrevP95 {
			r.P95Risers = append(r.P95Risers, Riser{Server: s.Server, Metric: s.Metric, Labels: s.Labels, Prev: s.PrevP95, Now: s.P95, Rise: s.P95 - s.PrevP95})
		}
	}
	slices.SortFunc(r.P95Risers, func(a, b Riser) int {
		return cmp.Or(cmp.Compare(b.Rise, a.Rise), cmp.Compare(a.Server, b.Server), cmp.Compare(a.Metric, b.Metric), cmp.Compare(a.Labels, b.Labels))
	})
	r.P95Risers = r.P95Risers[:min(n, len(r.P95Risers))]

	for _, d := range st.series {
		if d.metric != "disk" || len(d.days) < 3 {
			continue
		}
		days := sortedKeys(d.days)
		var sx, sy, sxx, sxy float64
		for _, k := range days {
			x, y := float64(k-days[0])/86400, d.days[k].Avg()
			sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
		}
		nn := float64(len(days))
		slope := (nn*sxy - sx*sy) / (nn*sxx - sx*sx)
		last := d.days[days[len(days)-1]].Avg()
		t := DiskTrend{Server: d.key.Target, Disk: labelText(d.labels), Used: last, PerDay: slope, DaysToFull: -1}
		if slope > 1e-9 && last < 100 {
			t.DaysToFull = (100 - last) / slope
			full := time.Unix(days[len(days)-1], 0).UTC().Add(time.Duration(t.DaysToFull * float64(24*time.Hour)))
			t.FullOnAfter = full.Format(time.DateOnly)
		} else if last >= 100 {
			t.DaysToFull = 0
		}
		r.DiskForecast = append(r.DiskForecast, t)
	}
	slices.SortFunc(r.DiskForecast, func(a, b DiskTrend) int {
		ad, bd := a.DaysToFull, b.DaysToFull
		if ad < 0 {
			ad = math.Inf(1)
		}
		if bd < 0 {
			bd = math.Inf(1)
		}
		return cmp.Or(cmp.Compare(ad, bd), cmp.Compare(a.Server, b.Server), cmp.Compare(a.Disk, b.Disk))
	})
}

// pickedDay reads the day's 1-minute rollups of each metric's busiest
// series (the highest 1-day maximum) and the next two.
func (r *Report) pickedDay(ctx context.Context, ss ledger.SampleStore, st *stats, groupOf map[string]string, day time.Time, o Options) error {
	pd := PickedDay{Day: day.Format(time.DateOnly)}
	key := day.Unix()
	groups := map[string]map[string]*acc{}
	missing := 0
	for _, m := range o.Metrics {
		var cands []*seriesData
		for _, d := range st.series {
			if d.metric != m.Key {
				continue
			}
			b, ok := d.days[key]
			if !ok {
				continue
			}
			cands = append(cands, d)
			g := groupName(groupOf[d.key.Target])
			if groups[g] == nil {
				groups[g] = map[string]*acc{}
			}
			if groups[g][m.Key] == nil {
				groups[g][m.Key] = newAcc()
			}
			a := groups[g][m.Key]
			a.sum, a.count, a.max = a.sum+b.Sum, a.count+b.Count, max(a.max, b.Max)
		}
		if len(cands) == 0 {
			continue
		}
		slices.SortStableFunc(cands, func(a, b *seriesData) int { return cmp.Compare(b.days[key].Max, a.days[key].Max) })
		var lines []SeriesLine
		for _, d := range cands[:min(3, len(cands))] {
			rows, err := ss.Rollups(ctx, ledger.RollupQuery{Resolution: ledger.Minute, SampleQuery: ledger.SampleQuery{
				Target: d.key.Target, Name: d.key.Name, Labels: d.labels, From: day, To: day.Add(24 * time.Hour), Limit: 2000}})
			if err != nil {
				return fmt.Errorf("report: picked day: %w", err)
			}
			var pts []MinutePnt
			for _, b := range rows {
				if ledger.LabelsKey(b.Labels) != d.key.Labels {
					continue
				}
				pts = append(pts, MinutePnt{T: b.Start, Avg: b.Avg(), Max: b.Max})
			}
			name := d.key.Target
			if l := labelText(d.labels); l != "" {
				name += " " + l
			}
			lines = append(lines, SeriesLine{Name: name, Points: pts})
		}
		top := cands[0]
		b := top.days[key]
		p := DayPeak{Metric: m.Key, Server: top.key.Target, Labels: labelText(top.labels), Peak: b.Max, Avg: b.Avg()}
		if len(lines) > 0 && len(lines[0].Points) > 0 {
			p.Points = lines[0].Points
			p.Others = lines[1:]
			best := p.Points[0]
			for _, x := range p.Points {
				if x.Max > best.Max {
					best = x
				}
			}
			p.PeakAt = best.T
		} else {
			missing++
		}
		pd.Peaks = append(pd.Peaks, p)
	}
	for _, g := range sortedKeys(groups) {
		gd := GroupDay{Group: g, Stats: map[string]Stat{}}
		for k, a := range groups[g] {
			s := a.stat()
			s.P95 = 0
			gd.Stats[k] = s
		}
		pd.Groups = append(pd.Groups, gd)
	}
	if missing > 0 {
		pd.Note = fmt.Sprintf("%d metric(s) have no 1-minute rollups for this day (past monitor.samples.retention.minute?)", missing)
	}
	r.PickedDay = pd
	return nil
}

// monthIncidents returns the incidents opened before until that were
// opened in [from, until) or still active at from.
func monthIncidents(ctx context.Context, s ledger.Store, from, until time.Time) ([]incident.Incident, error) {
	var out []incident.Incident
	seen := map[int64]bool{}
	keep := func(inc incident.Incident) {
		if seen[inc.ID] || !inc.OpenedAt.Before(until) {
			return
		}
		end := endOf(inc)
		if inc.OpenedAt.Before(from) && end != nil && end.Before(from) {
			return
		}
		seen[inc.ID] = true
		out = append(out, inc)
	}
	for _, f := range []ledger.Filter{{States: []incident.State{incident.Open, incident.Acknowledged}}, {}} {
		for before := int64(0); ; {
			f.Limit, f.BeforeID = 1000, before
			page, err := s.Incidents(ctx, f)
			if err != nil {
				return nil, fmt.Errorf("report: incidents: %w", err)
			}
			older := 0
			for _, inc := range page {
				keep(inc)
				if inc.OpenedAt.Before(from.Add(-availability.Lookback)) {
					older++
				}
			}
			if len(page) < 1000 || older == len(page) {
				break
			}
			before = page[len(page)-1].ID
		}
	}
	slices.SortFunc(out, func(a, b incident.Incident) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// endOf is when an incident stopped being active (resolved or closed).
func endOf(inc incident.Incident) *time.Time {
	switch {
	case inc.ResolvedAt != nil:
		return inc.ResolvedAt
	case inc.ClosedAt != nil:
		return inc.ClosedAt
	}
	return nil
}

func (r *Report) incidents(ctx context.Context, s ledger.Store, incs []incident.Incident, from, until time.Time, n int) {
	in := Incidents{BySeverity: map[string]int{}, BySource: map[string]int{}, RolesReached: map[string]int{}}
	var tta, ttr []time.Duration
	es, _ := s.(ledger.EscalationStore)
	for _, inc := range incs {
		if end := endOf(inc); end == nil || !end.Before(until) {
			in.LongestOpen = append(in.LongestOpen, OpenFault{ID: inc.ID, Server: inc.Target, Check: inc.Check,
				Severity: string(inc.Severity), OpenFor: until.Sub(inc.OpenedAt), State: stateAt(inc, until)})
		}
		if inc.OpenedAt.Before(from) {
			continue
		}
		in.Opened++
		in.BySeverity[string(inc.Severity)]++
		in.BySource[inc.Source]++
		if inc.AckedAt != nil && inc.AckedAt.Before(until) {
			tta = append(tta, inc.AckedAt.Sub(inc.OpenedAt))
		}
		if end := endOf(inc); end != nil && end.Before(until) {
			ttr = append(ttr, end.Sub(inc.OpenedAt))
		}
		if es != nil {
			ns, err := es.Notifications(ctx, inc.ID)
			if err != nil {
				r.Notes = append(r.Notes, fmt.Sprintf("notifications of incident %d: %v", inc.ID, err))
				continue
			}
			roles := map[string]bool{}
			for _, x := range ns {
				if x.Role != "" && x.Level > 0 && x.State == ledger.NotifySent && x.SentAt != nil && x.SentAt.Before(until) {
					roles[x.Role] = true
				}
			}
			for role := range roles {
				in.RolesReached[role]++
			}
		}
	}
	in.MTTA, in.MTTR = summarise(tta), summarise(ttr)
	slices.SortFunc(in.LongestOpen, func(a, b OpenFault) int { return cmp.Or(cmp.Compare(b.OpenFor, a.OpenFor), cmp.Compare(a.ID, b.ID)) })
	in.LongestOpen = in.LongestOpen[:min(n, len(in.LongestOpen))]
	r.Incidents = in
}

func stateAt(inc incident.Incident, t time.Time) string {
	if inc.AckedAt != nil && inc.AckedAt.Before(t) {
		return string(incident.Acknowledged)
	}
	return string(incident.Open)
}

// summarise: mean, nearest-rank median and p90, maximum.
func summarise(ds []time.Duration) Durations {
	if len(ds) == 0 {
		return Durations{}
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	q := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(ds)))) - 1
		return ds[max(0, min(len(ds)-1, i))]
	}
	return Durations{N: len(ds), Mean: sum / time.Duration(len(ds)), Median: q(0.5), P90: q(0.9), Max: ds[len(ds)-1]}
}

// breaches are the threshold incidents opened in the window, by server,
// rule and severity.
func (r *Report) breaches(incs []incident.Incident, from, until time.Time) {
	by := map[[3]string]*Breach{}
	for _, inc := range incs {
		if inc.Source != threshold.Source || inc.OpenedAt.Before(from) {
			continue
		}
		k := [3]string{inc.Target, inc.Check, string(inc.Severity)}
		b := by[k]
		if b == nil {
			b = &Breach{Server: k[0], Check: k[1], Severity: k[2]}
			by[k] = b
		}
		b.Count++
		end := until
		if e := endOf(inc); e != nil && e.Before(end) {
			end = *e
		}
		if inc.RecoveredAt != nil && inc.RecoveredAt.Before(end) {
			end = *inc.RecoveredAt
		}
		b.Duration += end.Sub(inc.OpenedAt)
	}
	r.Breaches = []Breach{}
	for _, k := range slices.SortedFunc(func(yield func([3]string) bool) {
		for k := range by {
			if !yield(k) {
				return
			}
		}
	}, func(a, b [3]string) int {
		return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]), cmp.Compare(a[2], b[2]))
	}) {
		r.Breaches = append(r.Breaches, *by[k])
	}
}

func (r *Report) jobs(ctx context.Context, s ledger.Store, from, to time.Time, n int) error {
	j := Jobs{Abnormal: []JobRun{}, Longest: []JobRun{}, Backups: []JobRun{}, ByJobnet: []JobStat{}}
	rs, ok := s.(ledger.RunHistoryStore)
	if !ok {
		r.Jobs = j
		r.Notes = append(r.Notes, "the ledger keeps no job run history")
		return nil
	}
	runs, err := rs.Runs(ctx, ledger.RunFilter{Limit: 1000})
	if err != nil {
		return fmt.Errorf("report: runs: %w", err)
	}
	if len(runs) == 1000 && !runs[len(runs)-1].Created.Before(from) {
		r.Notes = append(r.Notes, "jobs: only the newest 1000 runs were read; the month may hold more")
	}
	per := map[string]*JobStat{}
	var all []JobRun
	for _, x := range runs {
		if x.Created.Before(from) || !x.Created.Before(to) || x.Status == "running" {
			continue
		}
		jr := JobRun{ID: x.ID, Jobnet: x.Jobnet, Status: x.Status, Started: x.Created}
		if !x.Ended.IsZero() {
			jr.Duration = x.Ended.Sub(x.Created)
		}
		all = append(all, jr)
		js := per[x.Jobnet]
		if js == nil {
			js = &JobStat{Jobnet: x.Jobnet}
			per[x.Jobnet] = js
		}
		js.Runs++
		j.Runs++
		switch x.Status {
		case "ended-normal", "ended-warning":
			js.Succeeded++
			j.Succeeded++
		default:
			js.Abnormal++
			j.Abnormal = append(j.Abnormal, jr)
		}
		if strings.Contains(strings.ToLower(x.Jobnet), "backup") {
			j.Backups = append(j.Backups, jr)
		}
	}
	if j.Runs > 0 {
		j.SuccessRate = 100 * float64(j.Succeeded) / float64(j.Runs)
	}
	byStart := func(a, b JobRun) int { return cmp.Or(a.Started.Compare(b.Started), cmp.Compare(a.ID, b.ID)) }
	slices.SortFunc(j.Abnormal, byStart)
	slices.SortFunc(j.Backups, byStart)
	j.Longest = slices.Clone(all)
	slices.SortFunc(j.Longest, func(a, b JobRun) int { return cmp.Or(cmp.Compare(b.Duration, a.Duration), byStart(a, b)) })
	j.Longest = j.Longest[:min(n, len(j.Longest))]
	if j.Longest == nil {
		j.Longest = []JobRun{}
	}
	for _, k := range sortedKeys(per) {
		j.ByJobnet = append(j.ByJobnet, *per[k])
	}
	if len(j.Backups) == 0 {
		j.BackupNote = "no backup runs in the month (no jobnet named *backup* ran; backup jobs are not built yet)"
	}
	r.Jobs = j
	return nil
}
