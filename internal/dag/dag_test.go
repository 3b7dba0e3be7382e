package dag

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// randomNet makes n jobs, each needing up to three earlier ones (some far
// back, so edges span layers), names in a shuffled order.
func randomNet(n int, seed uint64) []Job {
	r := rand.New(rand.NewPCG(seed, 1))
	jobs := make([]Job, n)
	for i := range jobs {
		jobs[i].Name = fmt.Sprintf("job%03d", i)
		if i == 0 {
			continue
		}
		for k := 0; k < 1+r.IntN(3); k++ {
			var u int
			if r.IntN(4) == 0 {
				u = r.IntN(i)
			} else {
				u = max(0, i-1-r.IntN(8))
			}
			if !slices.Contains(jobs[i].Needs, jobs[u].Name) {
				jobs[i].Needs = append(jobs[i].Needs, jobs[u].Name)
			}
		}
		jobs[i].State = States[r.IntN(len(States))]
	}
	r.Shuffle(len(jobs), func(a, b int) { jobs[a], jobs[b] = jobs[b], jobs[a] })
	return jobs
}

func checkLayout(t *testing.T, jobs []Job, g *Graph) {
	t.Helper()
	if len(g.Jobs) != len(jobs) {
		t.Fatalf("%d jobs placed of %d", len(g.Jobs), len(jobs))
	}
	by := map[string]Placed{}
	for i, p := range g.Jobs {
		if p.Name != jobs[i].Name {
			t.Fatalf("job %d is %q, want %q (input order)", i, p.Name, jobs[i].Name)
		}
		by[p.Name] = p
	}
	// every edge points to a later layer; a job sits right under its deepest need
	for _, p := range g.Jobs {
		deepest := -1
		for _, n := range p.Needs {
			if by[n].Layer >= p.Layer {
				t.Errorf("edge %s → %s goes from layer %d to %d", n, p.Name, by[n].Layer, p.Layer)
			}
			deepest = max(deepest, by[n].Layer)
		}
		if p.Layer != deepest+1 {
			t.Errorf("%s in layer %d, its deepest need in %d", p.Name, p.Layer, deepest)
		}
		if p.X < 0 || p.Y < 0 || p.X+NodeW > g.Width || p.Y+NodeH > g.Height {
			t.Errorf("%s at %v,%v outside %vx%v", p.Name, p.X, p.Y, g.Width, g.Height)
		}
	}
	// no two boxes overlap
	for i, a := range g.Jobs {
		for _, b := range g.Jobs[i+1:] {
			if a.X < b.X+NodeW && b.X < a.X+NodeW && a.Y < b.Y+NodeH && b.Y < a.Y+NodeH {
				t.Errorf("%s (%v,%v) and %s (%v,%v) overlap", a.Name, a.X, a.Y, b.Name, b.X, b.Y)
			}
		}
	}
	// edges run from the need's bottom to the job's top
	needs := 0
	for _, j := range jobs {
		needs += len(j.Needs)
	}
	if len(g.Edges) != needs {
		t.Errorf("%d edges for %d needs", len(g.Edges), needs)
	}
	for _, e := range g.Edges {
		f, to := by[e.From], by[e.To]
		first, last := e.Points[0], e.Points[len(e.Points)-1]
		if first != [2]float64{f.X + NodeW/2, f.Y + NodeH} || last != [2]float64{to.X + NodeW/2, to.Y} {
			t.Errorf("edge %s → %s from %v to %v", e.From, e.To, first, last)
		}
		if len(e.Points) != 2+2*(to.Layer-f.Layer-1) {
			t.Errorf("edge %s → %s has %d points over %d layers", e.From, e.To, len(e.Points), to.Layer-f.Layer)
		}
		// virtual points never sit inside a job's box
		for _, p := range e.Points[1 : len(e.Points)-1] {
			for _, j := range g.Jobs {
				if p[0] > j.X && p[0] < j.X+NodeW && p[1] >= j.Y && p[1] <= j.Y+NodeH {
					t.Errorf("edge %s → %s passes through %s", e.From, e.To, j.Name)
				}
			}
		}
	}
}

func TestLayoutSmall(t *testing.T) {
	jobs := []Job{
		{Name: "extract"},
		{Name: "backup-db"},
		{Name: "transform", Needs: []string{"extract"}},
		{Name: "load", Needs: []string{"transform", "backup-db"}},
		{Name: "report", Needs: []string{"load", "extract", "extract"}}, // a repeated need counts once
	}
	g, err := Layout(jobs)
	if err != nil {
		t.Fatal(err)
	}
	jobs[4].Needs = []string{"load", "extract"}
	checkLayout(t, jobs, g)
	if g.Layers != 4 {
		t.Errorf("%d layers", g.Layers)
	}
	want := map[string]int{"extract": 0, "backup-db": 0, "transform": 1, "load": 2, "report": 3}
	for _, p := range g.Jobs {
		if p.Layer != want[p.Name] {
			t.Errorf("%s in layer %d, want %d", p.Name, p.Layer, want[p.Name])
		}
	}
}

// crossingsOf counts crossings of the drawn edges between adjacent
// layers' virtual points and boxes, by their x order.
func crossingsOf(g *Graph) int {
	type seg struct{ y, x1, x2 float64 }
	var segs []seg
	for _, e := range g.Edges {
		for i := 0; i+1 < len(e.Points); i += 2 {
			segs = append(segs, seg{e.Points[i][1], e.Points[i][0], e.Points[i+1][0]})
		}
	}
	n := 0
	for i, a := range segs {
		for _, b := range segs[i+1:] {
			if a.y == b.y && (a.x1-b.x1)*(a.x2-b.x2) < 0 {
				n++
			}
		}
	}
	return n
}

func TestOrderRemovesCrossings(t *testing.T) {
	// given in an order that crosses every pair: a→z, b→y, c→x
	jobs := []Job{{Name: "a"}, {Name: "b"}, {Name: "c"},
		{Name: "x", Needs: []string{"c"}}, {Name: "y", Needs: []string{"b"}}, {Name: "z", Needs: []string{"a"}},
		{Name: "w", Needs: []string{"x", "z"}}}
	g, err := Layout(jobs)
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, jobs, g)
	if c := crossingsOf(g); c != 0 {
		t.Errorf("%d crossings, want 0", c)
	}
	// a job with one need sits straight under it
	by := map[string]Placed{}
	for _, p := range g.Jobs {
		by[p.Name] = p
	}
	if by["y"].X != by["b"].X {
		t.Errorf("y at x %v, its only need b at %v", by["y"].X, by["b"].X)
	}
}

func TestLayoutLarge(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		jobs := randomNet(300, seed)
		g, err := Layout(jobs)
		if err != nil {
			t.Fatal(err)
		}
		checkLayout(t, jobs, g)
	}
}

func TestOrderingHelps(t *testing.T) {
	jobs := randomNet(300, 4)
	g, err := Layout(jobs)
	if err != nil {
		t.Fatal(err)
	}
	orderLayers = func(vs []vertex, ls [][]int) {
		for _, l := range ls {
			for p, v := range l {
				vs[v].pos = p
			}
		}
	}
	defer func() { orderLayers = order }()
	plain, err := Layout(jobs)
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, jobs, plain)
	if a, b := crossingsOf(g), crossingsOf(plain); a*2 > b {
		t.Errorf("%d crossings ordered, %d in the given order: want at most half", a, b)
	} else {
		t.Logf("%d crossings ordered, %d in the given order", a, b)
	}
}

func TestDeterministic(t *testing.T) {
	jobs := randomNet(120, 7)
	a, err := Render(jobs, Options{ID: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		b, _ := Render(randomNet(120, 7), Options{ID: "run-1"})
		if !bytes.Equal(a, b) {
			t.Fatal("two renderings differ")
		}
	}
}

func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		jobs []Job
		err  error
		text string
	}{
		{"cycle", []Job{{Name: "a", Needs: []string{"c"}}, {Name: "b", Needs: []string{"a"}}, {Name: "c", Needs: []string{"b"}}, {Name: "d"}},
			ErrCycle, "dag: cycle: a → b → c → a"},
		{"cycle behind a good job", []Job{{Name: "ok"}, {Name: "x", Needs: []string{"ok", "y"}}, {Name: "y", Needs: []string{"x"}}, {Name: "z", Needs: []string{"x"}}},
			ErrCycle, "dag: cycle: x → y → x"},
		{"self", []Job{{Name: "a", Needs: []string{"a"}}}, ErrCycle, "dag: cycle: a → a"},
		{"unknown", []Job{{Name: "a", Needs: []string{"nope"}}}, ErrUnknown, `"a" needs "nope"`},
		{"duplicate", []Job{{Name: "a"}, {Name: "a"}}, ErrDuplicate, `"a"`},
		{"empty", []Job{{Name: "a"}, {Name: ""}}, ErrEmpty, "jobs[1]"},
		{"too many", make([]Job, MaxJobs+1), ErrTooLarge, "5001 jobs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Layout(tc.jobs)
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err %v, want %v with %q", err, tc.err, tc.text)
			}
		})
	}
	// a long chain with every job also needing the first: too many virtual points
	var jobs []Job
	for i := range 400 {
		j := Job{Name: fmt.Sprintf("j%d", i)}
		if i > 0 {
			j.Needs = []string{fmt.Sprintf("j%d", i-1), "j0"}
		}
		jobs = append(jobs, j)
	}
	if _, err := Layout(jobs); !errors.Is(err, ErrTooLarge) {
		t.Errorf("err %v, want ErrTooLarge", err)
	}
}

type xnode struct {
	name string
	attr map[string]string
	text string
	kids []*xnode
	up   *xnode
}

func parse(t *testing.T, b []byte) *xnode {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var root, cur *xnode
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse: %v", err)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			n := &xnode{name: tk.Name.Local, attr: map[string]string{}, up: cur}
			for _, a := range tk.Attr {
				n.attr[a.Name.Local] = a.Value
			}
			if cur == nil {
				root = n
			} else {
				cur.kids = append(cur.kids, n)
			}
			cur = n
		case xml.EndElement:
			cur = cur.up
		case xml.CharData:
			if cur != nil {
				cur.text += string(tk)
			}
		}
	}
	return root
}

func (n *xnode) all(name, class string) []*xnode {
	var out []*xnode
	if n.name == name && (class == "" || strings.Contains(" "+n.attr["class"]+" ", " "+class+" ")) {
		out = append(out, n)
	}
	for _, k := range n.kids {
		out = append(out, k.all(name, class)...)
	}
	return out
}

func TestSVG(t *testing.T) {
	jobs := []Job{
		{Name: "extract", State: "ended-normal", Note: "code 0"},
		{Name: "transform", Needs: []string{"extract"}, State: "running"},
		{Name: "load", Needs: []string{"transform"}, State: "waiting"},
		{Name: "odd<&\"'\u202e>", Needs: []string{"extract"}, State: "weird state!"},
	}
	b, err := Render(jobs, Options{ID: "run-42", Title: "nightly <run>", Href: func(j string) string { return "/runs/42/jobs/" + j + "?x=1&y=2" }})
	if err != nil {
		t.Fatal(err)
	}
	root := parse(t, b)
	if root.name != "svg" || root.attr["id"] != "run-42" || root.attr["role"] != "img" || root.attr["aria-labelledby"] != "run-42-t run-42-d" {
		t.Fatalf("root %v", root.attr)
	}
	if tt := root.all("title", ""); tt[0].text != "nightly <run>" {
		t.Errorf("title %q", tt[0].text)
	}
	if d := root.all("desc", ""); !strings.Contains(d[0].text, "4 jobs in 3 layers, 3 needs.") || !strings.Contains(d[0].text, "running: 1.") {
		t.Errorf("desc %q", d[0].text)
	}
	gs := root.all("g", "dag-job")
	if len(gs) != 4 {
		t.Fatalf("%d job elements", len(gs))
	}
	for i, g := range gs {
		if g.attr["id"] != "job-"+jobs[i].Name && i < 3 || g.attr["data-state"] != jobs[i].State || g.attr["data-job"] != jobs[i].Name && i < 3 {
			t.Errorf("job element %v", g.attr)
		}
		if len(g.all("rect", "")) != 1 || len(g.all("a", "")) != 1 {
			t.Errorf("job %d: %d rects, %d links", i, len(g.all("rect", "")), len(g.all("a", "")))
		}
	}
	if gs[1].attr["class"] != "dag-job dag-running" || gs[3].attr["class"] != "dag-job dag-weirdstate" {
		t.Errorf("classes %q %q", gs[1].attr["class"], gs[3].attr["class"])
	}
	if href := gs[0].all("a", "")[0].attr["href"]; href != "/runs/42/jobs/extract?x=1&y=2" {
		t.Errorf("href %q", href)
	}
	if strings.Contains(string(b), "\u202e") {
		t.Error("bidi override not replaced")
	}
	if got := gs[0].all("title", "")[0].text; got != "extract: ended-normal — code 0" {
		t.Errorf("tooltip %q", got)
	}
	if got := gs[1].all("text", "dag-state")[0].text; got != "running" {
		t.Errorf("state text %q", got)
	}
	edges := root.all("path", "dag-edge")
	if len(edges) != 3 || edges[0].attr["data-from"] != "extract" || edges[0].attr["data-to"] != "transform" ||
		edges[0].attr["marker-end"] != "url(#run-42-arrow)" {
		t.Errorf("edges %v", edges)
	}
	// a long name is shortened in the box, whole in the tooltip
	long := strings.Repeat("x", 60)
	b, _ = Render([]Job{{Name: long}}, Options{})
	root = parse(t, b)
	if txt := root.all("text", "")[0].text; !strings.HasSuffix(txt, "…") || len(txt) > 40 {
		t.Errorf("box text %q", txt)
	}
	if root.all("g", "dag-job")[0].attr["id"] != "job-"+long {
		t.Error("id not the whole name")
	}
	// empty graph
	parse(t, must(Render(nil, Options{})))
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func BenchmarkLayoutRender300(b *testing.B) {
	jobs := randomNet(300, 1)
	b.ReportAllocs()
	var size int
	for b.Loop() {
		out, err := Render(jobs, Options{ID: "run"})
		if err != nil {
			b.Fatal(err)
		}
		size = len(out)
	}
	b.ReportMetric(float64(size), "bytes/svg")
}
