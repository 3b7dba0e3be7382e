package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/availability"
	"github.com/unyo-ops/unyo/alerting/escalation"
	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

func entryText(e *incident.Entry, what string) string {
	if e == nil {
		return what
	}
	s := string(e.Kind) + " at " + e.At.UTC().Format(time.RFC3339)
	if e.By != "" {
		s += " by " + e.By
	}
	if e.Comment != "" {
		c := e.Comment
		if len(c) > 120 {
			c = c[:120] + "…"
		}
		s += ": " + c
	}
	return s
}

// computeAvailability is package availability's measure interval by
// interval, with the same rule (availability.Excuse): a window created
// after an outage interval began does not excuse it; it is flagged on the
// interval.
func computeAvailability(in availability.Input, known []availability.KnownTarget, o availability.Options) Availability {
	from, until := o.From, o.To
	if !o.Now.IsZero() && o.Now.Before(until) {
		until = o.Now
	}
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	budget := availability.Prorate(o.Budget, o.From, o.To, loc)
	out := Availability{Budget: budget, Servers: []ServerAvail{}, Sites: []SiteAvail{}, Outages: []OutageInterval{}}
	type tacc struct {
		site      string
		cover     []incident.Incident
		down      []escalation.Interval
		unplanned []escalation.Interval
		maint     []escalation.Interval // every matching window's time (for availability %)
	}
	targets := map[string]*tacc{}
	get := func(name string) *tacc {
		t := targets[name]
		if t == nil {
			t = &tacc{}
			targets[name] = t
		}
		return t
	}
	for _, k := range known {
		t := get(k.Name)
		if t.site == "" {
			t.site = k.Labels["site"]
		}
		t.cover = append(t.cover, incident.Incident{Target: k.Name, Labels: k.Labels})
	}
	incs := slices.Clone(in.Incidents)
	slices.SortFunc(incs, func(a, b availability.Incident) int { return cmp.Compare(a.ID, b.ID) })
	for _, inc := range incs {
		if !o.Counts(inc.Incident) {
			continue
		}
		t := get(inc.Target)
		t.cover = append(t.cover, inc.Incident)
		if t.site == "" {
			t.site = inc.Labels["site"]
		}
	}
	windowsOf := func(t *tacc) []ledger.Maintenance {
		var ws []ledger.Maintenance
		for _, m := range in.Maintenance {
			if slices.ContainsFunc(t.cover, func(c incident.Incident) bool { return escalation.MatchesWindow(m, c) }) {
				ws = append(ws, m)
			}
		}
		return ws
	}
	for _, inc := range incs {
		if !o.Counts(inc.Incident) {
			continue
		}
		t := get(inc.Target)
		ws := windowsOf(t)
		for _, sp := range availability.Spans(inc, until) {
			ex := availability.Excuse(sp, ws, from, until)
			if ex.Interval.From.IsZero() {
				continue
			}
			iv, unplanned := ex.Interval, ex.Unplanned
			name := func(m ledger.Maintenance) string {
				return fmt.Sprintf("#%d %s (created %s)", m.ID, m.Name, m.CreatedAt.UTC().Format(time.RFC3339))
			}
			var used, late []string
			for _, m := range ex.Used {
				used = append(used, name(m))
			}
			for _, m := range ex.Late {
				late = append(late, name(m))
			}
			oi := OutageInterval{Server: inc.Target, Incident: inc.ID, Check: inc.Check, From: iv.From, To: iv.To,
				Down: iv.Duration(), Unplanned: availability.Total(unplanned),
				OpenedBy: entryText(sp.Begin, "opened at "+inc.OpenedAt.UTC().Format(time.RFC3339)),
				ClosedBy: entryText(sp.End, "still down at "+iv.To.UTC().Format(time.RFC3339)), LateWindows: late}
			if sp.From.Before(from) {
				oi.OpenedBy += " (before the month)"
			}
			oi.Planned = oi.Down - oi.Unplanned
			var why []string
			switch {
			case len(used) == 0:
				why = append(why, "not excluded: no maintenance window covered it")
			case oi.Unplanned == 0:
				why = append(why, "excluded: inside "+strings.Join(used, ", "))
			default:
				why = append(why, fmt.Sprintf("%s of %s excluded: inside %s; the rest is unplanned", fmtDur(oi.Planned), fmtDur(oi.Down), strings.Join(used, ", ")))
			}
			if len(late) > 0 {
				why = append(why, "FLAGGED: window "+strings.Join(late, ", ")+" was added after the outage began and is not applied")
			}
			oi.Why = strings.Join(why, "; ")
			out.Outages = append(out.Outages, oi)
			t.down = append(t.down, iv)
			t.unplanned = append(t.unplanned, unplanned...)
		}
	}
	sites := map[string]*SiteAvail{}
	siteAny := map[string][]escalation.Interval{}
	period := until.Sub(from)
	for _, name := range sortedKeys(targets) {
		t := targets[name]
		for _, m := range windowsOf(t) {
			t.maint = append(t.maint, escalation.Occurrences(m, from, until)...)
		}
		down, unpl := availability.Merge(t.down), availability.Merge(t.unplanned)
		sa := ServerAvail{Server: name, Site: groupName(t.site), Down: availability.Total(down), Unplanned: availability.Total(unpl), Availability: 100}
		sa.Planned = sa.Down - sa.Unplanned
		sa.BudgetUsed, sa.BudgetLeft = sa.Unplanned, budget-sa.Unplanned
		if open := period - availability.Total(availability.Merge(t.maint)); open > 0 {
			// Unplanned time inside a late window still counts as open time.
			sa.Availability = 100 * (1 - float64(sa.Unplanned)/float64(open))
		}
		out.Servers = append(out.Servers, sa)
		s := sites[sa.Site]
		if s == nil {
			s = &SiteAvail{Site: sa.Site}
			sites[sa.Site] = s
		}
		s.Servers++
		s.Down += sa.Down
		s.Planned += sa.Planned
		s.Unplanned += sa.Unplanned
		if sa.Unplanned > budget {
			s.OverBudget++
		}
		siteAny[sa.Site] = append(siteAny[sa.Site], unpl...)
	}
	for _, name := range sortedKeys(sites) {
		s := sites[name]
		s.AnyDown = availability.Total(availability.Merge(siteAny[name]))
		out.Sites = append(out.Sites, *s)
	}
	slices.SortFunc(out.Servers, func(a, b ServerAvail) int {
		return cmp.Or(cmp.Compare(b.Unplanned, a.Unplanned), cmp.Compare(b.Down, a.Down), cmp.Compare(a.Server, b.Server))
	})
	slices.SortFunc(out.Outages, func(a, b OutageInterval) int {
		return cmp.Or(a.From.Compare(b.From), cmp.Compare(a.Server, b.Server), cmp.Compare(a.Incident, b.Incident))
	})
	return out
}

// fmtDur writes a duration in minutes (and hours past 90 minutes).
func fmtDur(d time.Duration) string {
	m := d.Round(time.Second).Minutes()
	if m >= 90 {
		return fmt.Sprintf("%.0f min (%.1f h)", m, m/60)
	}
	if m == float64(int64(m)) {
		return fmt.Sprintf("%.0f min", m)
	}
	return fmt.Sprintf("%.1f min", m)
}
