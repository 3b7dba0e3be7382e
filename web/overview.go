package web

import (
	"cmp"
	"context"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/unyo-ops/unyo/alerting/availability"
	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/monitor/target"
	"github.com/unyo-ops/unyo/report"
)

// Tile is one target on the overview.
type Tile struct {
	Name   string
	Status target.Status // up, down, unknown ("" for a target known only from incidents)
	// Worst is the highest severity of its active incidents ("" none).
	Worst  incident.Severity
	Active int // active (open or acknowledged) incidents
	Open   int // of them, not acknowledged
	// Href and CSS are the link and the class, computed once (2,000
	// tiles are drawn on every live redraw).
	Href string
	CSS  string
}

// Faulty reports whether the tile is highlighted.
func (t Tile) Faulty() bool { return t.Worst != "" || t.Status == target.Down }

// Class is the tile's CSS class: its worst severity, or its status.
func (t Tile) Class() string {
	switch {
	case t.Worst != "":
		return "sev-" + string(t.Worst)
	case t.Status == target.Down:
		return "sev-critical"
	case t.Status == target.Up:
		return "st-up"
	}
	return "st-unknown"
}

// SevCount is the number of active incidents of one severity.
type SevCount struct {
	Severity incident.Severity
	Active   int
	Open     int
}

// ClusterView is the cluster health shown on the overview.
type ClusterView struct {
	Members  int
	Live     int // -1: unknown (not the leader)
	Leader   string
	InQuorum bool
	State    string
}

// BudgetView is the month's unplanned downtime against the budget.
type BudgetView struct {
	Month        string
	Budget       time.Duration
	AnyUnplanned time.Duration
	UsedPercent  float64 // of the site: time any target was down unplanned
	Worst        string
	WorstUsed    float64
	OverBudget   int
	Targets      int
	// Flagged counts targets with an outage covered by a maintenance
	// window added after it began: not applied (availability.Excuse).
	Flagged int
}

type overviewData struct {
	Tiles   []Tile
	Faulty  int
	Counts  []SevCount
	Active  int
	Open    int
	Recent  []incident.Incident // newest active incidents
	Cluster *ClusterView
	Budget  *BudgetView
	// LatestReport is the newest stored monthly report (nil: none).
	LatestReport *report.Entry
	// Truncated: more active incidents exist than were read.
	Truncated bool
}

// maxActive bounds the active incidents read for one page.
const maxActive = 10000

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	// A live redraw of the summary alone needs no tiles: it comes first.
	summary := r.Header.Get("HX-Target") == "r-summary"
	d, err := s.overviewData(r.Context(), !summary)
	if err != nil {
		s.storeFail(w, r, "incidents", err)
		return
	}
	s.render(w, r, "overview", d)
}

func (s *Server) overviewData(ctx context.Context, withTiles bool) (overviewData, error) {
	var d overviewData
	act, truncated, err := s.activeIncidents(ctx)
	if err != nil {
		return d, err
	}
	d.Truncated = truncated
	tiles := map[string]*Tile{}
	var order []string
	if s.d.Targets != nil && withTiles {
		for _, t := range s.d.Targets.Targets() {
			tiles[t.Name] = &Tile{Name: t.Name, Status: t.Status}
			order = append(order, t.Name)
		}
	}
	counts := map[incident.Severity]*SevCount{}
	for _, sv := range incident.Severities {
		counts[sv] = &SevCount{Severity: sv}
		d.Counts = append(d.Counts, SevCount{})
	}
	for _, inc := range act {
		if !withTiles {
			d.Active++
			if inc.State == incident.Open {
				d.Open++
			}
			if c := counts[inc.Severity]; c != nil {
				c.Active++
				if inc.State == incident.Open {
					c.Open++
				}
			}
			continue
		}
		t := tiles[inc.Target]
		if t == nil {
			t = &Tile{Name: inc.Target}
			tiles[inc.Target] = t
			order = append(order, inc.Target)
		}
		t.Active++
		d.Active++
		c := counts[inc.Severity]
		if c != nil {
			c.Active++
		}
		if inc.State == incident.Open {
			t.Open++
			d.Open++
			if c != nil {
				c.Open++
			}
		}
		if t.Worst == "" || inc.Severity.Rank() < t.Worst.Rank() {
			t.Worst = inc.Severity
		}
	}
	for i, sv := range incident.Severities {
		d.Counts[i] = *counts[sv]
	}
	d.Tiles = make([]Tile, 0, len(order))
	for _, n := range order {
		t := tiles[n]
		t.Href, t.CSS = "/targets/"+url.PathEscape(n), "tile "+t.Class()
		d.Tiles = append(d.Tiles, *t)
	}
	// Faulty first, worst first; then by name.
	slices.SortStableFunc(d.Tiles, func(a, b Tile) int {
		if c := cmp.Compare(rankOf(a), rankOf(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	for _, t := range d.Tiles {
		if t.Faulty() {
			d.Faulty++
		}
	}
	d.Recent = act[:min(len(act), 20)]
	d.Cluster = s.clusterView()
	d.Budget = s.budget(ctx)
	if s.d.Reports != nil {
		if l, err := s.d.Reports.List(ctx); err == nil && len(l) > 0 {
			d.LatestReport = &l[0]
		}
	}
	return d, nil
}

// rankOf orders tiles: worst severity first, then down without an
// incident, then the rest.
func rankOf(t Tile) int {
	switch {
	case t.Worst != "":
		return t.Worst.Rank()
	case t.Status == target.Down:
		return 10
	}
	return 20
}

// activeIncidents reads the open and acknowledged incidents, newest first.
func (s *Server) activeIncidents(ctx context.Context) ([]incident.Incident, bool, error) {
	act, err := s.d.Store.Incidents(ctx, ledgerFilter([]incident.State{incident.Open, incident.Acknowledged}, "", maxActive+1))
	if err != nil {
		return nil, false, err
	}
	if len(act) > maxActive {
		return act[:maxActive], true, nil
	}
	return act, false, nil
}

func (s *Server) clusterView() *ClusterView {
	if s.d.Cluster == nil {
		return nil
	}
	st, ok := s.d.Cluster()
	if !ok {
		return nil
	}
	return clusterViewOf(st)
}

func clusterViewOf(st cluster.Status) *ClusterView {
	v := &ClusterView{Members: len(st.Members), Live: -1, Leader: st.Leader.ID, InQuorum: st.InQuorum, State: st.State}
	live, known := 0, false
	for _, m := range st.Members {
		if m.Live != nil {
			known = true
			if *m.Live {
				live++
			}
		}
	}
	if known {
		v.Live = live
	}
	return v
}

// availCache keeps the month's availability for 30 s: it reads every
// outage of the month, and nothing on the overview needs it fresher.
type availCache struct {
	mu  sync.Mutex
	at  time.Time
	val *BudgetView
}

func (s *Server) budget(ctx context.Context) *BudgetView {
	now := s.d.Now()
	s.avail.mu.Lock()
	defer s.avail.mu.Unlock()
	if s.avail.val != nil && now.Sub(s.avail.at) < 30*time.Second {
		return s.avail.val
	}
	loc := s.d.Alerting.Location
	if loc == nil {
		loc = time.UTC
	}
	n := now.In(loc)
	from := time.Date(n.Year(), n.Month(), 1, 0, 0, 0, 0, loc)
	a := s.d.Alerting.Availability
	o := availability.Options{From: from, To: from.AddDate(0, 1, 0), Now: now, Location: loc, Budget: a.Budget, Checks: a.Checks, Sources: a.Sources}
	in, err := availability.Load(ctx, s.d.Store, o)
	if err != nil {
		s.log.Warn("overview: availability not read", "err", err)
		return s.avail.val
	}
	if s.d.Targets != nil {
		for _, t := range s.d.Targets.Targets() {
			labels := maps.Clone(t.Tags)
			if labels == nil {
				labels = map[string]string{}
			}
			if t.Site != "" {
				labels["site"] = t.Site
			}
			in.Targets = append(in.Targets, availability.KnownTarget{Name: t.Name, Labels: labels})
		}
	}
	rep, err := availability.Compute(in, o)
	if err != nil {
		s.log.Warn("overview: availability not computed", "err", err)
		return s.avail.val
	}
	v := &BudgetView{Month: from.Format("2006-01"), Budget: rep.Budget, AnyUnplanned: rep.Summary.AnyUnplanned,
		Worst: rep.Summary.Worst, OverBudget: rep.Summary.OverBudget, Targets: rep.Summary.Targets}
	if rep.Budget > 0 {
		v.UsedPercent = 100 * float64(rep.Summary.AnyUnplanned) / float64(rep.Budget)
	}
	for _, t := range rep.Targets {
		if t.Target == v.Worst {
			v.WorstUsed = t.BudgetUsed
		}
		if len(t.LateWindows) > 0 {
			v.Flagged++
		}
	}
	s.avail.val, s.avail.at = v, now
	return v
}
