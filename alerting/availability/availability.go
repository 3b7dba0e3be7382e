package availability

import (
	"cmp"
	"fmt"
	"math/bits"
	"path"
	"slices"
	"time"

	"github.com/unyo-ops/unyo/alerting/escalation"
	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

// DefaultBudget is the unplanned downtime allowed per calendar month.
const DefaultBudget = 2 * time.Hour

// MaxPeriod is the longest period a report covers.
const MaxPeriod = 366 * 24 * time.Hour

// Lookback is how long before the period Load looks for incidents that
// are no longer active but were still down when it began.
const Lookback = 90 * 24 * time.Hour

// Outage checks and sources when Options gives neither (see the package
// documentation).
var (
	DefaultChecks  = []string{"ping"}
	DefaultSources = []string{"tcp", "http", "postgres"}
)

// Options say which period to measure and what counts.
type Options struct {
	// From and To are the period [From, To); required, at most MaxPeriod.
	From, To time.Time
	// Now ends outages still going and the report, when before To (zero:
	// To).
	Now time.Time
	// Location gives calendar months for the budget (default UTC).
	Location *time.Location
	// Budget is the unplanned downtime allowed per calendar month
	// (default DefaultBudget).
	Budget time.Duration
	// Checks and Sources are path.Match patterns: an incident whose check
	// matches one of Checks, or whose source one of Sources, is an
	// outage. Both empty: DefaultChecks and DefaultSources.
	Checks  []string
	Sources []string
}

func (o Options) withDefaults() Options {
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Budget == 0 {
		o.Budget = DefaultBudget
	}
	if len(o.Checks) == 0 && len(o.Sources) == 0 {
		o.Checks, o.Sources = DefaultChecks, DefaultSources
	}
	return o
}

// Validate returns a *incident.FieldError naming the first bad option.
func (o Options) Validate() error {
	fe := func(f, msg string) error { return &incident.FieldError{Field: f, Msg: msg} }
	switch {
	case o.From.IsZero():
		return fe("from", "required")
	case o.To.IsZero():
		return fe("to", "required")
	case !o.To.After(o.From):
		return fe("to", "must be after from")
	case o.To.Sub(o.From) > MaxPeriod:
		return fe("to", fmt.Sprintf("at most %d days after from", MaxPeriod/(24*time.Hour)))
	case o.Budget < 0:
		return fe("budget", "must not be negative")
	}
	for _, p := range []struct {
		field    string
		patterns []string
	}{{"checks", o.Checks}, {"sources", o.Sources}} {
		for _, pat := range p.patterns {
			if _, err := path.Match(pat, ""); err != nil || pat == "" {
				return fe(p.field, fmt.Sprintf("%q: not a pattern (path.Match)", pat))
			}
		}
	}
	return nil
}

// until is where the report ends: To, or Now when earlier, not before From.
func (o Options) until() time.Time {
	u := o.To
	if !o.Now.IsZero() && o.Now.Before(u) {
		u = o.Now
	}
	if u.Before(o.From) {
		u = o.From
	}
	return u
}

// Counts reports whether an incident is an outage under these options
// (their defaults applied).
func (o Options) Counts(inc incident.Incident) bool {
	o = o.withDefaults()
	for _, p := range o.Checks {
		if ok, _ := path.Match(p, inc.Check); ok {
			return true
		}
	}
	for _, p := range o.Sources {
		if ok, _ := path.Match(p, inc.Source); ok {
			return true
		}
	}
	return false
}

// Incident is an incident with its timeline (oldest first; empty: the
// approximation from its times, see the package documentation).
type Incident struct {
	incident.Incident
	Timeline []incident.Entry
}

// KnownTarget is a monitored target: listed (at 100%) even without an
// outage, and its labels (site, tags) tell which windows cover it.
type KnownTarget struct {
	Name   string
	Labels map[string]string
}

// Input is what Compute measures.
type Input struct {
	// Incidents that may overlap the period; those that are no outage
	// (Options.Counts) or do not overlap it are ignored.
	Incidents   []Incident
	Maintenance []ledger.Maintenance
	Targets     []KnownTarget
}

// Report is the availability of each target over [From, Until).
type Report struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Until is To, or Now when the period has not ended.
	Until    time.Time `json:"until"`
	TimeZone string    `json:"time_zone"`
	// Budget is the period's: Options.Budget prorated over its months.
	Budget  time.Duration `json:"-"`
	Checks  []string      `json:"checks"`
	Sources []string      `json:"sources"`
	// Targets, the most unplanned downtime first.
	Targets []Target `json:"targets"`
	Summary Summary  `json:"summary"`
}

// Target is one target's downtime in the period.
type Target struct {
	Target string `json:"target"`
	// Down is the union of its outages; Planned the part of it inside
	// Maintenance (its windows' time), Unplanned the rest.
	Down        time.Duration `json:"-"`
	Planned     time.Duration `json:"-"`
	Unplanned   time.Duration `json:"-"`
	Maintenance time.Duration `json:"-"`
	// Availability is a percentage of the time outside maintenance.
	Availability float64 `json:"availability_percent"`
	// BudgetUsed is Unplanned as a percentage of the period's budget.
	BudgetUsed float64 `json:"budget_used_percent"`
	OverBudget bool    `json:"over_budget"`
	// Incidents are the ids of its outages in the period, oldest first.
	Incidents []int64 `json:"incidents"`
	// LateWindows are the ids of windows that cover an outage but were
	// created after it began: flagged, not applied (Excuse).
	LateWindows []int64 `json:"late_windows,omitempty"`
}

// Summary is the site-wide view (see the package documentation).
type Summary struct {
	Targets    int `json:"targets"`
	OverBudget int `json:"over_budget"`
	// Worst is the target with the most unplanned downtime ("" without
	// targets).
	Worst             string        `json:"worst,omitempty"`
	WorstAvailability float64       `json:"worst_availability_percent"`
	WorstUnplanned    time.Duration `json:"-"`
	// Sums over targets.
	Down      time.Duration `json:"-"`
	Planned   time.Duration `json:"-"`
	Unplanned time.Duration `json:"-"`
	// AnyUnplanned is the time during which at least one target was down
	// unplanned.
	AnyUnplanned time.Duration `json:"-"`
}

// Compute measures the availability of every target with an outage in
// the period, and of every known target.
func Compute(in Input, o Options) (Report, error) {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return Report{}, err
	}
	until := o.until()
	r := Report{From: o.From, To: o.To, Until: until, TimeZone: o.Location.String(),
		Budget: prorate(o.Budget, o.From, o.To, o.Location), Checks: o.Checks, Sources: o.Sources}

	type acc struct {
		down  []escalation.Interval
		spans []Span
		ids   []int64
		cover []incident.Incident // what windows are matched against
	}
	targets := map[string]*acc{}
	get := func(name string) *acc {
		a := targets[name]
		if a == nil {
			a = &acc{}
			targets[name] = a
		}
		return a
	}
	for _, k := range in.Targets {
		a := get(k.Name)
		a.cover = append(a.cover, incident.Incident{Target: k.Name, Labels: k.Labels})
	}
	incs := slices.Clone(in.Incidents)
	slices.SortFunc(incs, func(a, b Incident) int { return cmp.Compare(a.ID, b.ID) })
	for _, inc := range incs {
		if !o.Counts(inc.Incident) {
			continue
		}
		var kept []Span
		for _, sp := range Spans(inc, until) {
			if len(clip([]escalation.Interval{sp.Interval}, o.From, until)) > 0 {
				kept = append(kept, sp)
			}
		}
		if len(kept) == 0 {
			continue
		}
		a := get(inc.Target)
		for _, sp := range kept {
			a.down = append(a.down, clip([]escalation.Interval{sp.Interval}, o.From, until)...)
		}
		a.spans = append(a.spans, kept...)
		a.ids = append(a.ids, inc.ID)
		a.cover = append(a.cover, inc.Incident)
	}

	period := until.Sub(o.From)
	var anyUnplanned []escalation.Interval
	for name, a := range targets {
		var maint []escalation.Interval
		var windows []ledger.Maintenance
		for _, m := range in.Maintenance {
			if slices.ContainsFunc(a.cover, func(inc incident.Incident) bool { return escalation.MatchesWindow(m, inc) }) {
				windows = append(windows, m)
				maint = append(maint, escalation.Occurrences(m, o.From, until)...)
			}
		}
		var unplanned []escalation.Interval
		var late []int64
		for _, sp := range a.spans {
			ex := Excuse(sp, windows, o.From, until)
			unplanned = append(unplanned, ex.Unplanned...)
			for _, m := range ex.Late {
				late = append(late, m.ID)
			}
		}
		down, maint := merge(a.down), merge(maint)
		unplanned = merge(unplanned)
		anyUnplanned = append(anyUnplanned, unplanned...)
		slices.Sort(late)
		t := Target{Target: name, Down: total(down), Unplanned: total(unplanned), Maintenance: total(maint),
			Incidents: a.ids, Availability: 100, LateWindows: slices.Compact(late)}
		if t.Incidents == nil {
			t.Incidents = []int64{}
		}
		t.Planned = t.Down - t.Unplanned
		if open := period - t.Maintenance; open > 0 {
			// Unplanned time inside a late window still counts as open
			// time.
			t.Availability = 100 * (1 - float64(t.Unplanned)/float64(open))
		}
		t.BudgetUsed = 100 * float64(t.Unplanned) / float64(r.Budget)
		t.OverBudget = t.Unplanned > r.Budget
		r.Targets = append(r.Targets, t)
	}
	slices.SortFunc(r.Targets, func(a, b Target) int {
		return cmp.Or(cmp.Compare(b.Unplanned, a.Unplanned), cmp.Compare(a.Availability, b.Availability), cmp.Compare(a.Target, b.Target))
	})
	if r.Targets == nil {
		r.Targets = []Target{}
	}
	s := &r.Summary
	s.Targets = len(r.Targets)
	s.WorstAvailability = 100
	if len(r.Targets) > 0 {
		w := r.Targets[0]
		s.Worst, s.WorstAvailability, s.WorstUnplanned = w.Target, w.Availability, w.Unplanned
	}
	for _, t := range r.Targets {
		s.Down += t.Down
		s.Planned += t.Planned
		s.Unplanned += t.Unplanned
		if t.OverBudget {
			s.OverBudget++
		}
	}
	s.AnyUnplanned = total(merge(anyUnplanned))
	return r, nil
}

// outages are the intervals an incident was down, up to until.
func outages(inc Incident, until time.Time) []escalation.Interval {
	sp := Spans(inc, until)
	out := make([]escalation.Interval, len(sp))
	for i, s := range sp {
		out[i] = s.Interval
	}
	return out
}

// Span is one down interval of an incident with the timeline entries that
// began and ended it (Begin nil: the incident has no timeline; End nil:
// still down at the end of the walk).
type Span struct {
	escalation.Interval
	Begin, End *incident.Entry
}

// Spans walks an incident's timeline into its down intervals, up to until
// or its resolve or close, whichever is first (see outages).
func Spans(inc Incident, until time.Time) []Span {
	end := until
	for _, t := range []*time.Time{inc.ResolvedAt, inc.ClosedAt} {
		if t != nil && t.Before(end) {
			end = *t
		}
	}
	if len(inc.Timeline) == 0 {
		e := end
		if inc.RecoveredAt != nil && inc.RecoveredAt.Before(e) {
			e = *inc.RecoveredAt
		}
		return []Span{{Interval: escalation.Interval{From: inc.OpenedAt, To: e}}}
	}
	var (
		out []Span
		cur Span
		now time.Time
	)
	down := false
	for i := range inc.Timeline {
		e := &inc.Timeline[i]
		// Counted at the time that can be trusted: a source clock ahead of
		// the receiving node's is taken at the receive time, so an event
		// dated in the future cannot hide downtime (Entry.TrustedAt). A
		// late event may carry an earlier time than the entry before it.
		if at := e.TrustedAt(); at.After(now) {
			now = at
		}
		switch e.Kind {
		case incident.KindOpened, incident.KindRecurred:
			if !down {
				down, cur = true, Span{Interval: escalation.Interval{From: now}, Begin: e}
			}
		case incident.KindRecovered, incident.KindResolved, incident.KindClosed:
			if down {
				down = false
				cur.To, cur.End = now, e
				out = append(out, cur)
			}
		}
	}
	if down {
		cur.To = end
		out = append(out, cur)
	}
	return out
}

// Excused is how the maintenance windows covering a target treat one of
// its down intervals (Excuse).
type Excused struct {
	// Interval is the span clipped to the period.
	Interval escalation.Interval
	// Planned are the parts inside windows that excuse it, merged;
	// Unplanned the rest of Interval.
	Planned, Unplanned []escalation.Interval
	// Used are the windows that excuse part of it; Late those that cover
	// part of it but were created after it began, which are flagged and
	// not applied.
	Used, Late []ledger.Maintenance
}

// Excuse is the one maintenance rule of availability, the monthly report
// and the console: a window excuses the part of a down interval inside
// its occurrences only when it was created no later than the interval
// began (Span.From, before clipping). A window added after an outage
// began, to cover it after the fact, is reported in Late and does not
// make the downtime planned. windows are those that cover the target
// (escalation.MatchesWindow); from and until bound the period.
func Excuse(sp Span, windows []ledger.Maintenance, from, until time.Time) Excused {
	var ex Excused
	ivs := clip([]escalation.Interval{sp.Interval}, from, until)
	if len(ivs) == 0 {
		return ex
	}
	ex.Interval = ivs[0]
	var on []escalation.Interval
	for _, m := range windows {
		occ := clip(escalation.Occurrences(m, from, until), ex.Interval.From, ex.Interval.To)
		if len(occ) == 0 {
			continue
		}
		if m.CreatedAt.After(sp.From) {
			ex.Late = append(ex.Late, m)
			continue
		}
		on = append(on, occ...)
		ex.Used = append(ex.Used, m)
	}
	ex.Planned = merge(on)
	ex.Unplanned = subtract([]escalation.Interval{ex.Interval}, ex.Planned)
	return ex
}

// clip cuts intervals to [from, to) and drops the empty ones.
func clip(ivs []escalation.Interval, from, to time.Time) []escalation.Interval {
	var out []escalation.Interval
	for _, iv := range ivs {
		if iv.From.Before(from) {
			iv.From = from
		}
		if iv.To.After(to) {
			iv.To = to
		}
		if iv.From.Before(iv.To) {
			out = append(out, iv)
		}
	}
	return out
}

// merge sorts intervals and joins those that overlap or touch.
func merge(ivs []escalation.Interval) []escalation.Interval {
	ivs = slices.Clone(ivs)
	slices.SortFunc(ivs, func(a, b escalation.Interval) int { return a.From.Compare(b.From) })
	var out []escalation.Interval
	for _, iv := range ivs {
		if !iv.From.Before(iv.To) {
			continue
		}
		if n := len(out); n > 0 && !iv.From.After(out[n-1].To) {
			if iv.To.After(out[n-1].To) {
				out[n-1].To = iv.To
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}

// subtract returns a minus b, both merged.
func subtract(a, b []escalation.Interval) []escalation.Interval {
	var out []escalation.Interval
	j := 0
	for _, iv := range a {
		from := iv.From
		for j < len(b) && !b[j].To.After(from) {
			j++
		}
		for k := j; k < len(b) && b[k].From.Before(iv.To); k++ {
			if b[k].From.After(from) {
				out = append(out, escalation.Interval{From: from, To: b[k].From})
			}
			if b[k].To.After(from) {
				from = b[k].To
			}
		}
		if from.Before(iv.To) {
			out = append(out, escalation.Interval{From: from, To: iv.To})
		}
	}
	return out
}

func total(ivs []escalation.Interval) time.Duration {
	var d time.Duration
	for _, iv := range ivs {
		d += iv.Duration()
	}
	return d
}

// prorate is budget per calendar month (in loc) over [from, to): each
// month adds budget × overlap / month length (at least 1ns in all).
func prorate(budget time.Duration, from, to time.Time, loc *time.Location) time.Duration {
	f := from.In(loc)
	var sum time.Duration
	for m := time.Date(f.Year(), f.Month(), 1, 0, 0, 0, 0, loc); m.Before(to); {
		next := m.AddDate(0, 1, 0)
		a, b := m, next
		if a.Before(from) {
			a = from
		}
		if b.After(to) {
			b = to
		}
		if a.Before(b) {
			// budget × overlap / length without overflow; the quotient is
			// at most budget.
			hi, lo := bits.Mul64(uint64(budget), uint64(b.Sub(a)))
			q, _ := bits.Div64(hi, lo, uint64(next.Sub(m)))
			sum += time.Duration(q)
		}
		m = next
	}
	return max(sum, 1)
}

// Outages returns the intervals an incident was down, up to until (see
// the package documentation), not clipped to any period.
func Outages(inc Incident, until time.Time) []escalation.Interval { return outages(inc, until) }

// Merge sorts intervals and joins those that overlap or touch.
func Merge(ivs []escalation.Interval) []escalation.Interval { return merge(ivs) }

// Subtract returns a minus b, both merged.
func Subtract(a, b []escalation.Interval) []escalation.Interval { return subtract(a, b) }

// Total is the summed length of intervals.
func Total(ivs []escalation.Interval) time.Duration { return total(ivs) }

// Clip cuts intervals to [from, to) and drops the empty ones.
func Clip(ivs []escalation.Interval, from, to time.Time) []escalation.Interval {
	return clip(ivs, from, to)
}

// Prorate is budget per calendar month (in loc) over [from, to).
func Prorate(budget time.Duration, from, to time.Time, loc *time.Location) time.Duration {
	return prorate(budget, from, to, loc)
}
