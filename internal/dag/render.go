package dag

import (
	"bytes"
	"html/template"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/unyo-ops/unyo/jobnet/runstate"
)

// StateColors is the colour of each job state (Okabe–Ito based; the
// state's name is written in the box too).
var StateColors = map[string]string{
	"":                             "#8A8F98", // a definition, no run
	string(runstate.Waiting):       "#8A8F98",
	string(runstate.Ready):         "#56B4E9",
	string(runstate.Held):          "#E69F00",
	string(runstate.Running):       "#0072B2",
	string(runstate.EndedNormal):   "#009E73",
	string(runstate.EndedWarning):  "#C9A400",
	string(runstate.EndedAbnormal): "#D55E00",
	string(runstate.Skipped):       "#8A8F98",
	string(runstate.Killed):        "#882255",
	string(runstate.Lost):          "#AA4499",
}

// States lists the job states in the order a legend shows them.
var States = []string{
	string(runstate.Waiting), string(runstate.Ready), string(runstate.Held), string(runstate.Running),
	string(runstate.EndedNormal), string(runstate.EndedWarning), string(runstate.EndedAbnormal),
	string(runstate.Skipped), string(runstate.Killed), string(runstate.Lost),
}

func color(state string) string {
	if c, ok := StateColors[state]; ok {
		return c
	}
	return "#8A8F98"
}

// Options of a drawing.
type Options struct {
	ID       string // id of the <svg> (letters, digits, '-', '_'); default "dag"
	IDPrefix string // before each job's "job-<name>" id
	Title    string
	// Href, when set, links each job's box (for instance to its output).
	Href func(job string) string
}

// SVG draws the graph.
func (g *Graph) SVG(o Options) []byte {
	id := cleanID(o.ID)
	if id == "" {
		id = "dag"
	}
	var b bytes.Buffer
	w := func(ss ...string) {
		for _, s := range ss {
			b.WriteString(s)
		}
	}
	title := o.Title
	if title == "" {
		title = "Jobs and their needs"
	}
	w(`<svg xmlns="http://www.w3.org/2000/svg" class="dag" id="`, id, `" viewBox="0 0 `, num(g.Width), " ", num(g.Height),
		`" width="`, num(g.Width), `" height="`, num(g.Height), `" role="img" aria-labelledby="`, id, `-t `, id, `-d"`,
		` font-size="12" font-family='system-ui,-apple-system,"Segoe UI","Hiragino Sans","Noto Sans CJK JP",sans-serif' fill="currentColor">`)
	w(`<title id="`, id, `-t">`, esc(clip(title, 300)), `</title><desc id="`, id, `-d">`, esc(g.summary()), `</desc>`)
	w(`<defs><marker id="`, id, `-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto"><path d="M0 0L8 4L0 8z" fill="#8A8F98"/></marker></defs>`)
	w(`<g class="dag-edges" fill="none" stroke="#8A8F98" stroke-width="1.25">`)
	for _, e := range g.Edges {
		w(`<path class="dag-edge" data-from="`, esc(e.From), `" data-to="`, esc(e.To), `" marker-end="url(#`, id, `-arrow)" d="`, edgePath(e.Points), `"/>`)
	}
	w(`</g><g class="dag-jobs">`)
	for _, j := range g.Jobs {
		st := j.State
		c := color(st)
		w(`<g id="`, esc(cleanPrefix(o.IDPrefix)+"job-"+j.Name), `" class="dag-job dag-`, cleanID(st), `" data-job="`, esc(j.Name),
			`" data-state="`, esc(st), `" transform="translate(`, num(j.X), " ", num(j.Y), `)">`)
		tip := j.Name
		if st != "" {
			tip += ": " + st
		}
		if j.Note != "" {
			tip += " — " + j.Note
		}
		w(`<title>`, esc(clip(tip, 300)), `</title>`)
		href := ""
		if o.Href != nil {
			href = o.Href(j.Name)
		}
		if href != "" {
			w(`<a href="`, esc(href), `">`)
		}
		dash := ""
		if st == string(runstate.Skipped) || st == string(runstate.Held) {
			dash = ` stroke-dasharray="4 3"`
		}
		sw := "1.5"
		if st == string(runstate.Running) {
			sw = "3"
		}
		w(`<rect width="`, num(NodeW), `" height="`, num(NodeH), `" rx="6" fill="`, c, `" fill-opacity="0.22" stroke="`, c,
			`" stroke-width="`, sw, `"`, dash, `/>`)
		w(`<text x="8" y="16">`, esc(fitText(j.Name, NodeW-16, 12)), `</text>`)
		label := st
		if label == "" {
			label = "—"
		}
		w(`<text x="8" y="32" font-size="11" fill-opacity="0.8" class="dag-state">`, esc(fitText(label, NodeW-16, 11)), `</text>`)
		if href != "" {
			w(`</a>`)
		}
		w(`</g>`)
	}
	w(`</g></svg>`)
	return b.Bytes()
}

// HTML draws the graph for an html/template page.
func (g *Graph) HTML(o Options) template.HTML { return template.HTML(g.SVG(o)) } // #nosec G203 -- escaped

// Render lays out jobs and draws them.
func Render(jobs []Job, o Options) ([]byte, error) {
	g, err := Layout(jobs)
	if err != nil {
		return nil, err
	}
	return g.SVG(o), nil
}

func (g *Graph) summary() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(len(g.Jobs)) + " jobs in " + strconv.Itoa(g.Layers) + " layers, " + strconv.Itoa(len(g.Edges)) + " needs.")
	counts := map[string]int{}
	for _, j := range g.Jobs {
		counts[j.State]++
	}
	for _, s := range States {
		if n := counts[s]; n > 0 {
			b.WriteString(" " + s + ": " + strconv.Itoa(n) + ".")
		}
	}
	return b.String()
}

// edgePath draws an edge: curves across the gaps between layers,
// straight down through a layer.
func edgePath(pts [][2]float64) string {
	var b strings.Builder
	b.WriteString("M" + num(pts[0][0]) + " " + num(pts[0][1]))
	for i := 1; i < len(pts); i++ {
		p, q := pts[i-1], pts[i]
		if p[0] == q[0] {
			b.WriteString("V" + num(q[1]))
			continue
		}
		my := (p[1] + q[1]) / 2
		b.WriteString("C" + num(p[0]) + " " + num(my) + " " + num(q[0]) + " " + num(my) + " " + num(q[0]) + " " + num(q[1]))
	}
	return b.String()
}

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

func cleanID(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r < 0x80 && (r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		}
		if b.Len() >= 64 {
			break
		}
	}
	return b.String()
}

func cleanPrefix(s string) string { return cleanID(s) }

// esc escapes text for XML; control, bidi and invalid characters become
// U+FFFD.
func esc(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteRune(utf8.RuneError)
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '"':
			b.WriteString("&quot;")
		case r == '\'':
			b.WriteString("&#39;")
		case r < 0x20 || (r >= 0x7f && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) ||
			r == 0x200e || r == 0x200f || r == 0x061c || r == 0xfffe || r == 0xffff:
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// fitText shortens s with "…" until its estimated width at size fits w.
func fitText(s string, w, size float64) string {
	width := func(s string) float64 {
		x := 0.0
		for _, r := range s {
			if r >= 0x1100 && (r <= 0x115f || r >= 0x2e80 && r <= 0xa4cf || r >= 0xac00 && r <= 0xd7a3 || r >= 0xf900 && r <= 0xfaff || r >= 0xff00 && r <= 0xff60) {
				x += size
			} else {
				x += 0.6 * size
			}
		}
		return x
	}
	if width(s) <= w {
		return s
	}
	r := []rune(s)
	for len(r) > 1 && width(string(r)+"…") > w {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}
