package escalation

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// CheckMaintenance validates what ledger.Maintenance.Validate cannot: the
// cron expression and the time zone.
func CheckMaintenance(m ledger.Maintenance) error {
	if err := m.Validate(); err != nil {
		return err
	}
	if _, err := time.LoadLocation(m.TimeZone); err != nil {
		return &incident.FieldError{Field: "time_zone", Msg: fmt.Sprintf("%q: unknown time zone", m.TimeZone)}
	}
	if m.Cron != "" {
		if _, err := cronParser.Parse(m.Cron); err != nil {
			return &incident.FieldError{Field: "cron", Msg: fmt.Sprintf("%q: %v (want five fields: minute hour day-of-month month day-of-week)", m.Cron, err)}
		}
	}
	return nil
}

// ActiveWindow reports whether the window is in force at t, and until when.
// A recurring window is in force from each start its cron schedule gives
// (in its time zone, not before Start nor after End) for Duration.
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
	sched, err := cronParser.Parse(m.Cron)
	if err != nil {
		return false, time.Time{}
	}
	loc, err := time.LoadLocation(m.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	// The latest start at or before t lies in (t-Duration, t]: the first
	// start after t-Duration-1s, if it is not after t.
	from := t.Add(-m.Duration).In(loc)
	s := sched.Next(from)
	if s.IsZero() || s.After(t) || s.Before(m.Start) {
		return false, time.Time{}
	}
	if m.End != nil && !s.Before(*m.End) {
		return false, time.Time{}
	}
	return true, end(s.Add(m.Duration))
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
