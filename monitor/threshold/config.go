package threshold

import (
	"errors"
	"fmt"
	"math"
	"regexp"
)

// Directions a rule can watch.
const (
	Above = "above" // a problem when the value is high (disk used %)
	Below = "below" // a problem when the value is low (free memory)
)

// Rule is one threshold.
//
//	thresholds:
//	  - name: disk-used
//	    metric: snmp_storage_used_percent
//	    labels: {descr: "/"}          # optional: only this series
//	    target: db01                  # optional: only this target
//	    tags: {role: db}              # optional: targets with these tags
//	    warning: 80
//	    critical: 90
//	    clear: 75                     # back to ok below this (default: warning)
//	    for: 3                        # consecutive samples before firing (default 1)
//	    clear_for: 1                  # consecutive samples before clearing (default 1)
//	    direction: above              # or below
//	    runbook: RB-DISK-01
type Rule struct {
	Name      string            `yaml:"name"`
	Metric    string            `yaml:"metric"`
	Labels    map[string]string `yaml:"labels"`
	Target    string            `yaml:"target"`
	Tags      map[string]string `yaml:"tags"`
	Warning   *float64          `yaml:"warning"`
	Critical  *float64          `yaml:"critical"`
	Clear     *float64          `yaml:"clear"`
	For       int               `yaml:"for"`
	ClearFor  int               `yaml:"clear_for"`
	Direction string            `yaml:"direction"`
	Runbook   string            `yaml:"runbook"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// Defaults fills unset fields: name from the metric, for and clear_for 1,
// direction above, clear at the lowest problem level.
func (r *Rule) Defaults() {
	if r.Name == "" {
		r.Name = r.Metric
	}
	if r.For == 0 {
		r.For = 1
	}
	if r.ClearFor == 0 {
		r.ClearFor = 1
	}
	if r.Direction == "" {
		r.Direction = Above
	}
	if r.Clear == nil {
		lo := r.Warning
		if lo == nil {
			lo = r.Critical
		}
		if lo != nil {
			v := *lo
			r.Clear = &v
		}
	}
}

// Validate checks a rule after Defaults. Errors name the field, relative
// to the rule ("critical: must be above warning"); every problem is
// reported (errors.Join).
func (r *Rule) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if r.Metric == "" {
		add("metric: required")
	}
	if (r.Name != "" || r.Metric != "") && !nameRE.MatchString(r.Name) {
		add("name: %q: want 1-64 characters of A-Z a-z 0-9 _ . : -", r.Name)
	}
	if r.Warning == nil && r.Critical == nil {
		add("warning: set warning, critical or both")
	}
	dirOK := r.Direction == Above || r.Direction == Below
	if !dirOK {
		add("direction: %q: want above or below", r.Direction)
	}
	if r.For < 1 || r.For > 1000 {
		add("for: %d: want 1 to 1000 samples", r.For)
	}
	if r.ClearFor < 1 || r.ClearFor > 1000 {
		add("clear_for: %d: want 1 to 1000 samples", r.ClearFor)
	}
	finite := true
	for _, p := range []struct {
		name string
		v    *float64
	}{{"warning", r.Warning}, {"critical", r.Critical}, {"clear", r.Clear}} {
		if p.v != nil && (math.IsNaN(*p.v) || math.IsInf(*p.v, 0)) {
			add("%s: must be a finite number", p.name)
			finite = false
		}
	}
	if !finite || !dirOK {
		return errors.Join(errs...)
	}
	if r.Warning != nil && r.Critical != nil && !r.beyond(*r.Critical, *r.Warning) && *r.Critical != *r.Warning {
		add("critical: %g must be %s warning %g", *r.Critical, r.Direction, *r.Warning)
	}
	lo := r.Warning
	if lo == nil {
		lo = r.Critical
	}
	if r.Clear != nil && lo != nil && r.beyond(*r.Clear, *lo) {
		add("clear: %g must not be %s the lowest level %g (hysteresis)", *r.Clear, r.Direction, *lo)
	}
	return errors.Join(errs...)
}

// beyond reports whether v is strictly past level in the rule's direction.
func (r *Rule) beyond(v, level float64) bool {
	if r.Direction == Below {
		return v < level
	}
	return v > level
}

// reached reports whether v is at or past level.
func (r *Rule) reached(v, level float64) bool {
	if r.Direction == Below {
		return v <= level
	}
	return v >= level
}

// ValidateRules applies defaults to and validates a list of rules; errors
// are prefixed with prefix and the index ("thresholds[1].for: ...").
// Rule names must be unique within the list.
func ValidateRules(prefix string, rules []Rule) error {
	var errs []error
	seen := map[string]int{}
	for i := range rules {
		rules[i].Defaults()
		p := fmt.Sprintf("%s[%d].", prefix, i)
		if err := rules[i].Validate(); err != nil {
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					errs = append(errs, fmt.Errorf("%s%w", p, e))
				}
			} else {
				errs = append(errs, fmt.Errorf("%s%w", p, err))
			}
		}
		if j, dup := seen[rules[i].Name]; dup {
			errs = append(errs, fmt.Errorf("%sname: %q already used by %s[%d]", p, rules[i].Name, prefix, j))
			continue
		}
		seen[rules[i].Name] = i
	}
	return errors.Join(errs...)
}
