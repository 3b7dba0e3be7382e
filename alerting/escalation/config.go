package escalation

import (
	"errors"
	"fmt"
	"net/mail"
	"path"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/notify"

	"github.com/unyo-ops/unyo/internal/redact"
)

// Channels a step can notify on.
const (
	ChannelMail    = "mail"
	ChannelWebhook = "webhook"
	ChannelCommand = "command"
)

// Group-by values of Storm.GroupBy.
const (
	GroupByTarget = "target"
	GroupByCheck  = "check"
)

// Config is who to tell, how, and when. The configs package loads it from
// the alerting section (see FromConfig); tests build it directly.
type Config struct {
	// Location renders times in messages (default UTC).
	Location  *time.Location
	Contacts  []Contact
	Roles     []Role
	Calendars []Calendar
	// Policies are tried in order; the first whose Match fits an incident
	// is frozen onto it when it opens.
	Policies []Policy
	Storm    Storm
	// Recheck is how often a suppressed escalation (maintenance, parent
	// down) is looked at again (default 1m).
	Recheck time.Duration
	// Retry is the backoff of a failed notification.
	Retry notify.Backoff
	// FailAfter consecutive failures of a channel raise an incident on the
	// platform itself (default 3).
	FailAfter int
	// DownChecks are the checks whose active incident on a parent target
	// makes it "down" for its children (default ping).
	DownChecks []string
	// ExternalURL is the console's base URL, for links.
	ExternalURL string
}

// Contact is a person or a desk.
type Contact struct {
	Name string   `json:"name"`
	Mail []string `json:"mail,omitempty"`
	// Webhook prints and marshals redacted (it may carry a token).
	Webhook redact.SecretURL `json:"webhook,omitempty"`
}

// Role is who a step notifies: its contacts, when its calendar is open
// (no calendar: 24/365).
type Role struct {
	Name     string   `json:"name"`
	Contacts []string `json:"contacts"`
	Calendar string   `json:"calendar,omitempty"`
}

// Policy is an ordered list of steps.
type Policy struct {
	Name  string `json:"name"`
	Match Match  `json:"match"`
	Steps []Step `json:"steps"`
	// Repeat is how many more passes over the steps follow the first.
	Repeat int `json:"repeat"`
	// Window names a calendar: steps run only while it is open (empty:
	// always). WindowCalendar is that calendar, frozen with the policy.
	Window         string    `json:"window,omitempty"`
	WindowCalendar *Calendar `json:"window_calendar,omitempty"`
	// AckTimeout: an acknowledgement not followed by resolution within it
	// starts the escalation over (0: never).
	AckTimeout time.Duration `json:"ack_timeout"`
}

// Match selects incidents; empty fields match everything.
type Match struct {
	Severities []incident.Severity `json:"severities,omitempty"`
	// Targets and Checks are path.Match patterns.
	Targets []string          `json:"targets,omitempty"`
	Checks  []string          `json:"checks,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// Step notifies roles and contacts on channels, then waits.
type Step struct {
	Roles    []string      `json:"roles,omitempty"`
	Contacts []string      `json:"contacts,omitempty"`
	Channels []string      `json:"channels"`
	Wait     time.Duration `json:"wait"`
}

// Storm is storm control.
type Storm struct {
	// GroupWait holds a notification back so that others for the same
	// group (same target, or check; same channel and destination) go out
	// as one message.
	GroupWait time.Duration
	GroupBy   string
	// A check whose incident recovers and recurs FlapThreshold times
	// within FlapWindow is flapping: notified once, then quiet.
	FlapWindow    time.Duration
	FlapThreshold int
}

func (c *Config) defaults() {
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Storm.GroupBy == "" {
		c.Storm.GroupBy = GroupByTarget
	}
	if c.Storm.FlapWindow == 0 {
		c.Storm.FlapWindow = 10 * time.Minute
	}
	if c.Storm.FlapThreshold == 0 {
		c.Storm.FlapThreshold = 6
	}
	if c.Recheck == 0 {
		c.Recheck = time.Minute
	}
	if c.Retry == (notify.Backoff{}) {
		c.Retry = notify.Backoff{Initial: 10 * time.Second, Max: 5 * time.Minute, MaxAttempts: 10}
	}
	if c.FailAfter == 0 {
		c.FailAfter = 3
	}
	if len(c.DownChecks) == 0 {
		c.DownChecks = []string{"ping"}
	}
}

// Validate checks the configuration and its cross-references (a role
// naming a missing contact, a step naming a missing role). Errors name the
// field path, e.g. "policies[0].steps[1].roles[0]".
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	contacts := map[string]bool{}
	for i, ct := range c.Contacts {
		f := fmt.Sprintf("contacts[%d]", i)
		if !validName(ct.Name) {
			bad(f+".name", "%q: want 1 to 64 of a-z, 0-9, '-', '_', '.'", ct.Name)
		} else if contacts[ct.Name] {
			bad(f+".name", "%q: a second contact with this name", ct.Name)
		}
		contacts[ct.Name] = true
		for j, m := range ct.Mail {
			if _, err := mail.ParseAddress(m); err != nil {
				bad(fmt.Sprintf("%s.mail[%d]", f, j), "%q: not a mail address", m)
			}
		}
	}
	cals := map[string]bool{}
	for i := range c.Calendars {
		cal := &c.Calendars[i]
		f := fmt.Sprintf("calendars[%d]", i)
		if !validName(cal.Name) {
			bad(f+".name", "%q: want 1 to 64 of a-z, 0-9, '-', '_', '.'", cal.Name)
		} else if cals[cal.Name] {
			bad(f+".name", "%q: a second calendar with this name", cal.Name)
		}
		cals[cal.Name] = true
		if field, err := cal.compile(); err != nil {
			bad(f+"."+field, "%v", err)
		}
	}
	roles := map[string]bool{}
	for i, r := range c.Roles {
		f := fmt.Sprintf("roles[%d]", i)
		if !validName(r.Name) {
			bad(f+".name", "%q: want 1 to 64 of a-z, 0-9, '-', '_', '.'", r.Name)
		} else if roles[r.Name] {
			bad(f+".name", "%q: a second role with this name", r.Name)
		}
		roles[r.Name] = true
		if len(r.Contacts) == 0 {
			bad(f+".contacts", "want at least one contact")
		}
		for j, ct := range r.Contacts {
			if !contacts[ct] {
				bad(fmt.Sprintf("%s.contacts[%d]", f, j), "%q: no such contact", ct)
			}
		}
		if r.Calendar != "" && !cals[r.Calendar] {
			bad(f+".calendar", "%q: no such calendar", r.Calendar)
		}
	}
	pols := map[string]bool{}
	for i, p := range c.Policies {
		f := fmt.Sprintf("policies[%d]", i)
		if !validName(p.Name) {
			bad(f+".name", "%q: want 1 to 64 of a-z, 0-9, '-', '_', '.'", p.Name)
		} else if pols[p.Name] {
			bad(f+".name", "%q: a second policy with this name", p.Name)
		}
		pols[p.Name] = true
		if len(p.Steps) == 0 {
			bad(f+".steps", "want at least one step")
		}
		if p.Repeat < 0 || p.Repeat > 100 {
			bad(f+".repeat", "%d: want 0..100", p.Repeat)
		}
		if p.AckTimeout < 0 {
			bad(f+".ack_timeout", "%s: want 0 (never) or more", p.AckTimeout)
		}
		if p.Window != "" && !cals[p.Window] {
			bad(f+".window", "%q: no such calendar", p.Window)
		}
		for j, s := range p.Match.Severities {
			if !s.Valid() {
				bad(fmt.Sprintf("%s.match.severities[%d]", f, j), "%q: want critical, major, minor, warning or info", s)
			}
		}
		for j, pat := range p.Match.Targets {
			if _, err := path.Match(pat, ""); err != nil {
				bad(fmt.Sprintf("%s.match.targets[%d]", f, j), "%q: bad pattern", pat)
			}
		}
		for j, pat := range p.Match.Checks {
			if _, err := path.Match(pat, ""); err != nil {
				bad(fmt.Sprintf("%s.match.checks[%d]", f, j), "%q: bad pattern", pat)
			}
		}
		for j, s := range p.Steps {
			sf := fmt.Sprintf("%s.steps[%d]", f, j)
			if len(s.Roles)+len(s.Contacts) == 0 {
				bad(sf+".roles", "want at least one role or contact")
			}
			for k, r := range s.Roles {
				if !roles[r] {
					bad(fmt.Sprintf("%s.roles[%d]", sf, k), "%q: no such role", r)
				}
			}
			for k, ct := range s.Contacts {
				if !contacts[ct] {
					bad(fmt.Sprintf("%s.contacts[%d]", sf, k), "%q: no such contact", ct)
				}
			}
			if len(s.Channels) == 0 {
				bad(sf+".channels", "want at least one of mail, webhook, command")
			}
			for k, ch := range s.Channels {
				switch ch {
				case ChannelMail, ChannelWebhook, ChannelCommand:
				default:
					bad(fmt.Sprintf("%s.channels[%d]", sf, k), "%q: want mail, webhook or command", ch)
				}
			}
			if s.Wait < 0 {
				bad(sf+".wait", "%s: want 0 or more", s.Wait)
			}
		}
	}
	switch c.Storm.GroupBy {
	case "", GroupByTarget, GroupByCheck:
	default:
		bad("storm.group_by", "%q: want target or check", c.Storm.GroupBy)
	}
	if c.Storm.GroupWait < 0 {
		bad("storm.group_wait", "%s: want 0 or more", c.Storm.GroupWait)
	}
	if c.Storm.FlapThreshold < 0 {
		bad("storm.flap_threshold", "%d: want 0 (default) or more", c.Storm.FlapThreshold)
	}
	if c.Retry != (notify.Backoff{}) {
		if err := c.Retry.Validate(); err != nil {
			bad("notify", "%v", err)
		}
	}
	return errors.Join(errs...)
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// policy returns the first policy matching inc.
func (c *Config) policy(inc incident.Incident) (Policy, bool) {
	for _, p := range c.Policies {
		if p.Match.matches(inc) {
			if p.Window != "" {
				if cal, ok := c.calendar(p.Window); ok {
					p.WindowCalendar = &cal
				}
			}
			return p, true
		}
	}
	return Policy{}, false
}

func (c *Config) calendar(name string) (Calendar, bool) {
	for _, cal := range c.Calendars {
		if cal.Name == name {
			return cal, true
		}
	}
	return Calendar{}, false
}

func (c *Config) role(name string) (Role, bool) {
	for _, r := range c.Roles {
		if r.Name == name {
			return r, true
		}
	}
	return Role{}, false
}

func (c *Config) contact(name string) (Contact, bool) {
	for _, ct := range c.Contacts {
		if ct.Name == name {
			return ct, true
		}
	}
	return Contact{}, false
}

func (m Match) matches(inc incident.Incident) bool {
	if len(m.Severities) > 0 && !contains(m.Severities, inc.Severity) {
		return false
	}
	if len(m.Targets) > 0 && !anyMatch(m.Targets, inc.Target) {
		return false
	}
	if len(m.Checks) > 0 && !anyMatch(m.Checks, inc.Check) {
		return false
	}
	for k, v := range m.Labels {
		if inc.Labels[k] != v {
			return false
		}
	}
	return true
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func anyMatch(patterns []string, s string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}

// Calendar is a weekly time window in a time zone, with excepted dates
// (holidays): e.g. weekdays 09:00-17:00 Asia/Tokyo. An empty Days means
// every day; From == To means the whole day.
type Calendar struct {
	Name     string   `json:"name"`
	TimeZone string   `json:"time_zone,omitempty"`
	Days     []string `json:"days,omitempty"` // mon, tue, ...
	From     string   `json:"from,omitempty"` // HH:MM
	To       string   `json:"to,omitempty"`   // HH:MM, after From (or before it: overnight)
	Except   []string `json:"except,omitempty"`

	loc      *time.Location
	days     [7]bool
	from, to int // minutes of the day
	except   map[string]bool
}

var dayNames = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// compile parses the calendar; on error it names the field.
func (c *Calendar) compile() (string, error) {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return "time_zone", fmt.Errorf("%q: unknown time zone", c.TimeZone)
	}
	c.loc = loc
	c.days = [7]bool{}
	if len(c.Days) == 0 {
		c.days = [7]bool{true, true, true, true, true, true, true}
	}
	for i, d := range c.Days {
		wd, ok := dayNames[strings.ToLower(d)]
		if !ok {
			return fmt.Sprintf("days[%d]", i), fmt.Errorf("%q: want mon, tue, wed, thu, fri, sat or sun", d)
		}
		c.days[wd] = true
	}
	if c.from, err = clock(c.From); err != nil {
		return "from", err
	}
	if c.to, err = clock(c.To); err != nil {
		return "to", err
	}
	c.except = map[string]bool{}
	for i, d := range c.Except {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return fmt.Sprintf("except[%d]", i), fmt.Errorf("%q: want a date YYYY-MM-DD", d)
		}
		c.except[d] = true
	}
	return "", nil
}

func clock(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q: want HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

func (c *Calendar) ready() {
	if c.loc == nil {
		c.compile()
	}
}

// Open reports whether the window is open at t.
func (c *Calendar) Open(t time.Time) bool {
	c.ready()
	lt := t.In(c.loc)
	m := lt.Hour()*60 + lt.Minute()
	day := lt
	switch {
	case c.from == c.to: // whole day
	case c.from < c.to:
		if m < c.from || m >= c.to {
			return false
		}
	default: // overnight: belongs to the day it started
		if m >= c.to && m < c.from {
			return false
		}
		if m < c.to {
			day = lt.AddDate(0, 0, -1)
		}
	}
	return c.days[day.Weekday()] && !c.except[day.Format(time.DateOnly)]
}

// NextOpen returns the first time at or after t when the window is open
// (t itself when open; zero when it never opens within 400 days).
func (c *Calendar) NextOpen(t time.Time) time.Time {
	c.ready()
	if c.Open(t) {
		return t
	}
	lt := t.In(c.loc)
	for d := 0; d <= 400; d++ {
		day := lt.AddDate(0, 0, d)
		start := time.Date(day.Year(), day.Month(), day.Day(), c.from/60, c.from%60, 0, 0, c.loc)
		if start.After(t) && c.Open(start) {
			return start
		}
	}
	return time.Time{}
}
