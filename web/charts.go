package web

import (
	"bytes"
	"html/template"
	"net/http"
	"sync"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
)

func init() { TargetCharts = drawTargetCharts }

// chartTTL is how long a target's drawn charts are reused: a live
// redraw of the target page (on any incident event) does not read the
// samples again.
const (
	chartTTL       = 15 * time.Second
	chartCacheSize = 256
)

type chartKey struct {
	s           *Server
	target, rng string
}

type chartEntry struct {
	at   time.Time
	html template.HTML
}

var chartCache = struct {
	sync.Mutex
	m map[chartKey]chartEntry
}{m: map[chartKey]chartEntry{}}

// drawTargetCharts draws the metric charts of a target page over the
// range the query asks for (?range=1h|24h|7d|30d, default 24h).
func drawTargetCharts(s *Server, r *http.Request, name string) template.HTML {
	ss, ok := s.d.Store.(ledger.SampleStore)
	if !ok {
		return ""
	}
	rng, ok := parseRange(r.URL.Query().Get("range"))
	if !ok {
		rng, _ = parseRange("")
	}
	now := s.d.Now()
	key := chartKey{s, name, rng.Name}
	chartCache.Lock()
	e, hit := chartCache.m[key]
	chartCache.Unlock()
	if hit && now.Sub(e.at) < chartTTL && now.Sub(e.at) >= 0 {
		return e.html
	}
	cs, err := targetCharts(r.Context(), ss, name, now.Truncate(time.Second), rng, s.loc)
	if err != nil {
		s.log.Warn("target charts", "target", name, "err", err)
		cs = chartSet{Range: rng, Ranges: metricRanges, Error: "The samples cannot be read now."}
	}
	var buf bytes.Buffer
	if err := s.pages["target"].ExecuteTemplate(&buf, "charts", cs); err != nil {
		s.log.Error("target charts not drawn", "target", name, "err", err)
		return ""
	}
	html := template.HTML(buf.String()) // #nosec G203 -- produced by html/template
	if cs.Error == "" {
		chartCache.Lock()
		if len(chartCache.m) >= chartCacheSize {
			for k, v := range chartCache.m {
				if now.Sub(v.at) >= chartTTL || len(chartCache.m) >= chartCacheSize {
					delete(chartCache.m, k)
				}
			}
		}
		chartCache.m[key] = chartEntry{at: now, html: html}
		chartCache.Unlock()
	}
	return html
}
