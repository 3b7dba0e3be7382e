package jobnet

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/robfig/cron/v3"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/jobnet/runstate"
)

// Net is a jobnet compiled from its configuration: schedules parsed,
// calendar resolved, end codes and retry codes as ranges.
type Net struct {
	configs.JobnetConfig
	// Def identifies this definition: the SHA-256 of the jobnet's
	// configuration. A run records it, and keeps this definition while
	// it is in progress even when the configuration changes.
	Def       string
	Schedules []*Schedule
	jobs      map[string]*Job
	params    map[string]*regexp.Regexp // declared name → anchored pattern
}

// Job is a compiled job.
type Job struct {
	configs.JobConfig
	normal, warning, retryOn []configs.CodeRange
}

// Compile turns the jobnets section of a loaded (so validated)
// configuration into Nets by name.
func Compile(cfg configs.JobnetsConfig) (map[string]*Net, error) {
	out := make(map[string]*Net, len(cfg))
	for i, nc := range cfg {
		n := &Net{JobnetConfig: nc, Def: defHash(nc), jobs: map[string]*Job{}, params: map[string]*regexp.Regexp{}}
		for k, p := range nc.Params {
			re, err := p.Regexp()
			if err != nil {
				return nil, fmt.Errorf("jobnets[%d].params[%d].pattern: %w", i, k, err)
			}
			n.params[p.Name] = re
		}
		cal, err := NewCalendar(nc.Calendar)
		if err != nil {
			return nil, fmt.Errorf("jobnets[%d]: %w", i, err)
		}
		for k, sc := range nc.Schedules {
			s, err := NewSchedule(sc, cal)
			if err != nil {
				return nil, fmt.Errorf("jobnets[%d].schedules[%d]: %w", i, k, err)
			}
			n.Schedules = append(n.Schedules, s)
		}
		for k, jc := range nc.Jobs {
			j := &Job{JobConfig: jc}
			for _, l := range []struct {
				in  []string
				out *[]configs.CodeRange
			}{{jc.EndCodes.Normal, &j.normal}, {jc.EndCodes.Warning, &j.warning}, {jc.Retry.On, &j.retryOn}} {
				for _, s := range l.in {
					r, err := configs.ParseCodeRange(s)
					if err != nil {
						return nil, fmt.Errorf("jobnets[%d].jobs[%d]: %w", i, k, err)
					}
					*l.out = append(*l.out, r)
				}
			}
			if len(j.normal) == 0 {
				j.normal = []configs.CodeRange{{Lo: 0, Hi: 0}}
			}
			n.jobs[jc.Name] = j
		}
		if cyc := configs.FindCycle(n.jobNames(), n.needs()); cyc != nil {
			return nil, fmt.Errorf("jobnets[%d].jobs: cycle %v", i, cyc)
		}
		out[nc.Name] = n
	}
	return out, nil
}

// defHash is the SHA-256 of a jobnet's configuration (its JSON form).
func defHash(nc configs.JobnetConfig) string {
	b, err := json.Marshal(nc)
	if err != nil {
		b = fmt.Appendf(nil, "%#v", nc)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (n *Net) jobNames() []string {
	var out []string
	for _, j := range n.Jobs {
		out = append(out, j.Name)
	}
	return out
}

func (n *Net) needs() map[string][]string {
	out := map[string][]string{}
	for _, j := range n.Jobs {
		out[j.Name] = j.Needs
	}
	return out
}

// Job returns the named job.
func (n *Net) Job(name string) *Job { return n.jobs[name] }

// specs is the jobs a new run is created with.
func (n *Net) specs() []runstate.JobSpec {
	var out []runstate.JobSpec
	for _, j := range n.Jobs {
		out = append(out, runstate.JobSpec{Name: j.Name, Needs: slices.Clone(j.Needs), Hold: j.Hold})
	}
	return out
}

// Judge returns the state an end code gives: normal, warning or abnormal.
func (j *Job) Judge(code int) runstate.JobState {
	for _, r := range j.normal {
		if r.Contains(code) {
			return runstate.EndedNormal
		}
	}
	for _, r := range j.warning {
		if r.Contains(code) {
			return runstate.EndedWarning
		}
	}
	return runstate.EndedAbnormal
}

// Retries reports whether an end with code (judged st) is retried.
func (j *Job) Retries(code int, st runstate.JobState) bool {
	if j.Retry.Count == 0 {
		return false
	}
	if len(j.retryOn) == 0 {
		return st == runstate.EndedAbnormal
	}
	for _, r := range j.retryOn {
		if r.Contains(code) {
			return true
		}
	}
	return false
}

// ErrBadParam: a start gave a parameter the jobnet does not declare, or a
// value its pattern does not match. The error also holds an
// *incident.FieldError naming params.NAME.
var ErrBadParam = errors.New("jobnet: bad parameter")

// CheckParams checks the parameters a start gives: each declared by the
// jobnet, each value at most configs.MaxParamValue bytes of UTF-8 without
// NUL, matching its pattern. The first bad one, by name, is reported.
func (n *Net) CheckParams(params map[string]string) error {
	bad := func(name, format string, args ...any) error {
		return fmt.Errorf("%w: %w", ErrBadParam, &incident.FieldError{Field: "params." + name, Msg: fmt.Sprintf(format, args...)})
	}
	names := slices.Sorted(maps.Keys(params))
	for _, name := range names {
		v := params[name]
		re, ok := n.params[name]
		switch {
		case !ok:
			return bad(name, "jobnet %s declares no such parameter", n.Name)
		case len(v) > configs.MaxParamValue:
			return bad(name, "longer than %d bytes", configs.MaxParamValue)
		case !utf8.ValidString(v) || strings.ContainsRune(v, 0):
			return bad(name, "not UTF-8 text, or holds a NUL")
		case !re.MatchString(v):
			decl, _ := n.Params.Lookup(name)
			pat := decl.Pattern
			if pat == "" {
				pat = configs.DefaultParamPattern
			}
			return bad(name, "the value does not match the parameter's pattern %s", pat)
		}
	}
	return nil
}

// childParams are the parameters of the parent run params that a nested
// run of child gets: those child declares.
func childParams(child *Net, params map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range params {
		if _, ok := child.params[k]; ok {
			out[k] = v
		}
	}
	return out
}

// expand replaces ${name} with params[name]; unknown names stay. The value
// is put in as it is: a job's args and env are passed to the process as
// they are (no shell), so a value is never split or interpreted.
func expand(s string, params map[string]string) string {
	return configs.ParamRefRE.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := params[m[2:len(m)-1]]; ok {
			return v
		}
		return m
	})
}

// --- calendars and schedules ---

// Calendar says which days are business days.
type Calendar struct {
	days     map[time.Weekday]bool
	holidays map[string]bool
	closed   map[string]bool
}

// NewCalendar compiles a calendar configuration.
func NewCalendar(c configs.JobnetCalendar) (*Calendar, error) {
	cal := &Calendar{days: map[time.Weekday]bool{}, holidays: map[string]bool{}, closed: map[string]bool{}}
	days := c.BusinessDays
	if len(days) == 0 {
		days = []string{"mon", "tue", "wed", "thu", "fri"}
	}
	for _, d := range days {
		wd, ok := configs.Weekdays[d]
		if !ok {
			return nil, fmt.Errorf("calendar: day %q", d)
		}
		cal.days[wd] = true
	}
	for _, d := range c.Holidays {
		cal.holidays[d] = true
	}
	for _, d := range c.Closed {
		cal.closed[d] = true
	}
	return cal, nil
}

// Business reports whether t's date (in t's location) is a business day.
func (c *Calendar) Business(t time.Time) bool {
	d := t.Format(time.DateOnly)
	return c.days[t.Weekday()] && !c.holidays[d] && !c.closed[d]
}

// Closed reports whether t's date is a closed day.
func (c *Calendar) Closed(t time.Time) bool { return c.closed[t.Format(time.DateOnly)] }

// Schedule is a cron schedule read in a time zone and adjusted by a
// calendar.
type Schedule struct {
	Expr        string
	loc         *time.Location
	cron        cron.Schedule
	cal         *Calendar
	nonBusiness string
}

// NewSchedule compiles a schedule.
func NewSchedule(sc configs.JobnetSchedule, cal *Calendar) (*Schedule, error) {
	loc, err := time.LoadLocation(sc.TimeZone)
	if err != nil {
		return nil, err
	}
	cs, err := configs.CronParser.Parse(sc.Cron)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %w", sc.Cron, err)
	}
	nb := sc.NonBusiness
	if nb == "" {
		nb = "run"
	}
	return &Schedule{Expr: sc.Cron, loc: loc, cron: cs, cal: cal, nonBusiness: nb}, nil
}

// effective maps a raw cron time to when it runs, or false when it does
// not run.
func (s *Schedule) effective(t time.Time) (time.Time, bool) {
	if s.cal.Business(t) {
		return t, true
	}
	switch s.nonBusiness {
	case "run":
		return t, !s.cal.Closed(t)
	case "skip":
		return time.Time{}, false
	case "next", "previous":
		step := 1
		if s.nonBusiness == "previous" {
			step = -1
		}
		d := t
		for range 366 {
			y, m, dd := d.Date()
			d = time.Date(y, m, dd+step, t.Hour(), t.Minute(), t.Second(), 0, s.loc)
			if s.cal.Business(d) {
				return d, true
			}
		}
	}
	return time.Time{}, false
}

// shiftWindow is how far a shifted firing can move.
const shiftWindow = 15 * 24 * time.Hour

// Next returns the first firing strictly after after, with the calendar
// applied; zero if there is none within a year.
func (s *Schedule) Next(after time.Time) time.Time {
	start := after.In(s.loc)
	look := time.Duration(0)
	if s.nonBusiness == "next" || s.nonBusiness == "previous" {
		look = shiftWindow
	}
	var best time.Time
	raw := start.Add(-look)
	limit := start.AddDate(1, 0, 0)
	for n := 0; n < 200000; n++ {
		raw = s.cron.Next(raw)
		if raw.IsZero() || raw.After(limit) {
			break
		}
		if !best.IsZero() && raw.Sub(best) > look {
			break
		}
		eff, ok := s.effective(raw)
		if !ok || !eff.After(after) {
			continue
		}
		if best.IsZero() || eff.Before(best) {
			best = eff
		}
		if look == 0 {
			break
		}
	}
	return best
}

// Due returns the firings of n's schedules in (after, until], oldest
// first, without duplicates, at most max of the latest.
func (n *Net) Due(after, until time.Time, max int) []time.Time {
	var out []time.Time
	for _, s := range n.Schedules {
		for t := s.Next(after); !t.IsZero() && !t.After(until); t = s.Next(t) {
			out = append(out, t.UTC())
			if len(out) > 4*max+1000 {
				out = out[len(out)-max:]
			}
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	out = slices.CompactFunc(out, func(a, b time.Time) bool { return a.Equal(b) })
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return out
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
