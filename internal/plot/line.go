package plot

import (
	"html/template"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Point is one value of a series at a time. A NaN or infinite V is a gap.
// Min and Max are the band around V (for instance the minimum and maximum
// of a rollup bucket); they are used when the series has Band set, and a
// NaN or infinite one is left out of the band.
type Point struct {
	T        time.Time
	V        float64
	Min, Max float64
}

// Series is one line of a TimeChart. Points should be in time order (they
// are sorted, stably, if not).
type Series struct {
	Name   string
	Points []Point
	Band   bool // shade each point's Min..Max under the line
}

// TimeChart is a line chart over time. The zero value of each option
// picks a default.
type TimeChart struct {
	ID          string // prefix of element ids, unique within the page; default from the title
	Title, Desc string // Desc defaults to a summary of the data
	Unit        string // of the values: "%", "ms", "B", ...
	Series      []Series

	From, To time.Time      // the time axis; default the span of the data
	Location *time.Location // zone of the time axis; default UTC

	// YFrom and YTo fix the value axis when YTo > YFrom; otherwise it
	// spans the data (and zero when ZeroBased).
	YFrom, YTo float64
	ZeroBased  bool

	// MaxGap is the longest step between two points still joined by the
	// line; 0 means three times the series' typical step, negative never
	// breaks on time.
	MaxGap time.Duration

	Width, Height int // viewBox size; default 600×200

	// Format formats value-axis labels; default FormatValue-like with
	// the axis' step and Unit.
	Format func(v float64) string
}

// column is the aggregate of one series' points in one horizontal unit.
type column struct {
	col        int
	n          int
	first      float64 // x of the first point
	minV, maxV float64
	minX, maxX float64 // x of the min and max points
	lo, hi     float64 // band
	hasBand    bool
}

type segment struct {
	cols []column
}

// HTML renders the chart for an html/template page.
func (c TimeChart) HTML() template.HTML { return template.HTML(c.SVG()) } // #nosec G203 -- everything from outside is escaped

// SVG renders the chart.
func (c TimeChart) SVG() []byte {
	W, H := float64(c.Width), float64(c.Height)
	if c.Width <= 0 {
		W = 600
	}
	if c.Height <= 0 {
		H = 200
	}
	W, H = math.Max(120, math.Min(W, 10000)), math.Max(60, math.Min(H, 10000))
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	id := chartID(c.ID, c.Title, "t")
	unit := clip(c.Unit, MaxLabel)

	series := c.Series
	dropped := 0
	if len(series) > MaxSeries {
		dropped = len(series) - MaxSeries
		series = series[:MaxSeries]
	}
	pts := make([][]Point, len(series))
	for i, s := range series {
		pts[i] = sorted(s.Points)
	}

	// time range
	from, to := c.From, c.To
	if from.IsZero() || to.IsZero() {
		var lo, hi time.Time
		for _, p := range pts {
			for _, q := range p {
				if !finite(q.V) {
					continue
				}
				if lo.IsZero() || q.T.Before(lo) {
					lo = q.T
				}
				if hi.IsZero() || q.T.After(hi) {
					hi = q.T
				}
			}
		}
		if from.IsZero() {
			from = lo
		}
		if to.IsZero() {
			to = hi
		}
	}
	if to.Before(from) {
		from, to = to, from
	}
	if !from.IsZero() && !to.After(from) {
		from, to = from.Add(-30*time.Minute), to.Add(30*time.Minute)
	}

	// legend rows
	names := make([]string, len(series))
	for i, s := range series {
		names[i] = clip(s.Name, MaxLabel)
		if names[i] == "" {
			names[i] = "series " + strconv.Itoa(i+1)
		}
	}
	var legend [][2]float64 // x, y of each legend item
	top := 8.0
	if len(series) > 1 {
		x, y := 4.0, 14.0
		for _, n := range names {
			w := 14 + textWidth(n, fontSize) + 14
			if x+w > W && x > 4 {
				x, y = 4, y+16
			}
			legend = append(legend, [2]float64{x, y})
			x += w
		}
		top = y + 10
	}
	bottom := H - 30
	if bottom-top < 20 {
		bottom = top + 20
		H = bottom + 30
	}

	// columns per series, before the value axis is known
	left0 := 48.0
	plotW0 := W - left0 - 14
	cols := max(1, int(plotW0))
	fs, ts := secs(from), secs(to)
	segs := make([][]segment, len(series))
	vlo, vhi := math.Inf(1), math.Inf(-1)
	hasData := false
	for i, s := range series {
		segs[i] = columns(pts[i], s.Band, fs, ts, cols, c.maxGap(pts[i]))
		for _, sg := range segs[i] {
			for _, cl := range sg.cols {
				hasData = true
				vlo, vhi = math.Min(vlo, cl.minV), math.Max(vhi, cl.maxV)
				if cl.hasBand {
					vlo, vhi = math.Min(vlo, cl.lo), math.Max(vhi, cl.hi)
				}
			}
		}
	}
	fixed := c.YTo > c.YFrom && finite(c.YFrom) && finite(c.YTo)
	if fixed {
		vlo, vhi = c.YFrom, c.YTo
	} else if !hasData {
		vlo, vhi = 0, 1
	} else if c.ZeroBased {
		vlo, vhi = math.Min(vlo, 0), math.Max(vhi, 0)
	}
	ax := newAxis(vlo, vhi, max(2, int((bottom-top)/30)+1), fixed, unit)
	labels, labelW := ax.tickLabels(c.Format, unit)
	left := math.Min(math.Max(24, labelW+10), W/3)
	right := W - 14
	// x of column k's left edge was computed against left0/plotW0; map
	// proportionally onto the final plot area.
	xmap := func(x float64) float64 { return left + x/float64(cols)*(right-left) }

	var desc string
	if c.Desc != "" {
		desc = c.Desc
	} else {
		desc = c.summary(series, names, pts, from, to, loc, unit, dropped)
	}

	var w writer
	w.open(id, "plot plot-time", W, H, false, c.Title, desc)

	// grid and value labels
	w.s(`<g class="plot-axis" stroke="currentColor" stroke-opacity="0.15" fill="none">`)
	for _, v := range ax.ticks {
		y := ax.pos(v, bottom, top)
		w.s(`<line`)
		w.nattr("x1", left)
		w.nattr("x2", right)
		w.nattr("y1", y)
		w.nattr("y2", y)
		w.s(`/>`)
	}
	w.s(`<rect`)
	w.nattr("x", left)
	w.nattr("y", top)
	w.nattr("width", right-left)
	w.nattr("height", bottom-top)
	w.s(` stroke-opacity="0.4"/></g>`)
	w.s(`<g class="plot-labels" fill-opacity="0.8">`)
	for i, v := range ax.ticks {
		w.text(left-5, ax.pos(v, bottom, top)+4, "end", "", labels[i])
	}
	// time ticks
	var ticks []tick
	if !from.IsZero() {
		ticks = timeTicks(from, to, loc, max(2, int((right-left)/80)+1))
	}
	lastEnd := -1e9
	for _, tk := range ticks {
		x := left + (secs(tk.t)-fs)/(ts-fs)*(right-left)
		tw := textWidth(tk.label, fontSize)
		anchor, x0 := "middle", x-tw/2
		if x0 < left-labelW/2 {
			anchor, x0 = "start", x
		}
		if x0+tw > W-2 {
			anchor, x0 = "end", x-tw
		}
		w.s(`<line stroke="currentColor" stroke-opacity="0.4"`)
		w.nattr("x1", x)
		w.nattr("x2", x)
		w.nattr("y1", bottom)
		w.nattr("y2", bottom+4)
		w.s(`/>`)
		if x0 < lastEnd+4 {
			continue // would overlap the previous label
		}
		w.text(x, bottom+16, anchor, "", tk.label)
		lastEnd = x0 + tw
	}
	if !from.IsZero() {
		w.text(2, H-3, "start", "plot-zone", zoneName(to, loc))
	}
	w.s(`</g>`)

	// legend
	for i, p := range legend {
		w.s(`<g class="plot-legend">`)
		w.s(`<rect`)
		w.nattr("x", p[0])
		w.nattr("y", p[1]-9)
		w.s(` width="10" height="10" fill="`, Color(i), `"/>`)
		w.text(p[0]+14, p[1], "", "", names[i])
		w.s(`</g>`)
	}

	if !hasData {
		w.text((left+right)/2, (top+bottom)/2+4, "middle", "plot-empty", "no data")
	}

	// series
	for i := range series {
		col := Color(i)
		w.s(`<g class="plot-series plot-s`, strconv.Itoa(i%len(palette)), `"`)
		w.attr("data-series", names[i])
		w.s(`>`)
		if series[i].Band {
			var d strings.Builder
			for _, sg := range segs[i] {
				bandPath(&d, sg, xmap, ax, bottom, top)
			}
			if d.Len() > 0 {
				w.s(`<path class="plot-band" fill="`, col, `" fill-opacity="0.18" stroke="none" d="`, d.String(), `"/>`)
			}
		}
		var d strings.Builder
		var dots [][2]float64
		for _, sg := range segs[i] {
			linePath(&d, &dots, sg, xmap, ax, bottom, top)
		}
		if d.Len() > 0 {
			w.s(`<path class="plot-line" fill="none" stroke="`, col, `" stroke-width="1.5" stroke-linejoin="round" vector-effect="non-scaling-stroke" d="`, d.String(), `"/>`)
		}
		for _, p := range dots {
			w.s(`<circle class="plot-dot"`)
			w.nattr("cx", p[0])
			w.nattr("cy", p[1])
			w.s(` r="2" fill="`, col, `"/>`)
		}
		w.s(`</g>`)
	}
	w.close()
	return w.b.Bytes()
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// sorted returns pts in time order (pts itself when already so).
func sorted(pts []Point) []Point {
	for i := 1; i < len(pts); i++ {
		if pts[i].T.Before(pts[i-1].T) {
			out := slices.Clone(pts)
			slices.SortStableFunc(out, func(a, b Point) int { return a.T.Compare(b.T) })
			return out
		}
	}
	return pts
}

// maxGap is the longest step joined by the line for pts, in seconds
// (+Inf: never break on time).
func (c TimeChart) maxGap(pts []Point) float64 {
	if c.MaxGap < 0 {
		return math.Inf(1)
	}
	if c.MaxGap > 0 {
		return c.MaxGap.Seconds()
	}
	// three times the median step, from at most 4096 steps spread over the series
	var steps []float64
	stride := max(1, len(pts)/4096)
	for i := stride; i < len(pts); i += stride {
		d := secs(pts[i].T) - secs(pts[i-1].T)
		if d > 0 {
			steps = append(steps, d)
		}
	}
	if len(steps) == 0 {
		return math.Inf(1)
	}
	slices.Sort(steps)
	return 3 * steps[len(steps)/2]
}

// columns reduces a series to per-column aggregates split into segments
// at gaps. x is in columns (0..cols).
func columns(pts []Point, band bool, fs, ts float64, cols int, maxGap float64) []segment {
	var segs []segment
	var cur *column
	var sg segment
	pendingBreak := false
	havePrev := false
	prevT := 0.0
	span := ts - fs
	flush := func() {
		if cur != nil {
			sg.cols = append(sg.cols, *cur)
			cur = nil
		}
	}
	for _, p := range pts {
		t := secs(p.T)
		if t < fs || t > ts {
			continue
		}
		if !finite(p.V) {
			pendingBreak = true
			continue
		}
		if havePrev && t-prevT > maxGap {
			pendingBreak = true
		}
		havePrev, prevT = true, t
		x := 0.0
		if span > 0 {
			x = (t - fs) / span * float64(cols)
		}
		k := min(cols-1, max(0, int(x)))
		v := clampV(p.V)
		if cur != nil && cur.col == k {
			pendingBreak = false // sub-unit gaps are not drawn
			cur.n++
			if v < cur.minV {
				cur.minV, cur.minX = v, x
			}
			if v > cur.maxV {
				cur.maxV, cur.maxX = v, x
			}
		} else {
			flush()
			if pendingBreak && len(sg.cols) > 0 {
				segs = append(segs, sg)
				sg = segment{}
			}
			pendingBreak = false
			cur = &column{col: k, n: 1, first: x, minV: v, maxV: v, minX: x, maxX: x}
		}
		if band {
			for _, b := range [2]float64{p.Min, p.Max} {
				if !finite(b) {
					continue
				}
				b = clampV(b)
				if !cur.hasBand {
					cur.lo, cur.hi, cur.hasBand = b, b, true
				} else {
					cur.lo, cur.hi = math.Min(cur.lo, b), math.Max(cur.hi, b)
				}
			}
			if cur.hasBand {
				cur.lo, cur.hi = math.Min(cur.lo, v), math.Max(cur.hi, v)
			}
		}
	}
	flush()
	if len(sg.cols) > 0 {
		segs = append(segs, sg)
	}
	return segs
}

// linePath appends a segment's line to d (min and max of each column in
// time order), or a dot for a segment of one point.
func linePath(d *strings.Builder, dots *[][2]float64, sg segment, xmap func(float64) float64, ax axis, bottom, top float64) {
	if len(sg.cols) == 1 && sg.cols[0].n == 1 || len(sg.cols) == 1 && sg.cols[0].minV == sg.cols[0].maxV {
		c := sg.cols[0]
		*dots = append(*dots, [2]float64{xmap(c.first), ax.pos(c.minV, bottom, top)})
		return
	}
	cmd := "M"
	put := func(x, v float64) {
		d.WriteString(cmd)
		d.WriteString(num(xmap(x)))
		d.WriteByte(' ')
		d.WriteString(num(ax.pos(v, bottom, top)))
		cmd = "L"
	}
	for _, c := range sg.cols {
		switch {
		case c.minV == c.maxV:
			put(c.minX, c.minV)
		case c.minX <= c.maxX:
			put(c.minX, c.minV)
			put(c.maxX, c.maxV)
		default:
			put(c.maxX, c.maxV)
			put(c.minX, c.minV)
		}
	}
}

// bandPath appends a segment's band as a closed polygon: the upper edge
// forward, the lower edge back.
func bandPath(d *strings.Builder, sg segment, xmap func(float64) float64, ax axis, bottom, top float64) {
	var cs []column
	for _, c := range sg.cols {
		if c.hasBand {
			cs = append(cs, c)
		}
	}
	if len(cs) == 0 {
		return
	}
	cmd := "M"
	for _, c := range cs {
		d.WriteString(cmd)
		d.WriteString(num(xmap(c.first)))
		d.WriteByte(' ')
		d.WriteString(num(ax.pos(c.hi, bottom, top)))
		cmd = "L"
	}
	dx := 0.0
	if len(cs) == 1 { // a lone band: a thin vertical bar
		d.WriteString("h1")
		dx = 1
	}
	for i := len(cs) - 1; i >= 0; i-- {
		d.WriteString("L")
		d.WriteString(num(xmap(cs[i].first) + dx))
		d.WriteByte(' ')
		d.WriteString(num(ax.pos(cs[i].lo, bottom, top)))
	}
	d.WriteString("Z")
}

// summary describes the chart for screen readers.
func (c TimeChart) summary(series []Series, names []string, pts [][]Point, from, to time.Time, loc *time.Location, unit string, dropped int) string {
	var b strings.Builder
	if from.IsZero() {
		b.WriteString("No data.")
		return b.String()
	}
	b.WriteString("From ")
	b.WriteString(from.In(loc).Format("2006-01-02 15:04"))
	b.WriteString(" to ")
	b.WriteString(to.In(loc).Format("2006-01-02 15:04 MST"))
	b.WriteString(".")
	fs, ts := secs(from), secs(to)
	for i := range series {
		lo, hi, last, n := math.Inf(1), math.Inf(-1), math.NaN(), 0
		for _, p := range pts[i] {
			t := secs(p.T)
			if t < fs || t > ts || !finite(p.V) {
				continue
			}
			lo, hi, last = math.Min(lo, p.V), math.Max(hi, p.V), p.V
			n++
		}
		b.WriteString(" ")
		b.WriteString(names[i])
		b.WriteString(": ")
		if n == 0 {
			b.WriteString("no data.")
			continue
		}
		b.WriteString("min " + FormatValue(lo, unit) + ", max " + FormatValue(hi, unit) + ", last " + FormatValue(last, unit) + ".")
	}
	if dropped > 0 {
		b.WriteString(" " + strconv.Itoa(dropped) + " more series not shown.")
	}
	return b.String()
}
