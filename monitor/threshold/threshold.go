package threshold

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/unyo-ops/unyo/alerting/incident"
)

// Source is the event source of threshold events.
const Source = "threshold"

// Level is the state of one watched series.
type Level int

// Levels, in increasing severity.
const (
	OK Level = iota
	Warn
	Crit
)

func (l Level) String() string {
	switch l {
	case Warn:
		return "warning"
	case Crit:
		return "critical"
	}
	return "ok"
}

// Input is one sample to check.
type Input struct {
	Target string
	Tags   map[string]string // the target's tags, for tag selectors
	Metric string
	Labels map[string]string
	Value  float64
	Time   time.Time
}

type series struct {
	target, rule, sig string
	level             Level
	pending           Level // level the recent samples point to
	count             int   // consecutive samples pointing to pending
}

// Engine evaluates samples against rules. It is safe for concurrent use.
type Engine struct {
	mu        sync.Mutex
	global    []Rule
	perTarget map[string][]Rule
	states    map[string]*series // rule scope + name + target + labels
	newID     func() string
}

// New returns an engine with the global rules. Rules must have been
// validated (ValidateRules).
func New(global []Rule) *Engine {
	e := &Engine{states: map[string]*series{}, newID: incident.NewID}
	e.Set(global, nil)
	return e
}

// Set replaces the rules: global ones and, per target name, the target's
// own rules (a target rule with the name of a global rule replaces it for
// that target). Series of rules that are unchanged keep their state;
// series of removed or changed rules are forgotten.
func (e *Engine) Set(global []Rule, perTarget map[string][]Rule) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.global = slices.Clone(global)
	e.perTarget = maps.Clone(perTarget)
	live := map[string]bool{}
	for _, r := range e.global {
		live[ruleKey("", r)] = true
	}
	for t, rs := range e.perTarget {
		for _, r := range rs {
			live[ruleKey(t, r)] = true
		}
	}
	for k := range e.states {
		rk, _, _ := strings.Cut(k, "\x00")
		if !live[rk] {
			delete(e.states, k)
		}
	}
}

// ruleKey identifies a rule's definition: a changed rule starts afresh.
func ruleKey(scope string, r Rule) string {
	w, c, cl := deref(r.Warning), deref(r.Critical), deref(r.Clear)
	r.Warning, r.Critical, r.Clear = nil, nil, nil
	return scope + "|" + fmt.Sprintf("%+v|%s|%s|%s", r, w, c, cl)
}

func deref(p *float64) string {
	if p == nil {
		return "-"
	}
	return strconv.FormatFloat(*p, 'g', -1, 64)
}

// Observe checks one sample against every rule that selects it and returns
// the events of the state changes it causes (usually none).
func (e *Engine) Observe(in Input) []incident.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []incident.Event
	own := e.perTarget[in.Target]
	for _, r := range own {
		if ev, ok := e.observe(in.Target, r, in); ok {
			out = append(out, ev)
		}
	}
	for _, r := range e.global {
		if slices.ContainsFunc(own, func(o Rule) bool { return o.Name == r.Name }) {
			continue
		}
		if ev, ok := e.observe("", r, in); ok {
			out = append(out, ev)
		}
	}
	return out
}

func (e *Engine) observe(scope string, r Rule, in Input) (incident.Event, bool) {
	if r.Metric != in.Metric || (r.Target != "" && r.Target != in.Target) {
		return incident.Event{}, false
	}
	for k, v := range r.Tags {
		if in.Tags[k] != v {
			return incident.Event{}, false
		}
	}
	for k, v := range r.Labels {
		if in.Labels[k] != v {
			return incident.Event{}, false
		}
	}
	sig := labelSig(in.Labels)
	key := ruleKey(scope, r) + "\x00" + in.Target + "\x00" + sig
	s := e.states[key]
	if s == nil {
		s = &series{target: in.Target, rule: r.Name, sig: sig}
		e.states[key] = s
	}
	want := r.levelOf(in.Value, s.level)
	if want == s.level {
		s.pending, s.count = s.level, 0
		return incident.Event{}, false
	}
	if want != s.pending {
		s.pending, s.count = want, 0
	}
	s.count++
	need := r.For
	if want == OK {
		need = r.ClearFor
	}
	if s.count < need {
		return incident.Event{}, false
	}
	s.level, s.count = want, 0
	return r.event(e.newID(), in, sig, want), true
}

// levelOf is the level a value points to given the current level.
func (r *Rule) levelOf(v float64, cur Level) Level {
	switch {
	case r.Critical != nil && r.reached(v, *r.Critical):
		return Crit
	case r.Warning != nil && r.reached(v, *r.Warning):
		return Warn
	case cur != OK && r.Clear != nil && r.beyond(v, *r.Clear):
		// In the hysteresis band: still a problem. A critical series whose
		// value fell below the warning level drops to warning; one with
		// only a critical level stays critical.
		if r.Warning == nil {
			return Crit
		}
		return Warn
	}
	return OK
}

func (r *Rule) event(id string, in Input, sig string, l Level) incident.Event {
	ev := incident.Event{
		ID:       id,
		Source:   Source,
		Target:   in.Target,
		Check:    "threshold:" + r.Name,
		Time:     in.Time,
		Runbook:  r.Runbook,
		DedupKey: dedupKey(in.Target, r.Name, sig),
		Labels:   map[string]string{"metric": in.Metric, "value": strconv.FormatFloat(in.Value, 'g', 6, 64), "level": l.String()},
	}
	for k, v := range in.Labels {
		if len(ev.Labels) < incident.MaxLabels && k != "" && len(k) <= incident.MaxFieldLen {
			ev.Labels[k] = truncate(v, incident.MaxFieldLen)
		}
	}
	what := in.Metric
	if sig != "" {
		what += "{" + sig + "}"
	}
	switch l {
	case OK:
		ev.Status, ev.Severity = incident.OK, incident.Info
		ev.Message = fmt.Sprintf("%s %s = %g, back %s clear level %s", in.Target, what, in.Value, opposite(r.Direction), deref(r.Clear))
	case Warn:
		ev.Status, ev.Severity = incident.Problem, incident.Warning
		ev.Message = fmt.Sprintf("%s %s = %g, %s warning level %s for %d samples", in.Target, what, in.Value, r.Direction, deref(r.Warning), r.For)
	case Crit:
		ev.Status, ev.Severity = incident.Problem, incident.Critical
		ev.Message = fmt.Sprintf("%s %s = %g, %s critical level %s for %d samples", in.Target, what, in.Value, r.Direction, deref(r.Critical), r.For)
	}
	return ev
}

func opposite(dir string) string {
	if dir == Below {
		return "above"
	}
	return "below"
}

func labelSig(l map[string]string) string {
	if len(l) == 0 {
		return ""
	}
	keys := slices.Sorted(maps.Keys(l))
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(l[k]))
	}
	return b.String()
}

func dedupKey(target, rule, sig string) string {
	k := target + "/threshold:" + rule
	if sig != "" {
		k += "{" + sig + "}"
	}
	if len(k) > incident.MaxFieldLen {
		h := sha256.Sum256([]byte(sig))
		k = target + "/threshold:" + rule + "{" + hex.EncodeToString(h[:12]) + "}"
	}
	if len(k) > incident.MaxFieldLen {
		k = k[:incident.MaxFieldLen]
	}
	return k
}

// Rearm forgets every series not at ok whose events carry dedup key key,
// as a restart of the node does: a level still reached fires again after
// the rule's For samples. It is how a manual resolve of the series'
// incident is applied. It reports whether a series was forgotten.
func (e *Engine) Rearm(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	found := false
	for k, s := range e.states {
		if s.level != OK && dedupKey(s.target, s.rule, s.sig) == key {
			delete(e.states, k)
			found = true
		}
	}
	return found
}

// State is the current level of one series, for a console.
type State struct {
	Target string
	Rule   string
	Labels string
	Level  Level
}

// Problems lists the series not at ok.
func (e *Engine) Problems() []State {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []State
	for _, s := range e.states {
		if s.level != OK {
			out = append(out, State{Target: s.target, Rule: s.rule, Labels: s.sig, Level: s.level})
		}
	}
	slices.SortFunc(out, func(a, b State) int { return strings.Compare(a.Target+a.Rule+a.Labels, b.Target+b.Rule+b.Labels) })
	return out
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
