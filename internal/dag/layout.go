package dag

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Errors of Layout.
var (
	ErrCycle     = errors.New("dag: cycle")
	ErrUnknown   = errors.New("dag: need on an unknown job")
	ErrDuplicate = errors.New("dag: duplicate job")
	ErrEmpty     = errors.New("dag: job without a name")
	ErrTooLarge  = errors.New("dag: graph too large")
)

// Limits of Layout.
const (
	MaxJobs     = 5000
	MaxVertices = 50000 // jobs and virtual points of long edges
)

// Sizes of the drawing, in SVG units.
const (
	NodeW  = 150.0
	NodeH  = 40.0
	gapX   = 20.0
	gapY   = 40.0
	margin = 8.0
	dummyW = 8.0
)

// Job is one job to lay out.
type Job struct {
	Name  string
	Needs []string
	State string // a runstate.JobState, or "" (a jobnet's definition)
	Note  string // more for the tooltip: attempt, end code, times
}

// Placed is a laid-out job: X, Y is its box's top left corner.
type Placed struct {
	Job
	Layer, Order int
	X, Y         float64
}

// Edge is a need drawn from the needed job (From) to the job that needs
// it (To) through Points: From's bottom centre, the virtual points, To's
// top centre.
type Edge struct {
	From, To string
	Points   [][2]float64
}

// Graph is a laid-out DAG.
type Graph struct {
	Jobs          []Placed // in the order given
	Edges         []Edge
	Layers        int
	Width, Height float64
}

type vertex struct {
	job        int // index into jobs, -1 for a virtual point
	layer, pos int
	x, w       float64
	up, down   []int
}

// Layout lays out jobs. Needs must name jobs in the list; a job needed
// twice by the same job counts once.
func Layout(jobs []Job) (*Graph, error) {
	if len(jobs) > MaxJobs {
		return nil, fmt.Errorf("%w: %d jobs, at most %d", ErrTooLarge, len(jobs), MaxJobs)
	}
	idx := make(map[string]int, len(jobs))
	for i, j := range jobs {
		if j.Name == "" {
			return nil, fmt.Errorf("%w: jobs[%d]", ErrEmpty, i)
		}
		if _, dup := idx[j.Name]; dup {
			return nil, fmt.Errorf("%w: %q", ErrDuplicate, j.Name)
		}
		idx[j.Name] = i
	}
	needs := make([][]int, len(jobs))
	for i, j := range jobs {
		for _, n := range j.Needs {
			k, ok := idx[n]
			if !ok {
				return nil, fmt.Errorf("%w: %q needs %q", ErrUnknown, j.Name, n)
			}
			if !slices.Contains(needs[i], k) {
				needs[i] = append(needs[i], k)
			}
		}
	}
	layer, err := layers(jobs, needs)
	if err != nil {
		return nil, err
	}

	// vertices: jobs, then virtual points of long edges
	vs := make([]vertex, len(jobs), len(jobs)*2)
	nl := 0
	for i := range jobs {
		vs[i] = vertex{job: i, layer: layer[i], w: NodeW}
		nl = max(nl, layer[i]+1)
	}
	type chain struct {
		from, to int
		via      []int
	}
	var chains []chain
	for i := range jobs {
		for _, u := range needs[i] {
			c := chain{from: u, to: i}
			prev := u
			for l := layer[u] + 1; l < layer[i]; l++ {
				if len(vs) >= MaxVertices {
					return nil, fmt.Errorf("%w: more than %d jobs and virtual points", ErrTooLarge, MaxVertices)
				}
				d := len(vs)
				vs = append(vs, vertex{job: -1, layer: l, w: dummyW})
				vs[prev].down = append(vs[prev].down, d)
				vs[d].up = append(vs[d].up, prev)
				c.via = append(c.via, d)
				prev = d
			}
			vs[prev].down = append(vs[prev].down, i)
			vs[i].up = append(vs[i].up, prev)
			chains = append(chains, c)
		}
	}
	ls := make([][]int, nl)
	for v := range vs {
		ls[vs[v].layer] = append(ls[vs[v].layer], v)
	}
	orderLayers(vs, ls)
	place(vs, ls)

	g := &Graph{Layers: nl}
	minX := 0.0
	for v := range vs {
		if v == 0 || vs[v].x-vs[v].w/2 < minX {
			minX = vs[v].x - vs[v].w/2
		}
	}
	maxX := 0.0
	for v := range vs {
		vs[v].x += margin - minX
		maxX = max(maxX, vs[v].x+vs[v].w/2)
	}
	top := func(l int) float64 { return margin + float64(l)*(NodeH+gapY) }
	g.Width, g.Height = maxX+margin, top(nl)-gapY+margin
	if len(jobs) == 0 {
		g.Width, g.Height = 2*margin, 2*margin
	}
	for i, j := range jobs {
		v := vs[i]
		g.Jobs = append(g.Jobs, Placed{Job: j, Layer: v.layer, Order: v.pos, X: v.x - NodeW/2, Y: top(v.layer)})
	}
	for _, c := range chains {
		e := Edge{From: jobs[c.from].Name, To: jobs[c.to].Name}
		e.Points = append(e.Points, [2]float64{vs[c.from].x, top(layer[c.from]) + NodeH})
		for _, d := range c.via {
			e.Points = append(e.Points, [2]float64{vs[d].x, top(vs[d].layer)}, [2]float64{vs[d].x, top(vs[d].layer) + NodeH})
		}
		e.Points = append(e.Points, [2]float64{vs[c.to].x, top(layer[c.to])})
		g.Edges = append(g.Edges, e)
	}
	return g, nil
}

// layers assigns longest-path layers in topological order (Kahn's,
// first-in first-out in the given order), or names a cycle.
func layers(jobs []Job, needs [][]int) ([]int, error) {
	n := len(jobs)
	indeg := make([]int, n)
	users := make([][]int, n)
	for i := range jobs {
		indeg[i] = len(needs[i])
		for _, u := range needs[i] {
			users[u] = append(users[u], i)
		}
	}
	layer := make([]int, n)
	queue := make([]int, 0, n)
	for i := range n {
		if indeg[i] == 0 {
			queue = append(queue, i)
		}
	}
	for k := 0; k < len(queue); k++ {
		u := queue[k]
		for _, v := range users[u] {
			layer[v] = max(layer[v], layer[u]+1)
			if indeg[v]--; indeg[v] == 0 {
				queue = append(queue, v)
			}
		}
	}
	if len(queue) == n {
		return layer, nil
	}
	// a cycle: from the first job left, follow needs that are left until
	// one repeats
	left := make([]bool, n)
	for i := range n {
		left[i] = indeg[i] > 0
	}
	start := slices.Index(left, true)
	seen := map[int]int{}
	var path []int
	for v := start; ; {
		if at, ok := seen[v]; ok {
			path = path[at:]
			break
		}
		seen[v] = len(path)
		path = append(path, v)
		for _, u := range needs[v] {
			if left[u] {
				v = u
				break
			}
		}
	}
	// path follows needs (v needs the next); show it in the direction of
	// flow, from the job given first
	slices.Reverse(path)
	first := 0
	for i, v := range path {
		if v < path[first] {
			first = i
		}
	}
	path = append(path[first:], path[:first]...)
	names := make([]string, 0, len(path)+1)
	for _, v := range path {
		names = append(names, jobs[v].Name)
	}
	names = append(names, names[0])
	return nil, fmt.Errorf("%w: %s", ErrCycle, strings.Join(names, " → "))
}

// orderLayers is order; tests replace it to compare with no ordering.
var orderLayers = order

// order sets each layer's order by barycentre sweeps, keeping the order
// with the fewest crossings.
func order(vs []vertex, ls [][]int) {
	setPos := func() {
		for _, l := range ls {
			for p, v := range l {
				vs[v].pos = p
			}
		}
	}
	setPos()
	best := crossings(vs, ls)
	bestOrder := cloneLayers(ls)
	iters := 12
	if len(vs) > 5000 {
		iters = 4
	}
	key := make([]float64, len(vs))
	for it := 0; it < iters && best > 0; it++ {
		down := it%2 == 0
		for k := 1; k < len(ls); k++ {
			l := k
			if !down {
				l = len(ls) - 1 - k
			}
			for _, v := range ls[l] {
				nb := vs[v].up
				if !down {
					nb = vs[v].down
				}
				if len(nb) == 0 {
					key[v] = float64(vs[v].pos)
					continue
				}
				s := 0.0
				for _, u := range nb {
					s += float64(vs[u].pos)
				}
				// scale neighbour positions onto this layer's positions
				key[v] = s / float64(len(nb))
			}
			slices.SortStableFunc(ls[l], func(a, b int) int { return cmp.Compare(key[a], key[b]) })
			for p, v := range ls[l] {
				vs[v].pos = p
			}
		}
		if c := crossings(vs, ls); c < best {
			best, bestOrder = c, cloneLayers(ls)
		}
	}
	copy(ls, bestOrder)
	setPos()
}

func cloneLayers(ls [][]int) [][]int {
	out := make([][]int, len(ls))
	for i, l := range ls {
		out[i] = slices.Clone(l)
	}
	return out
}

// crossings counts edge crossings between adjacent layers (inversions,
// with a Fenwick tree).
func crossings(vs []vertex, ls [][]int) int {
	total := 0
	for l := 0; l+1 < len(ls); l++ {
		var es [][2]int
		for _, u := range ls[l] {
			for _, v := range vs[u].down {
				es = append(es, [2]int{vs[u].pos, vs[v].pos})
			}
		}
		slices.SortFunc(es, func(a, b [2]int) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
		n := len(ls[l+1])
		tree := make([]int, n+1)
		seen := 0
		for _, e := range es {
			// edges seen so far ending right of e[1] cross e
			le := 0
			for i := e[1] + 1; i > 0; i -= i & -i {
				le += tree[i]
			}
			total += seen - le
			for i := e[1] + 1; i <= n; i += i & -i {
				tree[i]++
			}
			seen++
		}
	}
	return total
}

// place sets x of every vertex: each layer as near as it can be to the
// mean x of its neighbours, keeping its order and the gap.
func place(vs []vertex, ls [][]int) {
	for _, l := range ls { // packed from 0
		x := 0.0
		for i, v := range l {
			if i > 0 {
				x += (vs[l[i-1]].w+vs[v].w)/2 + gapX
			}
			vs[v].x = x
		}
	}
	pass := func(l []int, nbOf func(v int) []int) {
		want := make([]float64, len(l))
		for i, v := range l {
			nb := nbOf(v)
			if len(nb) == 0 {
				want[i] = vs[v].x
				continue
			}
			s := 0.0
			for _, u := range nb {
				s += vs[u].x
			}
			want[i] = s / float64(len(nb))
		}
		xs := fit(want, l, vs)
		for i, v := range l {
			vs[v].x = xs[i]
		}
	}
	up := func(v int) []int { return vs[v].up }
	down := func(v int) []int { return vs[v].down }
	both := func(v int) []int { return append(slices.Clone(vs[v].up), vs[v].down...) }
	for it := 0; it < 4; it++ {
		for l := 1; l < len(ls); l++ {
			pass(ls[l], up)
		}
		for l := len(ls) - 2; l >= 0; l-- {
			pass(ls[l], down)
		}
	}
	for l := range ls {
		pass(ls[l], both)
	}
}

// fit returns the positions nearest (least squares) to want that keep
// the order of l and the gap between neighbours: with c[i] the least
// distance from the first to the i-th, y = x - c must not decrease, an
// isotonic regression of want - c (pool adjacent violators).
func fit(want []float64, l []int, vs []vertex) []float64 {
	n := len(want)
	c := make([]float64, n)
	for i := 1; i < n; i++ {
		c[i] = c[i-1] + (vs[l[i-1]].w+vs[l[i]].w)/2 + gapX
	}
	type block struct {
		sum float64
		n   int
	}
	bs := make([]block, 0, n)
	for i := range n {
		bs = append(bs, block{want[i] - c[i], 1})
		for len(bs) > 1 {
			a, b := bs[len(bs)-2], bs[len(bs)-1]
			if a.sum/float64(a.n) <= b.sum/float64(b.n) {
				break
			}
			bs = append(bs[:len(bs)-2], block{a.sum + b.sum, a.n + b.n})
		}
	}
	out := make([]float64, 0, n)
	for _, b := range bs {
		m := b.sum / float64(b.n)
		for range b.n {
			out = append(out, m+c[len(out)])
		}
	}
	return out
}
