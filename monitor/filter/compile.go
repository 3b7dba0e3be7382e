package filter

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	"github.com/unyo-ops/unyo/alerting/incident"
)

// compileRule checks and compiles one rule. Its error joins one *fieldErr
// per bad field.
func compileRule(c *Rule) (*rule, error) {
	var errs []error
	add := func(field, format string, a ...any) { errs = append(errs, ferr(field, format, a...)) }

	r := &rule{name: c.Name, fold: c.IgnoreCase, runbook: c.Runbook}
	for i, h := range c.Hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case h == "":
			add(fmt.Sprintf("hosts[%d]", i), "empty")
		case strings.ContainsAny(h, `*?[\`):
			if err := validGlob(h); err != nil {
				add(fmt.Sprintf("hosts[%d]", i), "%q: %v", h, err)
			}
			r.hostGlobs = append(r.hostGlobs, newGlob(h))
		default:
			r.hostExact = append(r.hostExact, h)
		}
	}
	for i, a := range c.Apps {
		switch {
		case a == "":
			add(fmt.Sprintf("apps[%d]", i), "empty")
		case strings.ContainsAny(a, `*?[\`):
			if err := validGlob(a); err != nil {
				add(fmt.Sprintf("apps[%d]", i), "%q: %v", a, err)
			}
			r.appGlobs = append(r.appGlobs, newGlob(a))
		default:
			r.appExact = append(r.appExact, a)
		}
	}
	for i, f := range c.Facilities {
		n, err := ParseFacility(f)
		if err != nil {
			add(fmt.Sprintf("facilities[%d]", i), "%v", err)
			continue
		}
		r.facMask |= 1 << uint(n)
	}
	if c.MinLevel != "" && len(c.Levels) > 0 {
		add("levels", "set either min_level or levels, not both")
	}
	if c.MinLevel != "" {
		n, err := ParseLevel(c.MinLevel)
		if err != nil {
			add("min_level", "%v", err)
		}
		for l := 0; l <= n; l++ {
			r.levelMask |= 1 << uint(l)
		}
	}
	for i, l := range c.Levels {
		n, err := ParseLevel(l)
		if err != nil {
			add(fmt.Sprintf("levels[%d]", i), "%v", err)
			continue
		}
		r.levelMask |= 1 << uint(n)
	}
	for i, s := range c.Contains {
		if s == "" {
			add(fmt.Sprintf("contains[%d]", i), "empty")
			continue
		}
		if c.IgnoreCase {
			s = fold(s)
		}
		r.contains = append(r.contains, s)
	}
	if c.Regex != "" {
		re, err := regexpCompile(c.Regex, c.IgnoreCase)
		if err != nil {
			add("regex", "%v", err)
		} else {
			r.re = re
			r.pre = requiredLiterals(re.String())
		}
	}

	r.action = c.Action
	switch c.Action {
	case "":
		r.action = ActionIncident
	case ActionIncident, ActionRecord, ActionIgnore:
	default:
		add("action", "%q: want incident, record or ignore", c.Action)
	}
	switch {
	case c.Severity == "" && r.action == ActionIncident:
		add("severity", "required for action incident")
	case c.Severity == "":
		r.severity = incident.Info
	default:
		s, err := incident.ParseSeverity(c.Severity)
		if err != nil {
			add("severity", "%v", err)
		}
		r.severity = s
	}
	switch c.Status {
	case "", string(incident.Problem):
		r.status = incident.Problem
	case string(incident.OK):
		r.status = incident.OK
	default:
		add("status", "%q: want problem or ok", c.Status)
	}
	if c.DedupKey != "" {
		t, err := compileTemplate("dedup_key", c.DedupKey)
		if err != nil {
			errs = append(errs, err)
		}
		r.dedup, r.dedupF = t, compileFast(t)
	}
	if c.Message != "" {
		t, err := compileTemplate("message", c.Message)
		if err != nil {
			errs = append(errs, err)
		}
		r.message, r.messageF = t, compileFast(t)
	}
	if len(c.Runbook) > incident.MaxFieldLen {
		add("runbook", "longer than %d bytes", incident.MaxFieldLen)
	}
	if len(c.Labels) > incident.MaxLabels-8 {
		add("labels", "more than %d labels", incident.MaxLabels-8)
	}
	for k, v := range c.Labels {
		if k == "" || len(k) > incident.MaxFieldLen || len(v) > incident.MaxFieldLen || !utf8.ValidString(k) || !utf8.ValidString(v) {
			add("labels."+k, "label names and values must be valid UTF-8, 1 to 256 bytes")
		}
	}
	r.labels = c.Labels
	return r, errors.Join(errs...)
}

// maxAlternatives caps the literal set derived from an alternation.
const maxAlternatives = 8

// requiredLiterals derives from a regular expression a set of literals of
// which at least one must appear in any text the expression matches; nil
// when no such set is known (then the regexp always runs). It picks, in a
// concatenation, the requirement whose shortest literal is longest.
func requiredLiterals(expr string) []lit {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	alts := required(re.Simplify())
	if len(alts) == 0 {
		return nil
	}
	return alts
}

func required(re *syntax.Regexp) []lit {
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return nil
		}
		s := string(re.Rune)
		if re.Flags&syntax.FoldCase != 0 {
			// Only ASCII literals fold safely with fold(); skip the rest.
			for _, r := range re.Rune {
				if r >= utf8.RuneSelf {
					return nil
				}
			}
			return []lit{{s: strings.ToLower(s), fold: true}}
		}
		return []lit{{s: s}}
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
		return nil
	case syntax.OpConcat:
		var best []lit
		for _, sub := range re.Sub {
			if c := required(sub); c != nil && score(c) > score(best) {
				best = c
			}
		}
		return best
	case syntax.OpAlternate:
		var all []lit
		for _, sub := range re.Sub {
			c := required(sub)
			if c == nil {
				return nil
			}
			all = append(all, c...)
		}
		if len(all) > maxAlternatives {
			return nil
		}
		return all
	}
	return nil
}

// score ranks a requirement by its shortest literal: longer is rarer.
func score(ls []lit) int {
	if len(ls) == 0 {
		return 0
	}
	m := len(ls[0].s)
	for _, l := range ls[1:] {
		m = min(m, len(l.s))
	}
	return m
}
