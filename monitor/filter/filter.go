package filter

import (
	"bytes"
	"fmt"
	"path"
	"regexp"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/alerting/incident"
)

// Message is one log line, parsed. Receivers (syslog, agent log forwarding)
// fill it and hand it to Engine.Match.
type Message struct {
	Time     time.Time // the message's own timestamp, or Received when it has none
	Received time.Time // when the receiver got it; the event's time
	Host     string    // originating host (hostname field, or the sender's address)
	Facility int       // syslog facility 0-23
	Severity int       // syslog level 0 (emerg) - 7 (debug)
	App      string    // application / program / tag
	PID      string
	MsgID    string
	Text     string // the message text (MSG)
	Raw      string // the whole line as received
}

// Decision is the outcome of Match for one message.
type Decision struct {
	// Action is incident, record or ignore.
	Action string
	// Rule is the name of the matching rule; "" when no rule matched and the
	// default action applied.
	Rule string
	// Index is the matching rule's position in Config.Filters, -1 for none.
	Index int

	rule  *rule
	match []string // regexp submatches, when the rule has a regexp
}

// Emit reports whether the decision produces an event.
func (d Decision) Emit() bool { return d.Action != ActionIgnore }

// Engine evaluates compiled rules. It is immutable and safe for concurrent
// use; to change the rules build a new Engine.
type Engine struct {
	rules         []*rule
	defaultAction string
	defaultRule   *rule // the rule used for default record events
	m             *Metrics
}

type rule struct {
	idx  int
	name string

	hostExact []string // lower-cased
	hostGlobs []glob   // lower-cased
	facMask   uint32   // 0 = any
	levelMask uint8    // 0 = any
	appExact  []string
	appGlobs  []glob
	contains  []string // folded when fold
	fold      bool     // contains are folded
	re        *regexp.Regexp
	pre       []lit // the regexp needs one of these; nil = no prefilter

	action   string
	severity incident.Severity
	status   incident.Status
	dedup    *template.Template
	message  *template.Template
	dedupF   fastTemplate // dedup's fast form, nil if it has none
	messageF fastTemplate
	runbook  string
	labels   map[string]string

	matched       prometheus.Counter
	templateError prometheus.Counter
}

// lit is a literal a line must contain, folded (lower-cased) or exact.
type lit struct {
	s    string
	fold bool
}

// New compiles cfg. m may be nil (no metrics).
func New(cfg Config, m *Metrics) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if m == nil {
		m = NewMetrics(nil)
	}
	e := &Engine{defaultAction: cfg.DefaultAction, m: m}
	if e.defaultAction == "" {
		e.defaultAction = ActionIgnore
	}
	for i := range cfg.Filters {
		r, err := compileRule(&cfg.Filters[i])
		if err != nil { // unreachable after Validate
			return nil, prefixErr(fmt.Sprintf("filters[%d]", i), err)
		}
		r.idx = i
		r.matched = m.matches.WithLabelValues(r.name, r.action)
		r.templateError = m.templateErrors.WithLabelValues(r.name)
		e.rules = append(e.rules, r)
	}
	dr, _ := compileRule(&Rule{Name: "default", Action: ActionRecord})
	dr.idx = -1
	dr.matched = m.unmatched
	dr.templateError = m.templateErrors.WithLabelValues("default")
	e.defaultRule = dr
	return e, nil
}

// Len returns the number of rules.
func (e *Engine) Len() int { return len(e.rules) }

// Match runs the rules in order and returns the first match's decision, or
// the default action's.
func (e *Engine) Match(m *Message) Decision {
	c := msgCache{m: m}
	for _, r := range e.rules {
		ok, match := r.matches(&c, e.m)
		if ok {
			r.matched.Inc()
			return Decision{Action: r.action, Rule: r.name, Index: r.idx, rule: r, match: match}
		}
	}
	e.m.unmatched.Inc()
	return Decision{Action: e.defaultAction, Index: -1, rule: e.defaultRule}
}

// msgCache holds what Match derives from a message at most once.
type msgCache struct {
	m                    *Message
	folded, host         string
	haveFolded, haveHost bool
}

func (c *msgCache) lower() string {
	if !c.haveFolded {
		c.folded, c.haveFolded = fold(c.m.Text), true
	}
	return c.folded
}

func (c *msgCache) lowerHost() string {
	if !c.haveHost {
		c.host, c.haveHost = strings.ToLower(c.m.Host), true
	}
	return c.host
}

func (r *rule) matches(c *msgCache, mt *Metrics) (bool, []string) {
	m, lower := c.m, c.lower
	if r.levelMask != 0 && (m.Severity < 0 || m.Severity > 7 || r.levelMask&(1<<uint(m.Severity)) == 0) {
		return false, nil
	}
	if r.facMask != 0 && (m.Facility < 0 || m.Facility > 23 || r.facMask&(1<<uint(m.Facility)) == 0) {
		return false, nil
	}
	if (r.appExact != nil || r.appGlobs != nil) && !matchName(m.App, r.appExact, r.appGlobs) {
		return false, nil
	}
	if (r.hostExact != nil || r.hostGlobs != nil) && !matchName(c.lowerHost(), r.hostExact, r.hostGlobs) {
		return false, nil
	}
	for _, s := range r.contains {
		t := m.Text
		if r.fold {
			t = lower()
		}
		if !strings.Contains(t, s) {
			return false, nil
		}
	}
	if r.re == nil {
		return true, nil
	}
	if r.pre != nil {
		found := false
		for _, l := range r.pre {
			t := m.Text
			if l.fold {
				t = lower()
			}
			if strings.Contains(t, l.s) {
				found = true
				break
			}
		}
		if !found {
			mt.regexSkipped.Inc()
			return false, nil
		}
	}
	mt.regexEvals.Inc()
	if r.re.NumSubexp() == 0 {
		return r.re.MatchString(m.Text), nil
	}
	match := r.re.FindStringSubmatch(m.Text)
	return match != nil, match
}

func matchName(v string, exact []string, globs []glob) bool {
	for _, x := range exact {
		if x == v {
			return true
		}
	}
	for _, g := range globs {
		if g.match(v) {
			return true
		}
	}
	return false
}

// glob is a path.Match pattern; "abc*" and "*abc" take a fast path.
type glob struct {
	pattern string
	prefix  string // pattern is prefix + "*"
	suffix  string // pattern is "*" + suffix
	kind    int    // 0 path.Match, 1 prefix, 2 suffix
}

func newGlob(p string) glob {
	g := glob{pattern: p}
	if strings.HasSuffix(p, "*") && !strings.ContainsAny(p[:len(p)-1], `*?[\`) {
		g.prefix, g.kind = p[:len(p)-1], 1
	} else if strings.HasPrefix(p, "*") && !strings.ContainsAny(p[1:], `*?[\`) {
		g.suffix, g.kind = p[1:], 2
	}
	return g
}

func (g glob) match(v string) bool {
	switch g.kind {
	case 1:
		return strings.HasPrefix(v, g.prefix)
	case 2:
		return strings.HasSuffix(v, g.suffix)
	}
	ok, _ := path.Match(g.pattern, v)
	return ok
}

// fold lower-cases s for case-insensitive literal checks. Besides
// unicode.ToLower it maps U+017F (long s), the one rune outside ASCII whose
// simple case folding reaches an ASCII letter and that ToLower leaves alone
// (U+212A Kelvin lower-cases to k already), so a folded literal found by
// regexp (?i) is always found here too.
func fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	return strings.Map(func(r rune) rune {
		if r == 0x17F {
			return 's'
		}
		return unicode.ToLower(r)
	}, s)
}

// Data is what the dedup_key and message templates see.
type Data struct {
	Host, App, PID, MsgID, Text, Raw string
	Time                             time.Time
	Facility, Level                  string // names
	FacilityCode, LevelCode          int
	Rule                             string
	Group                            map[string]string // named regexp groups
	Match                            []string          // regexp submatches, [0] is the whole match
}

// Event builds the event for a decision that emits one (Emit is true):
// severity, status, dedup key and message from the rule, a fresh random ID,
// the given source ("syslog", "agent-log"), target = host.
func (d Decision) Event(m *Message, source string) incident.Event {
	r := d.rule
	data := Data{
		Host: m.Host, App: m.App, PID: m.PID, MsgID: m.MsgID, Text: m.Text, Raw: m.Raw,
		Time: m.Time, Facility: FacilityName(m.Facility), Level: LevelName(m.Severity),
		FacilityCode: m.Facility, LevelCode: m.Severity, Rule: r.name, Match: d.match,
		Group: map[string]string{},
	}
	if r.re != nil && d.match != nil {
		for i, n := range r.re.SubexpNames() {
			if n != "" && i < len(d.match) {
				data.Group[n] = d.match[i]
			}
		}
	}
	target := m.Host
	if target == "" {
		target = "unknown"
	}
	when := m.Received
	if when.IsZero() {
		when = m.Time
	}
	if when.IsZero() {
		when = time.Now()
	}
	ev := incident.Event{
		ID:       uuid.NewString(),
		Source:   source,
		Target:   Clip(target, incident.MaxFieldLen),
		Check:    r.name,
		Severity: r.severity,
		Status:   r.status,
		Time:     when.UTC(),
		Runbook:  r.runbook,
		Labels:   map[string]string{"facility": data.Facility, "level": data.Level},
	}
	if m.App != "" {
		ev.Labels["app"] = Clip(m.App, incident.MaxFieldLen)
	}
	for k, v := range r.labels {
		ev.Labels[k] = v
	}
	if d.Action == ActionRecord {
		ev.Severity = incident.Info
		ev.Status = incident.Problem
		ev.Labels["record"] = "true"
	}
	ev.DedupKey = Clip(r.render(r.dedup, r.dedupF, &data, target+"/"+r.name), incident.MaxFieldLen)
	if ev.DedupKey == "" {
		ev.DedupKey = Clip(target+"/"+r.name, incident.MaxFieldLen)
	}
	ev.Message = Clip(r.render(r.message, r.messageF, &data, m.Text), incident.MaxMessageLen)
	return ev
}

func (r *rule) render(t *template.Template, fast fastTemplate, data *Data, fallback string) string {
	if t == nil {
		return fallback
	}
	if fast != nil {
		return fast.render(data)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		r.templateError.Inc()
		return fallback
	}
	return b.String()
}

// Clip makes s valid UTF-8 and at most n bytes, cutting on a rune boundary.
func Clip(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Metrics of the filter engine. Share one across reloads.
type Metrics struct {
	matches        *prometheus.CounterVec
	unmatched      prometheus.Counter
	regexEvals     prometheus.Counter
	regexSkipped   prometheus.Counter
	templateErrors *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them on reg (nil: not
// registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		matches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "unyo_filter_matches_total", Help: "Lines matched by each filter rule.",
		}, []string{"rule", "action"}),
		unmatched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unyo_filter_unmatched_total", Help: "Lines no filter rule matched.",
		}),
		regexEvals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unyo_filter_regex_evaluations_total", Help: "Regular expressions run against a line.",
		}),
		regexSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unyo_filter_regex_skipped_total", Help: "Regular expressions skipped because the line lacked the rule's required literal.",
		}),
		templateErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "unyo_filter_template_errors_total", Help: "Template executions that failed; the event used the line instead.",
		}, []string{"rule"}),
	}
	if reg != nil {
		reg.MustRegister(m.matches, m.unmatched, m.regexEvals, m.regexSkipped, m.templateErrors)
	}
	return m
}
