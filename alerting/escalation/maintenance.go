package escalation

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// cronHint ends every error about a maintenance cron expression.
const cronHint = `want five fields: minute hour day-of-month month day-of-week; the day of week may be ` +
	`"SUN#1" (first Sunday of the month, #1 to #5) or "5L" / "FRIL" (last Friday)`

// Interval is the half-open span [From, To).
type Interval struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Duration is To - From.
func (iv Interval) Duration() time.Duration { return iv.To.Sub(iv.From) }

// DefaultMaintenance is how long a one-off window lasts when it is given
// neither an end nor a duration and the configuration sets no default.
const DefaultMaintenance = 4 * time.Hour

// FillEnd gives a one-off window (no cron) without an end its end: start
// plus its duration, else def, else DefaultMaintenance. Its duration is
// then zero, as a one-off window keeps only its end.
func FillEnd(m ledger.Maintenance, def time.Duration) ledger.Maintenance {
	if m.Cron != "" || m.End != nil {
		return m
	}
	d := m.Duration
	if d == 0 {
		d = def
	}
	if d == 0 {
		d = DefaultMaintenance
	}
	end := m.Start.Add(d)
	m.End, m.Duration = &end, 0
	return m
}

// CheckMaintenance validates what ledger.Maintenance.Validate cannot: the
// cron expression and the time zone.
//
// A maintenance cron expression is robfig/cron's five fields (minute hour
// day-of-month month day-of-week, or a descriptor such as @monthly; not
// @every, which has no fixed starts) with one extension, because cron ORs
// day-of-month and day-of-week and so cannot say "the first Sunday": an
// element of the day-of-week field may
// be a weekday (0-6 or SUN-SAT) followed by #N, the Nth such weekday of
// the month (N from 1 to 5: "0 1 * * SUN#1", "0 1 * * 0#1"), or by L, the
// last one ("0 22 * * 5L", "0 22 * * FRIL"). Elements combine in a list
// ("0 2 * * SAT#2,SAT#4"). With #N or L the day-of-month must be *.
// Weekdays are reckoned in the window's time zone.
func CheckMaintenance(m ledger.Maintenance) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if _, err := time.LoadLocation(m.TimeZone); err != nil {
		return &incident.FieldError{Field: "time_zone", Msg: fmt.Sprintf("%q: unknown time zone", m.TimeZone)}
	}
	if m.Cron != "" {
		if _, err := parseMaintenanceCron(m.Cron); err != nil {
			return &incident.FieldError{Field: "cron", Msg: fmt.Sprintf("%q: %v (%s)", m.Cron, err, cronHint)}
		}
	}
	return nil
}

// maintSchedule is a parsed maintenance cron expression: cron's schedule
// of candidate starts, and the Nth / last weekday filter on them.
type maintSchedule struct {
	spec cron.Schedule
	// tz is the expression's own CRON_TZ=, if any: where cron matches, so
	// where the filter reckons weekdays too. Nil: the time's own zone.
	tz *time.Location
	// plain are the weekdays (bit 1<<time.Weekday) the field takes every
	// week; nth those it takes only on some weeks.
	plain uint64
	nth   []nthWeekday
}

// nthWeekday is "the n-th day of its month" (1-5), or the last (n 0).
type nthWeekday struct {
	day time.Weekday
	n   int
}

// starBit is robfig/cron's mark of a field written * (or ?).
const starBit = 1 << 63

var weekdayNames = map[string]time.Weekday{"SUN": time.Sunday, "MON": time.Monday, "TUE": time.Tuesday,
	"WED": time.Wednesday, "THU": time.Thursday, "FRI": time.Friday, "SAT": time.Saturday}

func parseWeekday(s string) (time.Weekday, bool) {
	if d, ok := weekdayNames[strings.ToUpper(s)]; ok {
		return d, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 6 || strconv.Itoa(n) != s {
		return 0, false
	}
	return time.Weekday(n), true
}

// parseMaintenanceCron parses a maintenance cron expression (see
// CheckMaintenance): the #N and L elements are taken out of the
// day-of-week field, their bare weekdays given to cron, and the starts cron
// yields filtered.
func parseMaintenanceCron(expr string) (*maintSchedule, error) {
	prefix, rest := "", strings.TrimSpace(expr)
	if strings.HasPrefix(rest, "TZ=") || strings.HasPrefix(rest, "CRON_TZ=") {
		tz, r, ok := strings.Cut(rest, " ")
		if !ok {
			// robfig/cron slices past the end of such an expression.
			return nil, fmt.Errorf("%s: want the time zone, a space and then the fields", tz)
		}
		prefix, rest = tz+" ", r
	}
	fields := strings.Fields(rest)
	if strings.HasPrefix(rest, "@every") {
		return nil, errors.New("@every has no fixed starts: give the times of day, as in \"0 1 * * *\"")
	}
	if len(fields) != 5 || !strings.ContainsAny(fields[4], "#Ll") {
		spec, err := cronParser.Parse(prefix + rest)
		if err != nil {
			return nil, err
		}
		return &maintSchedule{spec: spec}, nil
	}
	var (
		plain, bare []string
		nth         []nthWeekday
	)
	for _, e := range strings.Split(fields[4], ",") {
		day, n, isNth := strings.Cut(e, "#")
		isLast := !isNth && len(e) > 1 && strings.HasSuffix(strings.ToUpper(e), "L")
		switch {
		case e == "L" || e == "l":
			return nil, fmt.Errorf("day-of-week %q: name the weekday before L, as in 5L or FRIL (the last Friday of the month)", e)
		case isNth:
			wd, ok := parseWeekday(day)
			if !ok {
				return nil, fmt.Errorf("day-of-week %q: %q is not a weekday (0-6 or SUN-SAT)", e, day)
			}
			k, err := strconv.Atoi(n)
			if err != nil || k < 1 || k > 5 || strconv.Itoa(k) != n {
				return nil, fmt.Errorf("day-of-week %q: want #1 to #5 after the weekday (the Nth such weekday of the month)", e)
			}
			nth = append(nth, nthWeekday{wd, k})
			bare = append(bare, strconv.Itoa(int(wd)))
		case isLast:
			day = e[:len(e)-1]
			wd, ok := parseWeekday(day)
			if !ok {
				return nil, fmt.Errorf("day-of-week %q: %q is not a weekday (0-6 or SUN-SAT) before L", e, day)
			}
			nth = append(nth, nthWeekday{wd, 0})
			bare = append(bare, strconv.Itoa(int(wd)))
		default:
			plain = append(plain, e)
		}
	}
	s := &maintSchedule{nth: nth}
	spec, err := cronParser.Parse(prefix + strings.Join(fields[:4], " ") + " " + strings.Join(append(plain, bare...), ","))
	if err != nil {
		return nil, err
	}
	ss, ok := spec.(*cron.SpecSchedule)
	if !ok {
		return nil, errors.New("day-of-week #N and L need the five-field form")
	}
	if ss.Dom&starBit == 0 {
		return nil, fmt.Errorf("day-of-month %q: must be * when the day of week has #N or L (cron would OR the two day fields)", fields[2])
	}
	if ss.Location != time.Local {
		s.tz = ss.Location
	}
	if len(plain) > 0 {
		p, err := cronParser.Parse("0 0 * * " + strings.Join(plain, ","))
		if err != nil {
			return nil, err
		}
		s.plain = p.(*cron.SpecSchedule).Dow &^ starBit
	}
	s.spec = spec
	return s, nil
}

// match reports whether a start cron gave passes the #N / L filter.
func (s *maintSchedule) match(t time.Time) bool {
	if len(s.nth) == 0 {
		return true
	}
	if s.tz != nil {
		t = t.In(s.tz)
	}
	wd := t.Weekday()
	if s.plain&(1<<uint(wd)) != 0 {
		return true
	}
	days := time.Date(t.Year(), t.Month()+1, 0, 12, 0, 0, 0, time.UTC).Day()
	for _, x := range s.nth {
		switch {
		case x.day != wd:
		case x.n == 0 && t.Day()+7 > days:
			return true
		case x.n > 0 && (t.Day()-1)/7+1 == x.n:
			return true
		}
	}
	return false
}

// next returns the first start strictly after t (at second granularity,
// like cron), in t's zone; zero when there is none within five years.
func (s *maintSchedule) next(t time.Time) time.Time {
	limit := t.AddDate(5, 0, 0)
	for {
		t = s.spec.Next(t)
		if t.IsZero() || t.After(limit) {
			return time.Time{}
		}
		if s.match(t) {
			return t
		}
	}
}

// recurring returns the schedule of a recurring window and its zone.
func recurring(m ledger.Maintenance) (*maintSchedule, *time.Location, bool) {
	if m.Cron == "" || m.Duration <= 0 {
		return nil, nil, false
	}
	sched, err := parseMaintenanceCron(m.Cron)
	if err != nil {
		return nil, nil, false
	}
	loc, err := time.LoadLocation(m.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	return sched, loc, true
}

// firstAfter is the first start of a recurring window strictly after t
// and not before its Start.
func firstAfter(m ledger.Maintenance, sched *maintSchedule, loc *time.Location, t time.Time) time.Time {
	if before := m.Start.Add(-time.Nanosecond); t.Before(before) {
		t = before
	}
	return sched.next(t.In(loc))
}

// ActiveWindow reports whether the window is in force at t, and until when.
// A recurring window is in force from each start its cron schedule gives
// (in its time zone, not before Start nor at or after End) for Duration:
// t is in force when it lies in one of the intervals Occurrences gives,
// and until is the end of the earliest of those containing t (an
// overlapping later occurrence may keep the window in force longer).
// Ending a window (EndedAt) cuts its occurrences there.
func ActiveWindow(m ledger.Maintenance, t time.Time) (bool, time.Time) {
	if m.EndedAt != nil && !t.Before(*m.EndedAt) {
		return false, time.Time{}
	}
	if t.Before(m.Start) {
		return false, time.Time{}
	}
	end := func(e time.Time) time.Time {
		if m.EndedAt != nil && m.EndedAt.Before(e) {
			return *m.EndedAt
		}
		return e
	}
	if m.Cron == "" {
		if m.End != nil && t.Before(*m.End) {
			return true, end(*m.End)
		}
		return false, time.Time{}
	}
	sched, loc, ok := recurring(m)
	if !ok {
		return false, time.Time{}
	}
	// The earliest start in force at t lies in (t-Duration, t].
	s := firstAfter(m, sched, loc, t.Add(-m.Duration))
	if s.IsZero() || s.After(t) {
		return false, time.Time{}
	}
	if m.End != nil && !s.Before(*m.End) {
		return false, time.Time{}
	}
	return true, end(s.Add(m.Duration))
}

// Occurrences returns the intervals in which the window is in force within
// [from, to), each clipped to it, in order of start: for a one-off window
// [Start, End), for a recurring one [s, s+Duration) for each start s of its
// schedule (the same as ActiveWindow's), each cut at EndedAt when the window
// was ended. Occurrences of a recurring window may overlap when Duration is
// longer than the gap between starts; they are not merged.
func Occurrences(m ledger.Maintenance, from, to time.Time) []Interval {
	stop := to
	if m.EndedAt != nil && m.EndedAt.Before(stop) {
		stop = *m.EndedAt
	}
	clip := func(a, b time.Time) (Interval, bool) {
		if a.Before(from) {
			a = from
		}
		if b.After(stop) {
			b = stop
		}
		return Interval{From: a, To: b}, a.Before(b)
	}
	if !from.Before(stop) {
		return nil
	}
	if m.Cron == "" {
		if m.End == nil {
			return nil
		}
		if iv, ok := clip(m.Start, *m.End); ok {
			return []Interval{iv}
		}
		return nil
	}
	sched, loc, ok := recurring(m)
	if !ok {
		return nil
	}
	var out []Interval
	for s := firstAfter(m, sched, loc, from.Add(-m.Duration)); !s.IsZero() && s.Before(stop); s = sched.next(s) {
		if m.End != nil && !s.Before(*m.End) {
			break
		}
		if iv, ok := clip(s, s.Add(m.Duration)); ok {
			out = append(out, iv)
		}
	}
	return out
}

// MatchesWindow reports whether the window covers the incident: its target
// (a glob), one of its labels (tag "key=value") or its site label.
func MatchesWindow(m ledger.Maintenance, inc incident.Incident) bool {
	switch m.Scope {
	case ledger.ScopeTarget:
		ok, _ := path.Match(m.Match, inc.Target)
		return ok || m.Match == inc.Target
	case ledger.ScopeTag:
		k, v, _ := strings.Cut(m.Match, "=")
		got, ok := inc.Labels[k]
		return ok && got == v
	case ledger.ScopeSite:
		return inc.Labels["site"] == m.Match
	}
	return false
}
