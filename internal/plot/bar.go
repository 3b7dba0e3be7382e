package plot

import (
	"html/template"
	"math"
	"strconv"
	"strings"
)

// Bar is one bar of a BarChart. A NaN or infinite Value draws no bar.
type Bar struct {
	Label string
	Value float64
	// Class is added to the bar's class (letters, digits, '-', '_' and
	// spaces kept), so a page can colour, say, a failed day.
	Class string
}

// BarChart draws bars: vertical ones with the labels under them (daily
// values), or horizontal ones with the labels on the left, largest
// first if the caller sorts them so (a top-N list).
type BarChart struct {
	ID          string
	Title, Desc string
	Unit        string
	Bars        []Bar
	Horizontal  bool

	// YFrom and YTo fix the value axis when YTo > YFrom; otherwise it
	// spans zero and the values.
	YFrom, YTo float64

	Width, Height int // viewBox size; default 600×200. A horizontal chart's height follows its rows.

	// Values draws each bar's value as text (by its end when horizontal,
	// above it when there is room when vertical).
	Values bool

	Format func(v float64) string // value labels; default FormatValue with Unit
}

// HTML renders the chart for an html/template page.
func (c BarChart) HTML() template.HTML { return template.HTML(c.SVG()) } // #nosec G203 -- escaped

func (c BarChart) fmt(v float64, unit string) string {
	if c.Format != nil {
		return clip(c.Format(v), MaxLabel)
	}
	return FormatValue(v, unit)
}

// SVG renders the chart.
func (c BarChart) SVG() []byte {
	W, H := float64(c.Width), float64(c.Height)
	if c.Width <= 0 {
		W = 600
	}
	if c.Height <= 0 {
		H = 200
	}
	W, H = math.Max(120, math.Min(W, 10000)), math.Max(60, math.Min(H, 10000))
	id := chartID(c.ID, c.Title, "b")
	unit := clip(c.Unit, MaxLabel)
	bars := c.Bars
	dropped := 0
	if len(bars) > MaxBars {
		dropped = len(bars) - MaxBars
		bars = bars[:MaxBars]
	}
	labels := make([]string, len(bars))
	vlo, vhi := 0.0, 0.0
	hasData := false
	for i, b := range bars {
		labels[i] = clip(b.Label, MaxLabel)
		if finite(b.Value) {
			hasData = true
			v := clampV(b.Value)
			vlo, vhi = math.Min(vlo, v), math.Max(vhi, v)
		}
	}
	fixed := c.YTo > c.YFrom && finite(c.YFrom) && finite(c.YTo)
	if fixed {
		vlo, vhi = c.YFrom, c.YTo
	}
	desc := c.Desc
	if desc == "" {
		desc = c.summary(bars, labels, unit, dropped)
	}
	var w writer
	if c.Horizontal {
		c.horizontal(&w, id, W, bars, labels, vlo, vhi, fixed, unit, desc, hasData)
	} else {
		c.vertical(&w, id, W, H, bars, labels, vlo, vhi, fixed, unit, desc, hasData)
	}
	return w.b.Bytes()
}

func (c BarChart) vertical(w *writer, id string, W, H float64, bars []Bar, labels []string, vlo, vhi float64, fixed bool, unit, desc string, hasData bool) {
	top, bottom := 8.0, H-24
	if c.Values {
		top = 20
	}
	ax := newAxis(vlo, vhi, max(2, int((bottom-top)/30)+1), fixed, unit)
	tl, lw := ax.tickLabels(c.Format, unit)
	left, right := math.Min(math.Max(24, lw+10), W/3), W-8
	w.open(id, "plot plot-bar", W, H, false, c.Title, desc)
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
	w.s(`</g><g class="plot-labels" fill-opacity="0.8">`)
	for i, v := range ax.ticks {
		w.text(left-5, ax.pos(v, bottom, top)+4, "end", "", tl[i])
	}
	n := max(1, len(bars))
	slot := (right - left) / float64(n)
	maxLW := 0.0
	for _, l := range labels {
		maxLW = math.Max(maxLW, textWidth(l, fontSize))
	}
	every := max(1, int(math.Ceil((maxLW+6)/slot)))
	for i, l := range labels {
		if i%every != 0 {
			continue
		}
		w.text(left+slot*(float64(i)+0.5), H-8, "middle", "", l)
	}
	w.s(`</g>`)
	if !hasData {
		w.text((left+right)/2, (top+bottom)/2+4, "middle", "plot-empty", "no data")
	}
	zero := ax.pos(0, bottom, top)
	bw := math.Max(0.5, slot*0.8)
	if slot-bw < 0.5 && slot > 1 {
		bw = slot - 0.5
	}
	w.s(`<g class="plot-bars plot-s0" fill="`, Color(0), `">`)
	for i, b := range bars {
		if !finite(b.Value) {
			continue
		}
		y := ax.pos(clampV(b.Value), bottom, top)
		y0, y1 := math.Min(y, zero), math.Max(y, zero)
		w.s(`<rect`)
		w.attr("class", barClass(b.Class))
		w.nattr("x", left+slot*float64(i)+(slot-bw)/2)
		w.nattr("y", y0)
		w.nattr("width", bw)
		w.nattr("height", math.Max(y1-y0, 0.5))
		w.s(`><title>`, escape(labels[i]+": "+c.fmt(b.Value, unit)), `</title></rect>`)
	}
	w.s(`</g>`)
	if c.Values {
		w.s(`<g class="plot-values" fill-opacity="0.8" font-size="10">`)
		for i, b := range bars {
			if !finite(b.Value) {
				continue
			}
			s := c.fmt(b.Value, "")
			if textWidth(s, 10) > slot {
				continue
			}
			y := ax.pos(clampV(b.Value), bottom, top)
			w.text(left+slot*(float64(i)+0.5), math.Min(y, zero)-3, "middle", "", s)
		}
		w.s(`</g>`)
	}
	w.close()
}

func (c BarChart) horizontal(w *writer, id string, W float64, bars []Bar, labels []string, vlo, vhi float64, fixed bool, unit, desc string, hasData bool) {
	const row = 22.0
	n := max(1, len(bars))
	H := 8 + row*float64(n) + 8
	lw := 0.0
	for _, l := range labels {
		lw = math.Max(lw, textWidth(l, fontSize))
	}
	left := math.Min(lw+8, W*0.4)
	vals := make([]string, len(bars))
	vw := 0.0
	for i, b := range bars {
		vals[i] = c.fmt(b.Value, unit)
		vw = math.Max(vw, textWidth(vals[i], fontSize))
	}
	right := W - 4
	if c.Values {
		right = math.Max(left+20, W-vw-8)
	}
	ax := newAxis(vlo, vhi, 2, fixed, unit)
	if !fixed { // bars from zero to the largest, not to a nice end
		ax.lo, ax.hi = vlo, vhi
		if ax.hi == ax.lo {
			ax.hi = ax.lo + 1
		}
	}
	w.open(id, "plot plot-bar plot-hbar", W, H, false, c.Title, desc)
	if !hasData {
		w.text(W/2, H/2+4, "middle", "plot-empty", "no data")
	}
	zero := ax.pos(0, left, right)
	w.s(`<g class="plot-labels" fill-opacity="0.8">`)
	for i, l := range labels {
		for textWidth(l, fontSize) > left-6 && l != "" && l != "…" {
			r := []rune(strings.TrimSuffix(l, "…"))
			l = string(r[:len(r)-1]) + "…"
		}
		w.text(left-6, 8+row*float64(i)+row/2+4, "end", "", l)
	}
	w.s(`</g><g class="plot-bars plot-s0" fill="`, Color(0), `">`)
	for i, b := range bars {
		if !finite(b.Value) {
			continue
		}
		x := ax.pos(clampV(b.Value), left, right)
		x0, x1 := math.Min(x, zero), math.Max(x, zero)
		w.s(`<rect`)
		w.attr("class", barClass(b.Class))
		w.nattr("x", x0)
		w.nattr("y", 8+row*float64(i)+3)
		w.nattr("width", math.Max(x1-x0, 0.5))
		w.nattr("height", row-6)
		w.s(`><title>`, escape(labels[i]+": "+vals[i]), `</title></rect>`)
	}
	w.s(`</g>`)
	if c.Values {
		w.s(`<g class="plot-values" fill-opacity="0.8">`)
		for i, b := range bars {
			if !finite(b.Value) {
				continue
			}
			x := math.Max(ax.pos(clampV(b.Value), left, right), zero)
			w.text(x+4, 8+row*float64(i)+row/2+4, "", "", vals[i])
		}
		w.s(`</g>`)
	}
	w.close()
}

func barClass(extra string) string {
	var b strings.Builder
	b.WriteString("plot-bar")
	word := false
	for _, r := range extra {
		ok := r < 0x80 && (r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		switch {
		case ok:
			if !word {
				b.WriteByte(' ')
				word = true
			}
			b.WriteRune(r)
		default:
			word = false
		}
		if b.Len() > 200 {
			break
		}
	}
	return b.String()
}

func (c BarChart) summary(bars []Bar, labels []string, unit string, dropped int) string {
	if len(bars) == 0 {
		return "No data."
	}
	var b strings.Builder
	b.WriteString(strconv.Itoa(len(bars)))
	b.WriteString(" bars.")
	for i, br := range bars {
		if i == 50 {
			b.WriteString(" …")
			break
		}
		b.WriteString(" ")
		b.WriteString(labels[i])
		b.WriteString(": ")
		b.WriteString(c.fmt(br.Value, unit))
		b.WriteString(".")
	}
	if dropped > 0 {
		b.WriteString(" " + strconv.Itoa(dropped) + " more not shown.")
	}
	return b.String()
}
