// Command svg measures the console's server-drawn SVG: the layout and
// drawing of a run's DAG, and a time chart of a month of one-minute
// samples (downsampled), and prints the time per drawing (median and
// 95th percentile over the runs) and its size, raw and gzipped.
//
//	go run ./bench/svg -jobs 300 -runs 50
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/unyo-ops/unyo/internal/dag"
	"github.com/unyo-ops/unyo/internal/plot"
)

func main() { os.Exit(run()) }

func run() int {
	jobs := flag.Int("jobs", 300, "jobs of the DAG")
	days := flag.Int("days", 30, "days of one-minute samples in the chart")
	series := flag.Int("series", 1, "series in the chart")
	runs := flag.Int("runs", 50, "drawings measured of each")
	flag.Parse()
	if *jobs < 1 || *jobs > dag.MaxJobs || *days < 1 || *days > 400 || *series < 1 || *series > plot.MaxSeries || *runs < 1 {
		fmt.Fprintln(os.Stderr, "svg: -jobs 1..5000, -days 1..400, -series 1..32, -runs ≥ 1")
		return 2
	}

	net := randomNet(*jobs)
	d, size, err := measure(*runs, func() ([]byte, error) { return dag.Render(net, dag.Options{ID: "run"}) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "svg:", err)
		return 1
	}
	g, _ := dag.Layout(net)
	fmt.Printf("dag    %d jobs, %d needs, %d layers: layout+render median %v, p95 %v; %s\n",
		*jobs, len(g.Edges), g.Layers, d[0], d[1], size)

	n := *days * 24 * 60
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var ss []plot.Series
	for s := range *series {
		pts := make([]plot.Point, n)
		for i := range pts {
			v := 50 + 40*math.Sin(float64(i+s*100)/700) + float64((i*7+s)%11)
			pts[i] = plot.Point{T: t0.Add(time.Duration(i) * time.Minute), V: v, Min: v - 3, Max: v + 3}
		}
		ss = append(ss, plot.Series{Name: fmt.Sprintf("series %d", s), Points: pts, Band: true})
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		tokyo = time.UTC
	}
	c := plot.TimeChart{Title: "cpu", Unit: "%", Location: tokyo, Series: ss}
	d, size, _ = measure(*runs, func() ([]byte, error) { return c.SVG(), nil })
	fmt.Printf("chart  %d series × %d one-minute samples (%d days): render median %v, p95 %v; %s\n",
		*series, n, *days, d[0], d[1], size)
	return 0
}

func measure(runs int, f func() ([]byte, error)) ([2]time.Duration, string, error) {
	var ds []time.Duration
	var out []byte
	for range runs {
		start := time.Now()
		b, err := f()
		if err != nil {
			return [2]time.Duration{}, "", err
		}
		ds = append(ds, time.Since(start))
		out = b
	}
	slices.Sort(ds)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(out)
	zw.Close()
	p95 := ds[min(len(ds)-1, len(ds)*95/100)]
	return [2]time.Duration{ds[len(ds)/2].Round(10 * time.Microsecond), p95.Round(10 * time.Microsecond)},
		fmt.Sprintf("%d bytes, %d gzipped", len(out), z.Len()), nil
}

// randomNet is a jobnet of n jobs, each needing one to three earlier
// ones (mostly near, a quarter anywhere before), in random states.
func randomNet(n int) []dag.Job {
	r := rand.New(rand.NewPCG(1, 1))
	jobs := make([]dag.Job, n)
	for i := range jobs {
		jobs[i].Name = fmt.Sprintf("job-%03d", i)
		jobs[i].State = dag.States[r.IntN(len(dag.States))]
		if i == 0 {
			continue
		}
		for range 1 + r.IntN(3) {
			u := max(0, i-1-r.IntN(8))
			if r.IntN(4) == 0 {
				u = r.IntN(i)
			}
			if !slices.Contains(jobs[i].Needs, jobs[u].Name) {
				jobs[i].Needs = append(jobs[i].Needs, jobs[u].Name)
			}
		}
	}
	return jobs
}
