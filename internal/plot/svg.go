package plot

import (
	"bytes"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on what a chart draws.
const (
	MaxSeries = 32  // series of a TimeChart beyond this are left out
	MaxBars   = 400 // bars of a BarChart beyond this are left out
	MaxLabel  = 80  // runes of a label, name or unit; longer ones end in "…"
	MaxTitle  = 300 // runes of a title or description

	fontSize   = 12.0
	defaultFnt = `system-ui,-apple-system,"Segoe UI","Hiragino Sans","Noto Sans CJK JP",sans-serif`
)

// palette is the Okabe–Ito palette without black and yellow: readable on
// white and on dark backgrounds, distinguishable with colour blindness.
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00"}

// Color returns the stroke colour of series i.
func Color(i int) string { return palette[((i%len(palette))+len(palette))%len(palette)] }

// writer builds an SVG document.
type writer struct{ b bytes.Buffer }

func (w *writer) s(parts ...string) {
	for _, p := range parts {
		w.b.WriteString(p)
	}
}

// n writes a coordinate.
func (w *writer) n(x float64) { w.b.WriteString(num(x)) }

// attr writes ` name="value"` with value escaped.
func (w *writer) attr(name, value string) {
	w.b.WriteByte(' ')
	w.b.WriteString(name)
	w.b.WriteString(`="`)
	w.b.WriteString(escape(value))
	w.b.WriteByte('"')
}

// nattr writes ` name="coordinate"`.
func (w *writer) nattr(name string, x float64) {
	w.b.WriteByte(' ')
	w.b.WriteString(name)
	w.b.WriteString(`="`)
	w.b.WriteString(num(x))
	w.b.WriteByte('"')
}

// text writes a <text> element.
func (w *writer) text(x, y float64, anchor, class, s string) {
	w.s("<text")
	w.nattr("x", x)
	w.nattr("y", y)
	if anchor != "" && anchor != "start" {
		w.s(` text-anchor="`, anchor, `"`)
	}
	if class != "" {
		w.attr("class", class)
	}
	w.s(">", escape(s), "</text>")
}

// num formats a coordinate rounded to 0.1, without a trailing ".0", never
// "-0", NaN or infinity (those become 0, and callers never pass them).
func num(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "0"
	}
	v := math.Round(x*10) / 10
	if v == 0 {
		return "0"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// escape makes s safe as XML character data and attribute value: the
// five markup characters become entities; control characters, bidi
// overrides, non-characters and invalid UTF-8 become U+FFFD.
func escape(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '&' || c == '<' || c == '>' || c == '"' || c == '\'' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			b.WriteRune(utf8.RuneError)
			i++
			continue
		}
		i += size
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&#39;")
		default:
			if badRune(r) {
				b.WriteRune(utf8.RuneError)
			} else {
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}

func badRune(r rune) bool {
	switch {
	case r < 0x20 || (r >= 0x7f && r <= 0x9f):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true // bidi controls: they could reorder what a label shows
	case r >= 0xd800 && r <= 0xdfff, r == 0xfffe, r == 0xffff:
		return true
	case r >= 0xfdd0 && r <= 0xfdef:
		return true
	}
	return false
}

// clip shortens s to at most n runes, ending in "…" when cut, and
// replaces line breaks with spaces.
func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "\r\n\t") {
		s = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ", "\t", " ").Replace(s)
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	cut := 0
	for i := range s {
		if cut == n-1 {
			return s[:i] + "…"
		}
		cut++
	}
	return s
}

// textWidth estimates the drawn width of s at size: wide (CJK, kana,
// Hangul, fullwidth) characters one em, others about 0.6 em.
func textWidth(s string, size float64) float64 {
	w := 0.0
	for _, r := range s {
		if wide(r) {
			w += 1
		} else {
			w += 0.6
		}
	}
	return w * size
}

func wide(r rune) bool {
	return r >= 0x1100 && (r <= 0x115f || (r >= 0x2e80 && r <= 0xa4cf) || (r >= 0xac00 && r <= 0xd7a3) ||
		(r >= 0xf900 && r <= 0xfaff) || (r >= 0xfe30 && r <= 0xfe4f) || (r >= 0xff00 && r <= 0xff60) ||
		(r >= 0xffe0 && r <= 0xffe6) || (r >= 0x1f300 && r <= 0x1faff) || (r >= 0x20000 && r <= 0x3fffd))
}

// chartID is the id prefix of a chart: the caller's, cleaned to
// [A-Za-z0-9_-], or one derived from the title.
func chartID(id, title, kind string) string {
	var b strings.Builder
	for _, r := range id {
		if r < 0x80 && (r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		}
		if b.Len() >= 64 {
			break
		}
	}
	if b.Len() > 0 {
		s := b.String()
		if s[0] >= '0' && s[0] <= '9' || s[0] == '-' {
			s = "p" + s
		}
		return s
	}
	h := fnv.New32a()
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(title))
	return "plot-" + kind + "-" + strconv.FormatUint(uint64(h.Sum32()), 36)
}

// open writes the <svg> start tag with title and desc. fixed keeps the
// size (sparklines); otherwise the chart fills its container's width.
func (w *writer) open(id, class string, width, height float64, fixed bool, title, desc string) {
	w.s(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 `)
	w.n(width)
	w.s(" ")
	w.n(height)
	w.s(`"`)
	if fixed {
		w.nattr("width", width)
		w.nattr("height", height)
	} else {
		w.s(` width="100%" preserveAspectRatio="xMidYMid meet" style="max-width:100%;height:auto"`)
	}
	w.attr("class", class)
	w.attr("id", id)
	w.s(` role="img" aria-labelledby="`, id, `-t `, id, `-d" font-size="`)
	w.n(fontSize)
	w.s(`" font-family='`, defaultFnt, `' fill="currentColor">`)
	w.s(`<title id="`, id, `-t">`, escape(clip(title, MaxTitle)), `</title>`)
	w.s(`<desc id="`, id, `-d">`, escape(clip(desc, MaxTitle*4)), `</desc>`)
}

func (w *writer) close() { w.s("</svg>") }
