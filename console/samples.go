package console

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/auth"
)

// Limits of GET /api/v1/targets/{name}/samples.
const (
	// MaxSampleRange is the longest [from, to) one request may ask for.
	MaxSampleRange = 400 * 24 * time.Hour
	// MaxSamplePoints caps the points of one answer (all series together);
	// a larger answer is refused with a hint to raise the step.
	MaxSamplePoints = 20000
	// targetPoints is what an automatic step aims at per series.
	targetPoints = 1500
)

// SamplePoint is one point of a series: a raw sample (Min = Max = Value,
// Count 1) or a rollup bucket (Value is its mean).
type SamplePoint struct {
	Time  time.Time `json:"t"`
	Value float64   `json:"v"`
	Min   float64   `json:"min"`
	Max   float64   `json:"max"`
	Count int64     `json:"count"`
}

// SampleSeries is one metric series of a target.
type SampleSeries struct {
	Metric string            `json:"metric"`
	Labels map[string]string `json:"labels,omitempty"`
	Unit   string            `json:"unit,omitempty"`
	Points []SamplePoint     `json:"points"`
}

// SamplesResponse is the body of GET /api/v1/targets/{name}/samples.
type SamplesResponse struct {
	Target string    `json:"target"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	// Step is "raw" or the rollup resolution ("1m", "1h", "24h").
	Step   string         `json:"step"`
	Series []SampleSeries `json:"series"`
}

// Unit guesses a metric's unit from its name's suffix (Prometheus naming):
// "s", "%", "B", "bit/s", "/s" or "" (a count or a state).
func Unit(metric string) string {
	switch {
	case strings.HasSuffix(metric, "_seconds"):
		return "s"
	case strings.HasSuffix(metric, "_percent"):
		return "%"
	case strings.HasSuffix(metric, "_bytes"):
		return "B"
	case strings.HasSuffix(metric, "_bits_per_second"):
		return "bit/s"
	case strings.HasSuffix(metric, "_per_second"):
		return "/s"
	}
	return ""
}

// ParseStep reads a step: "" or "auto" (chosen from the range), "raw",
// or one of the rollup resolutions (1m, 1h, 1d or 24h).
func ParseStep(s string) (time.Duration, bool, error) {
	switch s {
	case "", "auto":
		return 0, false, nil
	case "raw":
		return 0, true, nil
	case "1d":
		return ledger.Day, false, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || !ledger.ValidResolution(d) {
		return 0, false, fmt.Errorf("%q: want auto, raw, 1m, 1h or 1d", s)
	}
	return d, false, nil
}

// AutoStep picks the finest source that keeps a series near targetPoints
// points over span: raw up to 2 hours, then 1m, 1h, 1d rollups.
func AutoStep(span time.Duration) (time.Duration, bool) {
	if span <= 2*time.Hour {
		return 0, true
	}
	for _, r := range ledger.Resolutions {
		if span/r <= targetPoints {
			return r, false
		}
	}
	return ledger.Day, false
}

// ParseLabels reads k=v,k2=v2.
func ParseLabels(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q: want name=value pairs separated by commas", kv)
		}
		out[k] = v
	}
	return out, nil
}

func stepName(res time.Duration, raw bool) string {
	switch {
	case raw:
		return "raw"
	case res == ledger.Day:
		return "1d"
	case res == ledger.Hour:
		return "1h"
	}
	return "1m"
}

// GET /api/v1/targets/{name}/samples
//
//	?metric=NAME       one metric (default: all of the target's)
//	&labels=k=v,k=v    series whose labels include these
//	&from=T&to=T       RFC 3339 (default: the last hour)
//	&step=auto|raw|1m|1h|1d
//
// Raw samples or the rollups, as the step (or, for auto, the range)
// needs; at most MaxSampleRange and MaxSamplePoints.
func (a *api) samples(w http.ResponseWriter, r *http.Request) {
	ss, ok := a.Store.(ledger.SampleStore)
	if !ok {
		writeError(w, http.StatusNotFound, "", "this node's ledger keeps no samples")
		return
	}
	q := r.URL.Query()
	name := r.PathValue("name")
	if name == "" || len(name) > 256 {
		writeError(w, http.StatusBadRequest, "name", "want a target name of 1 to 256 bytes")
		return
	}
	metric := q.Get("metric")
	if len(metric) > 256 {
		writeError(w, http.StatusBadRequest, "metric", "longer than 256 bytes")
		return
	}
	if len(q.Get("labels")) > 1024 {
		writeError(w, http.StatusBadRequest, "labels", "longer than 1024 bytes")
		return
	}
	labels, err := ParseLabels(q.Get("labels"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "labels", err.Error())
		return
	}
	to := a.Now().UTC()
	if v := q.Get("to"); v != "" {
		if to, err = time.Parse(time.RFC3339, v); err != nil {
			writeError(w, http.StatusBadRequest, "to", fmt.Sprintf("%q: want an RFC 3339 time", v))
			return
		}
	}
	from := to.Add(-time.Hour)
	if v := q.Get("from"); v != "" {
		if from, err = time.Parse(time.RFC3339, v); err != nil {
			writeError(w, http.StatusBadRequest, "from", fmt.Sprintf("%q: want an RFC 3339 time", v))
			return
		}
	}
	switch span := to.Sub(from); {
	case span <= 0:
		writeError(w, http.StatusBadRequest, "to", "must be after from")
		return
	case span > MaxSampleRange:
		writeError(w, http.StatusBadRequest, "to", fmt.Sprintf("at most %d days after from", MaxSampleRange/(24*time.Hour)))
		return
	}
	res, raw, err := ParseStep(q.Get("step"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "step", err.Error())
		return
	}
	if res == 0 && !raw {
		res, raw = AutoStep(to.Sub(from))
	}
	sq := ledger.SampleQuery{Target: name, Name: metric, Labels: labels, From: from, To: to, Limit: MaxSamplePoints + 1}
	out := SamplesResponse{Target: name, From: from, To: to, Step: stepName(res, raw), Series: []SampleSeries{}}
	idx := map[ledger.SeriesKey]int{}
	add := func(k ledger.SeriesKey, l map[string]string, p SamplePoint) {
		i, ok := idx[k]
		if !ok {
			i = len(out.Series)
			idx[k] = i
			out.Series = append(out.Series, SampleSeries{Metric: k.Name, Labels: l, Unit: Unit(k.Name)})
		}
		out.Series[i].Points = append(out.Series[i].Points, p)
	}
	n := 0
	if raw {
		rows, err := ss.Samples(r.Context(), sq)
		if err != nil {
			a.sampleError(w, err)
			return
		}
		n = len(rows)
		for _, s := range rows {
			add(ledger.SeriesOf(s), s.Labels, SamplePoint{Time: s.Time, Value: s.Value, Min: s.Value, Max: s.Value, Count: 1})
		}
	} else {
		// A bucket that started before from still holds samples inside.
		sq.From = from.Add(-res + 1).Truncate(res)
		rows, err := ss.Rollups(r.Context(), ledger.RollupQuery{SampleQuery: sq, Resolution: res})
		if err != nil {
			a.sampleError(w, err)
			return
		}
		n = len(rows)
		for _, b := range rows {
			k := ledger.SeriesKey{Target: b.Target, Name: b.Name, Labels: ledger.LabelsKey(b.Labels)}
			add(k, b.Labels, SamplePoint{Time: b.Start, Value: b.Avg(), Min: b.Min, Max: b.Max, Count: b.Count})
		}
	}
	if n > MaxSamplePoints {
		writeError(w, http.StatusBadRequest, "step", fmt.Sprintf("more than %d points: choose a larger step, a shorter range or one metric", MaxSamplePoints))
		return
	}
	slices.SortStableFunc(out.Series, func(x, y SampleSeries) int {
		return cmp.Or(cmp.Compare(x.Metric, y.Metric), cmp.Compare(ledger.LabelsKey(x.Labels), ledger.LabelsKey(y.Labels)))
	})
	writeJSON(w, http.StatusOK, out)
}

func (a *api) sampleError(w http.ResponseWriter, err error) {
	if errors.Is(err, ledger.ErrBadQuery) {
		writeError(w, http.StatusBadRequest, "", err.Error())
		return
	}
	a.storeError(w, err)
}

func (a *api) registerSamples(mux *auth.Mux) {
	mux.HandleFunc("GET /api/v1/targets/{name}/samples", auth.ActionSamplesRead, a.samples)
}
