package plot

import (
	"html/template"
	"math"
	"strings"
	"time"
)

// Sparkline is a small line without axes, for a table cell: evenly spaced
// values (NaN or infinite ones are gaps) and a dot on the last one.
type Sparkline struct {
	ID            string
	Title         string
	Unit          string // for the description
	Values        []float64
	Width, Height int // default 100×24; drawn at this size
}

// HTML renders the sparkline for an html/template page.
func (s Sparkline) HTML() template.HTML { return template.HTML(s.SVG()) } // #nosec G203 -- escaped

// SVG renders the sparkline.
func (s Sparkline) SVG() []byte {
	W, H := float64(s.Width), float64(s.Height)
	if s.Width <= 0 {
		W = 100
	}
	if s.Height <= 0 {
		H = 24
	}
	W, H = math.Max(10, math.Min(W, 2000)), math.Max(6, math.Min(H, 1000))
	id := chartID(s.ID, s.Title, "s")
	unit := clip(s.Unit, MaxLabel)
	pts := make([]Point, len(s.Values))
	lo, hi, last, n := math.Inf(1), math.Inf(-1), math.NaN(), 0
	for i, v := range s.Values {
		pts[i] = Point{T: time.Unix(int64(i), 0), V: v}
		if finite(v) {
			lo, hi, last = math.Min(lo, v), math.Max(hi, v), v
			n++
		}
	}
	desc := "No data."
	if n > 0 {
		desc = "min " + FormatValue(lo, unit) + ", max " + FormatValue(hi, unit) + ", last " + FormatValue(last, unit) + "."
	}
	var w writer
	w.open(id, "plot plot-spark", W, H, true, s.Title, desc)
	if n > 0 {
		const pad = 3.0
		cols := max(1, int(W-2*pad))
		span := float64(max(1, len(s.Values)-1))
		segs := columns(pts, false, 0, span, cols, math.Inf(1))
		ax := axis{lo: clampV(lo), hi: clampV(hi)}
		xmap := func(x float64) float64 {
			if len(s.Values) == 1 {
				return W / 2
			}
			return pad + x/float64(cols)*(W-2*pad)
		}
		var d strings.Builder
		var dots [][2]float64
		for _, sg := range segs {
			linePath(&d, &dots, sg, xmap, ax, H-pad, pad)
		}
		w.s(`<g class="plot-series plot-s0">`)
		if d.Len() > 0 {
			w.s(`<path class="plot-line" fill="none" stroke="`, Color(0), `" stroke-width="1.25" stroke-linejoin="round" vector-effect="non-scaling-stroke" d="`, d.String(), `"/>`)
		}
		for _, p := range dots {
			w.s(`<circle class="plot-dot"`)
			w.nattr("cx", p[0])
			w.nattr("cy", p[1])
			w.s(` r="1.5" fill="`, Color(0), `"/>`)
		}
		// the last value
		li := len(s.Values) - 1
		for li >= 0 && !finite(s.Values[li]) {
			li--
		}
		if li >= 0 && li == len(s.Values)-1 {
			x := float64(li) / span * float64(cols)
			w.s(`<circle class="plot-last"`)
			w.nattr("cx", xmap(x))
			w.nattr("cy", ax.pos(clampV(s.Values[li]), H-pad, pad))
			w.s(` r="2" fill="`, Color(0), `"/>`)
		}
		w.s(`</g>`)
	}
	w.close()
	return w.b.Bytes()
}
