package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/internal/plot"
)

// Files are a rendered report: name → bytes.
type Files map[string][]byte

// Names returns the file names, sorted.
func (f Files) Names() []string { return sortedKeys(f) }

// File names every report has.
const (
	HTMLFile = "report.html"
	JSONFile = "summary.json"
	PDFFile  = "report.pdf"
)

// Render writes the report's HTML, JSON summary and CSV files. It sets
// r.CSVSHA256 and r.CSVFiles.
func Render(r *Report) (Files, error) {
	files := Files{}
	for name, rows := range r.tables() {
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		if err := w.WriteAll(rows); err != nil {
			return nil, fmt.Errorf("report: %s: %w", name, err)
		}
		files[name] = b.Bytes()
	}
	h := sha256.New()
	r.CSVFiles = map[string]string{}
	for _, name := range files.Names() {
		sum := sha256.Sum256(files[name])
		r.CSVFiles[name] = hex.EncodeToString(sum[:])
		h.Write([]byte(name + "\n"))
		h.Write(files[name])
	}
	r.CSVSHA256 = hex.EncodeToString(h.Sum(nil))
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("report: json: %w", err)
	}
	files[JSONFile] = append(js, '\n')
	var html bytes.Buffer
	if err := page.Execute(&html, view{r}); err != nil {
		return nil, fmt.Errorf("report: html: %w", err)
	}
	files[HTMLFile] = html.Bytes()
	return files, nil
}

func f64(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', 10, 64)
}

func mins(d time.Duration) string { return strconv.FormatFloat(d.Minutes(), 'f', 2, 64) }
func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 0, 64) }

// cell keeps a spreadsheet from reading a text cell as a formula.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (r *Report) tables() map[string][][]string {
	t := map[string][][]string{}
	keys := make([]string, len(r.Metrics))
	for i, m := range r.Metrics {
		keys[i] = m.Key
	}
	hdr := []string{"server", "group"}
	for _, k := range keys {
		hdr = append(hdr, k+"_avg", k+"_p95", k+"_max")
	}
	rows := [][]string{hdr}
	for _, s := range r.Servers {
		row := []string{cell(s.Server), cell(s.Group)}
		for _, k := range keys {
			st, ok := s.Stats[k]
			if !ok {
				row = append(row, "", "", "")
				continue
			}
			row = append(row, f64(st.Avg), f64(st.P95), f64(st.Max))
		}
		rows = append(rows, row)
	}
	t["servers.csv"] = rows
	rows = [][]string{{"server", "group", "metric", "labels", "avg", "p95", "max", "samples", "prev_p95"}}
	for _, s := range r.Series {
		rows = append(rows, []string{cell(s.Server), cell(s.Group), s.Metric, cell(s.Labels), f64(s.Avg), f64(s.P95), f64(s.Max), strconv.FormatInt(s.Samples, 10), f64(s.PrevP95)})
	}
	t["series.csv"] = rows
	rows = [][]string{{"group", "servers", "metric", "avg", "p95", "max", "samples"}}
	daily := [][]string{{"group", "metric", "day", "avg", "max"}}
	for _, g := range r.Groups {
		for _, k := range keys {
			if st, ok := g.Stats[k]; ok {
				rows = append(rows, []string{cell(g.Group), strconv.Itoa(g.Servers), k, f64(st.Avg), f64(st.P95), f64(st.Max), strconv.FormatInt(st.Samples, 10)})
			}
			for _, d := range g.Daily[k] {
				daily = append(daily, []string{cell(g.Group), k, d.Day, f64(d.Avg), f64(d.Max)})
			}
		}
	}
	t["groups.csv"], t["group_daily.csv"] = rows, daily
	rank := func(xs []Ranked) [][]string {
		out := [][]string{{"rank", "server", "link", "mean", "peak"}}
		for _, x := range xs {
			out = append(out, []string{strconv.Itoa(x.Rank), cell(x.Server), cell(x.Link), f64(x.Value), f64(x.Peak)})
		}
		return out
	}
	t["top_servers.csv"], t["top_links.csv"] = rank(r.TopServers), rank(r.TopLinks)
	rows = [][]string{{"server", "metric", "labels", "prev_p95", "p95", "rise"}}
	for _, x := range r.P95Risers {
		rows = append(rows, []string{cell(x.Server), x.Metric, cell(x.Labels), f64(x.Prev), f64(x.Now), f64(x.Rise)})
	}
	t["p95_risers.csv"] = rows
	rows = [][]string{{"server", "disk", "used_percent", "percent_per_day", "days_to_full", "full_on"}}
	for _, x := range r.DiskForecast {
		rows = append(rows, []string{cell(x.Server), cell(x.Disk), f64(x.Used), f64(x.PerDay), f64(x.DaysToFull), x.FullOnAfter})
	}
	t["disk_forecast.csv"] = rows
	rows = [][]string{{"day", "metric", "server", "labels", "peak", "peak_at", "avg"}}
	for _, p := range r.PickedDay.Peaks {
		at := ""
		if !p.PeakAt.IsZero() {
			at = p.PeakAt.UTC().Format(time.RFC3339)
		}
		rows = append(rows, []string{r.PickedDay.Day, p.Metric, cell(p.Server), cell(p.Labels), f64(p.Peak), at, f64(p.Avg)})
	}
	t["picked_day.csv"] = rows
	rows = [][]string{{"server", "site", "down_min", "planned_min", "unplanned_min", "budget_used_min", "budget_left_min", "availability_percent"}}
	for _, s := range r.Availability.Servers {
		rows = append(rows, []string{cell(s.Server), cell(s.Site), mins(s.Down), mins(s.Planned), mins(s.Unplanned), mins(s.BudgetUsed), mins(s.BudgetLeft), f64(s.Availability)})
	}
	t["availability_servers.csv"] = rows
	rows = [][]string{{"site", "servers", "down_min", "planned_min", "unplanned_min", "any_unplanned_min", "over_budget"}}
	for _, s := range r.Availability.Sites {
		rows = append(rows, []string{cell(s.Site), strconv.Itoa(s.Servers), mins(s.Down), mins(s.Planned), mins(s.Unplanned), mins(s.AnyDown), strconv.Itoa(s.OverBudget)})
	}
	t["availability_sites.csv"] = rows
	rows = [][]string{{"server", "incident", "check", "from", "to", "down_min", "planned_min", "unplanned_min", "opened_by", "closed_by", "why", "late_windows"}}
	for _, o := range r.Availability.Outages {
		rows = append(rows, []string{cell(o.Server), strconv.FormatInt(o.Incident, 10), cell(o.Check), o.From.UTC().Format(time.RFC3339), o.To.UTC().Format(time.RFC3339),
			mins(o.Down), mins(o.Planned), mins(o.Unplanned), cell(o.OpenedBy), cell(o.ClosedBy), cell(o.Why), cell(strings.Join(o.LateWindows, "; "))})
	}
	t["outages.csv"] = rows
	in := r.Incidents
	rows = [][]string{{"kind", "key", "value"}}
	rows = append(rows, []string{"opened", "", strconv.Itoa(in.Opened)})
	for _, k := range sortedKeys(in.BySeverity) {
		rows = append(rows, []string{"severity", cell(k), strconv.Itoa(in.BySeverity[k])})
	}
	for _, k := range sortedKeys(in.BySource) {
		rows = append(rows, []string{"source", cell(k), strconv.Itoa(in.BySource[k])})
	}
	for _, k := range sortedKeys(in.RolesReached) {
		rows = append(rows, []string{"role_reached", cell(k), strconv.Itoa(in.RolesReached[k])})
	}
	for _, d := range []struct {
		name string
		v    Durations
	}{{"mtta", in.MTTA}, {"mttr", in.MTTR}} {
		rows = append(rows, []string{d.name, "n", strconv.Itoa(d.v.N)}, []string{d.name, "mean_s", secs(d.v.Mean)},
			[]string{d.name, "median_s", secs(d.v.Median)}, []string{d.name, "p90_s", secs(d.v.P90)}, []string{d.name, "max_s", secs(d.v.Max)})
	}
	t["incidents.csv"] = rows
	rows = [][]string{{"id", "server", "check", "severity", "state", "open_for_s"}}
	for _, o := range in.LongestOpen {
		rows = append(rows, []string{strconv.FormatInt(o.ID, 10), cell(o.Server), cell(o.Check), o.Severity, o.State, secs(o.OpenFor)})
	}
	t["open_faults.csv"] = rows
	rows = [][]string{{"server", "check", "severity", "count", "duration_s"}}
	for _, b := range r.Breaches {
		rows = append(rows, []string{cell(b.Server), cell(b.Check), b.Severity, strconv.Itoa(b.Count), secs(b.Duration)})
	}
	t["breaches.csv"] = rows
	rows = [][]string{{"jobnet", "runs", "succeeded", "abnormal"}}
	for _, j := range r.Jobs.ByJobnet {
		rows = append(rows, []string{cell(j.Jobnet), strconv.Itoa(j.Runs), strconv.Itoa(j.Succeeded), strconv.Itoa(j.Abnormal)})
	}
	t["jobs.csv"] = rows
	runs := func(xs []JobRun) [][]string {
		out := [][]string{{"run", "jobnet", "status", "started", "duration_s"}}
		for _, x := range xs {
			out = append(out, []string{cell(x.ID), cell(x.Jobnet), x.Status, x.Started.UTC().Format(time.RFC3339), secs(x.Duration)})
		}
		return out
	}
	t["job_abnormal.csv"], t["job_longest.csv"], t["backups.csv"] = runs(r.Jobs.Abnormal), runs(r.Jobs.Longest), runs(r.Jobs.Backups)
	return t
}

// view adds what the page template needs.
type view struct{ *Report }

func (v view) metric(key string) Metric {
	for _, m := range v.Metrics {
		if m.Key == key {
			return m
		}
	}
	return Metric{Key: key, Title: key}
}

// Chart is a captioned chart of the page.
type Chart struct {
	Caption string
	SVG     template.HTML
}

// GroupCharts are each group's daily trend charts.
func (v view) GroupCharts() []Chart {
	var out []Chart
	for gi, g := range v.Groups {
		for _, m := range v.Metrics {
			days := g.Daily[m.Key]
			if len(days) == 0 {
				continue
			}
			var avg, mx []plot.Point
			for _, d := range days {
				t, _ := time.Parse(time.DateOnly, d.Day)
				avg = append(avg, plot.Point{T: t, V: d.Avg})
				mx = append(mx, plot.Point{T: t, V: d.Max})
			}
			c := plot.TimeChart{ID: fmt.Sprintf("g%d-%s", gi, m.Key), Title: g.Group + " — " + m.Title + " (daily mean and maximum)",
				Unit: m.Unit, Series: []plot.Series{{Name: "daily mean", Points: avg}, {Name: "daily max", Points: mx}},
				From: v.Window.PerfFrom, To: v.Window.PerfTo, ZeroBased: true, Height: 160}
			out = append(out, Chart{c.Title, c.HTML()})
		}
	}
	return out
}

// DayCharts are the picked day's 1-minute charts.
func (v view) DayCharts() []Chart {
	var out []Chart
	for _, p := range v.PickedDay.Peaks {
		if len(p.Points) == 0 {
			continue
		}
		m := v.metric(p.Metric)
		lines := append([]SeriesLine{{Name: p.Server + " " + p.Labels, Points: p.Points}}, p.Others...)
		var ss []plot.Series
		for i, l := range lines {
			var pts []plot.Point
			for _, x := range l.Points {
				pts = append(pts, plot.Point{T: x.T, V: x.Avg, Min: x.Avg, Max: x.Max})
			}
			ss = append(ss, plot.Series{Name: strings.TrimSpace(l.Name), Points: pts, Band: i == 0})
		}
		c := plot.TimeChart{ID: "day-" + p.Metric, Title: m.Title + " on " + v.PickedDay.Day + " (1-minute, busiest " + strconv.Itoa(len(lines)) + ")",
			Unit: m.Unit, Series: ss, From: v.Window.DayFrom, To: v.Window.DayTo, ZeroBased: true, Height: 180, MaxGap: 5 * time.Minute}
		out = append(out, Chart{c.Title, c.HTML()})
	}
	return out
}

// TopChart is the top servers as bars.
func (v view) TopChart() template.HTML {
	var bars []plot.Bar
	for _, t := range v.TopServers {
		bars = append(bars, plot.Bar{Label: t.Server, Value: t.Value})
	}
	m := Metric{Title: "CPU", Unit: "%"}
	if len(v.Metrics) > 0 {
		m = v.Metrics[0]
	}
	return plot.BarChart{ID: "top-servers", Title: "Busiest servers: " + m.Title + " monthly mean", Unit: m.Unit, Bars: bars, Horizontal: true, Values: true}.HTML()
}

// BudgetChart is each server's unplanned downtime in minutes, worst first.
func (v view) BudgetChart() template.HTML {
	var bars []plot.Bar
	for _, s := range v.Availability.Servers[:min(15, len(v.Availability.Servers))] {
		cls := ""
		if s.BudgetLeft < 0 {
			cls = "over"
		}
		bars = append(bars, plot.Bar{Label: s.Server, Value: s.Unplanned.Minutes(), Class: cls})
	}
	return plot.BarChart{ID: "budget", Title: fmt.Sprintf("Unplanned downtime (budget %.0f min)", v.Availability.Budget.Minutes()),
		Unit: "min", Bars: bars, Horizontal: true, Values: true}.HTML()
}

// ServerRows are the per-server table rows, cells formatted.
func (v view) ServerRows() [][]string {
	var out [][]string
	for _, s := range v.Servers {
		row := []string{s.Server, s.Group}
		for _, m := range v.Metrics {
			st, ok := s.Stats[m.Key]
			if !ok || st.Samples == 0 {
				row = append(row, "–")
				continue
			}
			row = append(row, plot.FormatValue(st.Avg, m.Unit)+" / "+plot.FormatValue(st.P95, m.Unit)+" / "+plot.FormatValue(st.Max, m.Unit))
		}
		out = append(out, row)
	}
	return out
}

// GroupRows: group, servers, then each metric's avg / p95 / max.
func (v view) GroupRows() [][]string {
	var out [][]string
	for _, g := range v.Groups {
		row := []string{g.Group, strconv.Itoa(g.Servers)}
		for _, m := range v.Metrics {
			st, ok := g.Stats[m.Key]
			if !ok {
				row = append(row, "–")
				continue
			}
			row = append(row, plot.FormatValue(st.Avg, m.Unit)+" / "+plot.FormatValue(st.P95, m.Unit)+" / "+plot.FormatValue(st.Max, m.Unit))
		}
		out = append(out, row)
	}
	return out
}

// DayGroupRows: the picked day per group, avg / max.
func (v view) DayGroupRows() [][]string {
	var out [][]string
	for _, g := range v.PickedDay.Groups {
		row := []string{g.Group}
		for _, m := range v.Metrics {
			st, ok := g.Stats[m.Key]
			if !ok {
				row = append(row, "–")
				continue
			}
			row = append(row, plot.FormatValue(st.Avg, m.Unit)+" / "+plot.FormatValue(st.Max, m.Unit))
		}
		out = append(out, row)
	}
	return out
}

func (v view) MetricTitles() []string {
	var out []string
	for _, m := range v.Metrics {
		out = append(out, m.Title)
	}
	return out
}

func (v view) Val(key string, x float64) string { return plot.FormatValue(x, v.metric(key).Unit) }
func (v view) MetricTitle(key string) string    { return v.metric(key).Title }

func (v view) Severities() [][2]string { return pairs(v.Incidents.BySeverity) }
func (v view) Sources() [][2]string    { return pairs(v.Incidents.BySource) }
func (v view) Roles() [][2]string      { return pairs(v.Incidents.RolesReached) }

func pairs(m map[string]int) [][2]string {
	var out [][2]string
	for _, k := range sortedKeys(m) {
		out = append(out, [2]string{k, strconv.Itoa(m[k])})
	}
	return out
}

// CSVNames are the CSV files, sorted, with their checksums.
func (v view) CSVNames() [][2]string {
	var out [][2]string
	for _, k := range sortedKeys(v.CSVFiles) {
		out = append(out, [2]string{k, v.CSVFiles[k]})
	}
	return out
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"min":   func(d time.Duration) string { return fmtDur(d) },
	"dur":   func(d time.Duration) string { return d.Round(time.Second).String() },
	"ms":    func(d time.Duration) string { return d.Round(time.Millisecond).String() },
	"pct":   func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) + "%" },
	"num":   func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) },
	"bps":   func(v float64) string { return plot.FormatValue(v, "bit/s") },
	"utc":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"local": func(t time.Time) string { return t.Format("2006-01-02 15:04 MST") },
	"over":  func(d time.Duration) bool { return d < 0 },
	"neg":   func(d time.Duration) time.Duration { return -d },
	"days":  func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) },
	"first": func(n int, xs any) any { return xs },
	"has":   func(xs []string) bool { return len(xs) > 0 },
	"join":  strings.Join,
	"sorted": func(xs []string) []string {
		ys := slices.Clone(xs)
		slices.Sort(ys)
		return ys
	},
}).Parse(pageHTML))
