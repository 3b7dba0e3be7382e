package plot

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func hourly(n int, f func(i int) float64) []Point {
	pts := make([]Point, n)
	for i := range pts {
		pts[i] = Point{T: t0.Add(time.Duration(i) * time.Hour), V: f(i)}
	}
	return pts
}

func plotRect(t *testing.T, root *node) (x0, y0, x1, y1 float64) {
	t.Helper()
	r := root.find("rect", "")
	for _, g := range root.find("g", "plot-axis") {
		r = g.find("rect", "")
	}
	if len(r) != 1 {
		t.Fatalf("want one frame rect in the axis group, got %d", len(r))
	}
	x0, y0 = num64(t, r[0].Attr["x"]), num64(t, r[0].Attr["y"])
	return x0, y0, x0 + num64(t, r[0].Attr["width"]), y0 + num64(t, r[0].Attr["height"])
}

func TestTimeChartStructure(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	c := TimeChart{
		ID: "cpu", Title: "CPU of web-01", Unit: "%", Location: tokyo,
		Series: []Series{
			{Name: "user", Points: hourly(96, func(i int) float64 { return float64(i % 50) })},
			{Name: "system", Points: hourly(96, func(i int) float64 { return 97 - float64(i%30) })},
		},
	}
	root := parseSVG(t, c.SVG())
	if root.Attr["viewBox"] != "0 0 600 200" || root.Attr["width"] != "100%" || root.Attr["role"] != "img" {
		t.Errorf("root attributes %v", root.Attr)
	}
	ids := strings.Fields(root.Attr["aria-labelledby"])
	if len(ids) != 2 || ids[0] != "cpu-t" || ids[1] != "cpu-d" {
		t.Fatalf("aria-labelledby %q", root.Attr["aria-labelledby"])
	}
	title, desc := root.find("title", ""), root.find("desc", "")
	if len(title) != 1 || title[0].Attr["id"] != "cpu-t" || title[0].Text != "CPU of web-01" {
		t.Errorf("title %+v", title)
	}
	if len(desc) != 1 || desc[0].Attr["id"] != "cpu-d" || !strings.Contains(desc[0].Text, "user: min 0%, max 49%, last 45%") ||
		!strings.Contains(desc[0].Text, "JST") {
		t.Errorf("desc %q", desc[0].Text)
	}
	series := root.find("g", "plot-series")
	if len(series) != 2 || series[0].Attr["data-series"] != "user" || !hasClass(series[1], "plot-s1") {
		t.Fatalf("series groups %d", len(series))
	}
	x0, y0, x1, y1 := plotRect(t, root)
	for i, g := range series {
		lines := g.find("path", "plot-line")
		if len(lines) != 1 {
			t.Fatalf("series %d: %d lines", i, len(lines))
		}
		sub := pathPoints(t, lines[0].Attr["d"])
		if len(sub) != 1 || len(sub[0]) != 96 {
			t.Fatalf("series %d: subpaths %d, points %d; want 1, 96", i, len(sub), len(sub[0]))
		}
		prev := -1.0
		for _, p := range sub[0] {
			if p[0] < x0 || p[0] > x1 || p[1] < y0 || p[1] > y1 {
				t.Errorf("point %v outside the plot %v..%v", p, [2]float64{x0, y0}, [2]float64{x1, y1})
			}
			if p[0] <= prev {
				t.Errorf("x not increasing at %v", p)
			}
			prev = p[0]
		}
		if sub[0][0][0] != x0 || sub[0][95][0] != x1 {
			t.Errorf("line spans %v..%v, plot %v..%v", sub[0][0][0], sub[0][95][0], x0, x1)
		}
	}
	if n := len(root.find("g", "plot-legend")); n != 2 {
		t.Errorf("legend items %d", n)
	}
	texts := root.texts()
	for _, want := range []string{"0%", "20%", "100%", "JST", "2026-12-02", "12-03", "12-04"} {
		if !slices.Contains(texts, want) {
			t.Errorf("no label %q in %q", want, texts)
		}
	}
	// y labels are 0..100 by 20: the top one on the frame's top edge
	for _, tx := range root.find("text", "") {
		if tx.Text == "100%" && num64(t, tx.Attr["y"])-4 != y0 {
			t.Errorf("100%% at y %s, top %v", tx.Attr["y"], y0)
		}
	}
}

func TestDeterministic(t *testing.T) {
	pts := hourly(500, func(i int) float64 { return math.Sin(float64(i) / 7) })
	shuffled := slices.Clone(pts)
	for i := range shuffled { // a fixed permutation
		j := (i * 7919) % len(shuffled)
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	}
	a := TimeChart{Title: "x", Series: []Series{{Name: "s", Points: pts, Band: true}}}.SVG()
	for range 3 {
		if b := (TimeChart{Title: "x", Series: []Series{{Name: "s", Points: pts, Band: true}}}).SVG(); !bytes.Equal(a, b) {
			t.Fatal("two renderings differ")
		}
	}
	if b := (TimeChart{Title: "x", Series: []Series{{Name: "s", Points: shuffled, Band: true}}}).SVG(); !bytes.Equal(a, b) {
		t.Fatal("unsorted input renders differently from sorted")
	}
	bars := BarChart{Title: "b", Bars: []Bar{{"a", 1, ""}, {"b", 2, ""}}}
	if !bytes.Equal(bars.SVG(), bars.SVG()) {
		t.Fatal("bar chart renderings differ")
	}
}

func TestEmptyInputs(t *testing.T) {
	nan := math.NaN()
	for name, c := range map[string]TimeChart{
		"no series":  {Title: "empty"},
		"no points":  {Title: "empty", Series: []Series{{Name: "a"}}},
		"all NaN":    {Series: []Series{{Name: "a", Points: hourly(10, func(int) float64 { return nan })}}},
		"all Inf":    {Series: []Series{{Name: "a", Points: hourly(10, func(int) float64 { return math.Inf(1) })}}},
		"range only": {From: t0, To: t0.Add(time.Hour), Series: []Series{{Name: "a"}}},
	} {
		t.Run(name, func(t *testing.T) {
			root := parseSVG(t, c.SVG())
			if !slices.Contains(root.texts(), "no data") {
				t.Errorf("no 'no data' text in %q", root.texts())
			}
			if n := len(root.find("path", "plot-line")) + len(root.find("circle", "")); n != 0 {
				t.Errorf("%d marks drawn for no data", n)
			}
			if len(root.find("desc", "")) != 1 {
				t.Error("no desc")
			}
		})
	}
}

func TestOnePoint(t *testing.T) {
	c := TimeChart{Series: []Series{{Name: "a", Points: []Point{{T: t0, V: 42}}}}, Unit: "ms"}
	root := parseSVG(t, c.SVG())
	if n := len(root.find("path", "plot-line")); n != 0 {
		t.Errorf("%d lines for one point", n)
	}
	dots := root.find("circle", "plot-dot")
	if len(dots) != 1 {
		t.Fatalf("%d dots", len(dots))
	}
	x0, y0, x1, y1 := plotRect(t, root)
	cx, cy := num64(t, dots[0].Attr["cx"]), num64(t, dots[0].Attr["cy"])
	if math.Abs(cx-(x0+x1)/2) > 1 || cy <= y0 || cy >= y1 {
		t.Errorf("dot at %v,%v; plot %v,%v..%v,%v", cx, cy, x0, y0, x1, y1)
	}
	if !strings.Contains(root.find("desc", "")[0].Text, "last 42 ms") {
		t.Errorf("desc %q", root.find("desc", "")[0].Text)
	}
}

func TestGaps(t *testing.T) {
	nan := math.NaN()
	t.Run("NaN", func(t *testing.T) {
		pts := hourly(10, func(i int) float64 {
			if i == 5 {
				return nan
			}
			return float64(i)
		})
		root := parseSVG(t, TimeChart{Series: []Series{{Points: pts}}}.SVG())
		sub := pathPoints(t, root.find("path", "plot-line")[0].Attr["d"])
		if len(sub) != 2 || len(sub[0]) != 5 || len(sub[1]) != 4 {
			t.Errorf("subpaths %v", sub)
		}
	})
	t.Run("time gap", func(t *testing.T) {
		pts := hourly(20, func(i int) float64 { return float64(i) })
		pts = append(pts[:8], pts[12:]...) // 4 hours missing
		root := parseSVG(t, TimeChart{Series: []Series{{Points: pts}}}.SVG())
		sub := pathPoints(t, root.find("path", "plot-line")[0].Attr["d"])
		if len(sub) != 2 || len(sub[0]) != 8 || len(sub[1]) != 8 {
			t.Errorf("subpaths %d", len(sub))
		}
		// joined when MaxGap allows it
		root = parseSVG(t, TimeChart{MaxGap: 5 * time.Hour, Series: []Series{{Points: pts}}}.SVG())
		if sub := pathPoints(t, root.find("path", "plot-line")[0].Attr["d"]); len(sub) != 1 {
			t.Errorf("MaxGap 5h: subpaths %d", len(sub))
		}
	})
	t.Run("lone point between gaps", func(t *testing.T) {
		pts := hourly(9, func(i int) float64 {
			if i == 3 || i == 5 {
				return nan
			}
			return float64(i)
		})
		root := parseSVG(t, TimeChart{Series: []Series{{Points: pts}}}.SVG())
		sub := pathPoints(t, root.find("path", "plot-line")[0].Attr["d"])
		if len(sub) != 2 || len(root.find("circle", "plot-dot")) != 1 {
			t.Errorf("subpaths %d, dots %d; want 2, 1", len(sub), len(root.find("circle", "plot-dot")))
		}
	})
}

func TestDownsampled(t *testing.T) {
	for _, n := range []int{43200, 1_000_000} {
		pts := make([]Point, n)
		step := 30 * 24 * time.Hour / time.Duration(n)
		for i := range pts {
			v := float64(i%1440) / 14.4
			if i == n/2 {
				v = 1000 // a spike must survive downsampling
			}
			pts[i] = Point{T: t0.Add(time.Duration(i) * step), V: v, Min: v - 1, Max: v + 1}
		}
		root := parseSVG(t, TimeChart{Series: []Series{{Name: "m", Points: pts, Band: true}}}.SVG())
		x0, y0, x1, _ := plotRect(t, root)
		sub := pathPoints(t, root.find("path", "plot-line")[0].Attr["d"])
		total := 0
		for _, s := range sub {
			total += len(s)
		}
		if limit := 2 * int(x1-x0+1); total > limit || total < int(x1-x0)/2 {
			t.Errorf("n=%d: %d points drawn, want ≤ %d", n, total, limit)
		}
		top := math.Inf(1)
		for _, s := range sub {
			for _, p := range s {
				top = math.Min(top, p[1])
			}
		}
		if _, _, _, y1 := plotRect(t, root); top > (y0+y1)/2 {
			t.Errorf("n=%d: the spike was lost (highest point at y %v, plot top %v)", n, top, y0)
		}
		band := root.find("path", "plot-band")
		if len(band) != 1 || !strings.HasSuffix(band[0].Attr["d"], "Z") {
			t.Fatalf("band %v", band)
		}
		if bp := pathPoints(t, band[0].Attr["d"]); len(bp[0]) > 2*int(x1-x0+1) {
			t.Errorf("band has %d points", len(bp[0]))
		}
	}
}

func TestEscaping(t *testing.T) {
	evil := "<script>alert('x')</script> & \"q\" \x00\x1b[31m \u202e\u2066 \xff web-01 障害"
	c := TimeChart{ID: `x" onload="alert(1)`, Title: evil, Unit: evil, Series: []Series{{Name: evil, Points: hourly(3, func(i int) float64 { return float64(i) })}, {Name: "b"}}}
	for name, b := range map[string][]byte{
		"time":  c.SVG(),
		"bar":   BarChart{Title: evil, Unit: evil, Bars: []Bar{{Label: evil, Value: 1, Class: `x" onclick="y`}}}.SVG(),
		"hbar":  BarChart{Title: evil, Horizontal: true, Values: true, Bars: []Bar{{Label: evil, Value: 1}}}.SVG(),
		"spark": Sparkline{Title: evil, Unit: evil, Values: []float64{1, 2}}.SVG(),
	} {
		t.Run(name, func(t *testing.T) {
			root := parseSVG(t, b)
			s := string(b)
			for _, bad := range []string{"<script", "\x00", "\x1b", "\u202e", "\u2066", "onload=", "onclick="} {
				if strings.Contains(s, bad) {
					t.Errorf("output contains %q", bad)
				}
			}
			if !strings.Contains(s, "障害") {
				t.Error("Japanese text lost")
			}
			if id := root.Attr["id"]; strings.ContainsAny(id, `" =`) {
				t.Errorf("id %q", id)
			}
			for _, r := range root.find("rect", "plot-bar") {
				if name == "bar" && r.Attr["class"] != "plot-bar x onclick y" {
					t.Errorf("bar class %q", r.Attr["class"])
				}
			}
		})
	}
}

func TestLongLabelsClipped(t *testing.T) {
	long := strings.Repeat("長い名前", 100)
	root := parseSVG(t, TimeChart{Title: long, Series: []Series{{Name: long, Points: hourly(3, func(i int) float64 { return 1 })}, {Name: "b"}}}.SVG())
	for _, tx := range root.texts() {
		if n := len([]rune(tx)); n > MaxLabel {
			t.Errorf("text of %d runes", n)
		}
	}
	if n := len([]rune(root.find("title", "")[0].Text)); n > MaxTitle {
		t.Errorf("title of %d runes", n)
	}
}

func TestTooManySeries(t *testing.T) {
	var ss []Series
	for range MaxSeries + 5 {
		ss = append(ss, Series{Name: "s", Points: hourly(2, func(i int) float64 { return float64(i) })})
	}
	root := parseSVG(t, TimeChart{Series: ss}.SVG())
	if n := len(root.find("g", "plot-series")); n != MaxSeries {
		t.Errorf("%d series drawn", n)
	}
	if !strings.Contains(root.find("desc", "")[0].Text, "5 more series not shown") {
		t.Error("desc does not say series were left out")
	}
}

func TestFixedAxis(t *testing.T) {
	pts := hourly(10, func(i int) float64 { return float64(i * 30) }) // up to 270, above the axis
	root := parseSVG(t, TimeChart{YFrom: 0, YTo: 100, Unit: "%", Series: []Series{{Points: pts}}}.SVG())
	_, y0, _, y1 := plotRect(t, root)
	for _, s := range pathPoints(t, root.find("path", "plot-line")[0].Attr["d"]) {
		for _, p := range s {
			if p[1] < y0 || p[1] > y1 {
				t.Errorf("point %v outside the fixed axis %v..%v", p, y0, y1)
			}
		}
	}
	texts := root.texts()
	if !slices.Contains(texts, "100%") || slices.Contains(texts, "120%") {
		t.Errorf("labels %q", texts)
	}
}

func TestNiceAxis(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		unit   string
		want   []string
	}{
		{0, 97, "%", []string{"0%", "20%", "40%", "60%", "80%", "100%"}},
		{0.1, 0.47, "s", []string{"0.1 s", "0.2 s", "0.3 s", "0.4 s", "0.5 s"}},
		{0, 3.2e9, "B", []string{"0.0 GB", "0.5 GB", "1.0 GB", "1.5 GB", "2.0 GB", "2.5 GB", "3.0 GB", "3.5 GB"}},
		{-5, 5, "", []string{"-6", "-4", "-2", "0", "2", "4", "6"}},
		{5, 5, "", []string{"4.4", "4.6", "4.8", "5.0", "5.2", "5.4", "5.6"}},
		{0.001, 0.004, "s", []string{"1.0 ms", "1.5 ms", "2.0 ms", "2.5 ms", "3.0 ms", "3.5 ms", "4.0 ms"}},
	} {
		a := newAxis(tc.lo, tc.hi, 6, false, tc.unit)
		var got []string
		for _, v := range a.ticks {
			got = append(got, a.label(v, tc.unit))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v..%v: %q, want %q", tc.lo, tc.hi, got, tc.want)
		}
	}
	// extreme values stay finite and ordered
	for _, r := range [][2]float64{{-math.MaxFloat64, math.MaxFloat64}, {1e-310, 2e-310}, {1e300, 1e300}, {-1e-300, 1e-300}} {
		a := newAxis(r[0], r[1], 6, false, "")
		if len(a.ticks) == 0 || !slices.IsSorted(a.ticks) || !finite(a.lo) || !finite(a.hi) {
			t.Errorf("%v: ticks %v, %v..%v", r, a.ticks, a.lo, a.hi)
		}
	}
}

func TestTimeTicks(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	for _, tc := range []struct {
		name     string
		from, to time.Time
		loc      *time.Location
		first    []string
	}{
		{"month in days", time.Date(2026, 11, 1, 0, 0, 0, 0, tokyo), time.Date(2026, 12, 1, 0, 0, 0, 0, tokyo), tokyo,
			[]string{"2026-11-01", "11-08", "11-15", "11-22", "12-01"}},
		{"hours over midnight", time.Date(2026, 12, 1, 18, 30, 0, 0, tokyo), time.Date(2026, 12, 2, 6, 0, 0, 0, tokyo), tokyo,
			[]string{"12-01 20:00", "22:00", "12-02", "02:00", "04:00", "06:00"}},
		{"minutes", time.Date(2026, 12, 1, 9, 2, 0, 0, time.UTC), time.Date(2026, 12, 1, 9, 40, 0, 0, time.UTC), time.UTC,
			[]string{"12-01 09:10", "09:20", "09:30", "09:40"}},
		{"years", time.Date(1990, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.UTC,
			[]string{"2000", "2010", "2020"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ticks := timeTicks(tc.from, tc.to, tc.loc, 7)
			var got []string
			for _, tk := range ticks {
				got = append(got, tk.label)
			}
			if !slices.Equal(got, tc.first) {
				t.Errorf("ticks %q, want %q", got, tc.first)
			}
		})
	}
	// across a DST change every tick is on a local whole hour, increasing
	from := time.Date(2026, 3, 7, 12, 0, 0, 0, ny)
	ticks := timeTicks(from, from.Add(30*time.Hour), ny, 12)
	if len(ticks) < 5 {
		t.Fatalf("%d ticks", len(ticks))
	}
	for i, tk := range ticks {
		l := tk.t.In(ny)
		if l.Minute() != 0 || l.Hour()%3 != 0 || (i > 0 && !tk.t.After(ticks[i-1].t)) {
			t.Errorf("tick %d at %v", i, l)
		}
	}
	if z := zoneName(from, ny); z != "EST" {
		t.Errorf("zone %q", z)
	}
	if z := zoneName(from, time.FixedZone("", 19800)); z != "UTC+05:30" {
		t.Errorf("zone %q", z)
	}
}

func TestBarChart(t *testing.T) {
	bars := []Bar{{"12-01", 3, ""}, {"12-02", math.NaN(), ""}, {"12-03", -2, "bad"}, {"12-04", 10, ""}}
	t.Run("vertical", func(t *testing.T) {
		root := parseSVG(t, BarChart{ID: "jobs", Title: "failed jobs per day", Bars: bars, Values: true}.SVG())
		rects := root.find("rect", "plot-bar")
		if len(rects) != 3 {
			t.Fatalf("%d bars, want 3 (NaN drawn as none)", len(rects))
		}
		var zero float64
		for _, tx := range root.find("text", "") {
			if tx.Text == "0" {
				zero = num64(t, tx.Attr["y"]) - 4
			}
		}
		neg := rects[1]
		if !hasClass(neg, "bad") || num64(t, neg.Attr["y"]) != zero {
			t.Errorf("negative bar %v does not start at zero %v", neg.Attr, zero)
		}
		pos := rects[0]
		if y, h := num64(t, pos.Attr["y"]), num64(t, pos.Attr["height"]); math.Abs(y+h-zero) > 0.11 {
			t.Errorf("positive bar %v does not end at zero %v", pos.Attr, zero)
		}
		if got := rects[2].find("title", ""); len(got) != 1 || got[0].Text != "12-04: 10" {
			t.Errorf("bar title %+v", got)
		}
		// bars ordered left to right, not overlapping
		for i := 1; i < len(rects); i++ {
			if num64(t, rects[i].Attr["x"]) < num64(t, rects[i-1].Attr["x"])+num64(t, rects[i-1].Attr["width"]) {
				t.Errorf("bars %d and %d overlap", i-1, i)
			}
		}
	})
	t.Run("horizontal", func(t *testing.T) {
		top := []Bar{{"web-01", 95, ""}, {"db-01 データベース", 60, ""}, {"mail", 5, ""}}
		root := parseSVG(t, BarChart{Title: "top CPU", Unit: "%", Bars: top, Horizontal: true, Values: true}.SVG())
		rects := root.find("rect", "plot-bar")
		if len(rects) != 3 {
			t.Fatalf("%d bars", len(rects))
		}
		w0 := num64(t, rects[0].Attr["width"])
		w1 := num64(t, rects[1].Attr["width"])
		if math.Abs(w1/w0-60.0/95) > 0.01 {
			t.Errorf("widths %v %v not proportional", w0, w1)
		}
		if !slices.Contains(root.texts(), "95%") || !slices.Contains(root.texts(), "db-01 データベース") {
			t.Errorf("texts %q", root.texts())
		}
		if vb := root.Attr["viewBox"]; vb != "0 0 600 82" {
			t.Errorf("viewBox %q", vb)
		}
	})
	t.Run("many", func(t *testing.T) {
		var many []Bar
		for i := range MaxBars + 10 {
			many = append(many, Bar{Label: "d", Value: float64(i)})
		}
		root := parseSVG(t, BarChart{Bars: many}.SVG())
		if n := len(root.find("rect", "plot-bar")); n != MaxBars {
			t.Errorf("%d bars", n)
		}
	})
	t.Run("empty", func(t *testing.T) {
		for _, h := range []bool{false, true} {
			root := parseSVG(t, BarChart{Horizontal: h}.SVG())
			if !slices.Contains(root.texts(), "no data") {
				t.Errorf("horizontal=%v: %q", h, root.texts())
			}
		}
	})
}

func TestSparkline(t *testing.T) {
	vals := []float64{1, 2, 3, math.NaN(), 5, 4, 6}
	root := parseSVG(t, Sparkline{Title: "load", Values: vals}.SVG())
	if root.Attr["width"] != "100" || root.Attr["height"] != "24" {
		t.Errorf("size %v", root.Attr)
	}
	sub := pathPoints(t, root.find("path", "plot-line")[0].Attr["d"])
	if len(sub) != 2 || len(sub[0]) != 3 || len(sub[1]) != 3 {
		t.Errorf("subpaths %v", sub)
	}
	last := root.find("circle", "plot-last")
	if len(last) != 1 || num64(t, last[0].Attr["cx"]) != 97 || num64(t, last[0].Attr["cy"]) != 3 {
		t.Errorf("last dot %+v", last)
	}
	huge := make([]float64, 100000)
	for i := range huge {
		huge[i] = float64(i % 100)
	}
	root = parseSVG(t, Sparkline{Values: huge}.SVG())
	n := 0
	for _, s := range pathPoints(t, root.find("path", "plot-line")[0].Attr["d"]) {
		n += len(s)
	}
	if n > 2*100 {
		t.Errorf("%d points for a 100 wide sparkline", n)
	}
	for _, v := range [][]float64{nil, {math.NaN()}, {7}} {
		parseSVG(t, Sparkline{Values: v}.SVG())
	}
}

func FuzzTimeChart(f *testing.F) {
	f.Add("cpu", "%", []byte{0, 1, 2, 3, 255, 128}, int64(3600), int64(60), 600, 200)
	f.Add("<x>", "\xff", []byte{}, int64(0), int64(0), 0, 0)
	f.Add("a", "", []byte{0x7f, 0xf0, 0, 0, 0, 0, 0, 0, 1}, int64(-1), int64(1<<40), 1, 1)
	f.Fuzz(func(t *testing.T, name, unit string, raw []byte, start, step int64, w, h int) {
		var pts []Point
		var vals []float64
		for i := 0; i+8 <= len(raw) && i < 8*2000; i += 8 {
			bits := uint64(0)
			for _, b := range raw[i : i+8] {
				bits = bits<<8 | uint64(b)
			}
			v := math.Float64frombits(bits)
			vals = append(vals, v)
			pts = append(pts, Point{T: time.Unix(start+step*int64(i/8), 0), V: v, Min: v - 1, Max: v * 2})
		}
		if len(raw)%8 != 0 {
			pts = append(pts, Point{T: time.Unix(start, 0), V: float64(raw[len(raw)-1])})
		}
		outs := [][]byte{
			TimeChart{Title: name, Unit: unit, Width: w, Height: h, Series: []Series{{Name: name, Points: pts, Band: true}, {Name: unit}}}.SVG(),
			BarChart{Title: name, Unit: unit, Width: w, Height: h, Values: true, Bars: []Bar{{Label: name, Value: float64(len(raw))}, {Label: unit, Value: -1}}}.SVG(),
			BarChart{Horizontal: true, Values: true, Bars: []Bar{{Label: name, Value: float64(step)}}}.SVG(),
			Sparkline{Title: name, Values: vals, Width: w, Height: h}.SVG(),
		}
		for _, b := range outs {
			if _, err := parseXML(b); err != nil {
				t.Fatalf("SVG does not parse: %v\n%s", err, b)
			}
			if bytes.Contains(b, []byte("NaN")) || bytes.Contains(b, []byte("Inf")) {
				t.Fatalf("NaN or Inf in the output:\n%s", b)
			}
		}
	})
}

func BenchmarkTimeChartMonthOfMinutes(b *testing.B) {
	n := 30 * 24 * 60
	pts := make([]Point, n)
	for i := range pts {
		v := 50 + 40*math.Sin(float64(i)/500) + float64(i%7)
		pts[i] = Point{T: t0.Add(time.Duration(i) * time.Minute), V: v, Min: v - 3, Max: v + 3}
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	c := TimeChart{Title: "cpu", Unit: "%", Location: tokyo, Series: []Series{{Name: "cpu", Points: pts, Band: true}}}
	b.ReportAllocs()
	var size int
	for b.Loop() {
		size = len(c.SVG())
	}
	b.ReportMetric(float64(size), "bytes/svg")
}

func BenchmarkBarChart31Days(b *testing.B) {
	bars := make([]Bar, 31)
	for i := range bars {
		bars[i] = Bar{Label: time.Date(2026, 12, i+1, 0, 0, 0, 0, time.UTC).Format("01-02"), Value: float64(i * 3 % 17)}
	}
	c := BarChart{Title: "daily", Bars: bars, Values: true}
	b.ReportAllocs()
	for b.Loop() {
		c.SVG()
	}
}
