package filter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"

	"github.com/unyo-ops/unyo/alerting/incident"
)

// Actions a rule can take.
const (
	ActionIncident = "incident"
	ActionRecord   = "record"
	ActionIgnore   = "ignore"
)

// Config is the ordered list of filter rules.
//
//	default_action: ignore        # or record; what a line no rule matches gets
//	filters:
//	  - name: disk-error
//	    hosts: ["db*", "web01"]   # glob or exact, case-insensitive
//	    facilities: [kern, daemon]
//	    min_level: err            # at or above (err, crit, alert, emerg)
//	    apps: [kernel]
//	    contains: ["I/O error"]   # every string must appear
//	    regex: 'dev (?P<dev>sd[a-z]+)'
//	    action: incident          # incident (default), record or ignore
//	    severity: major
//	    dedup_key: '{{.Host}}/disk/{{.Group.dev}}'
//	    message: '{{.Host}}: I/O error on {{.Group.dev}}'
//	    runbook: RB-DISK-01
type Config struct {
	// DefaultAction applies to a line no rule matches: ignore (default) or
	// record.
	DefaultAction string `yaml:"default_action"`
	// Filters are tried in order; the first that matches decides.
	Filters []Rule `yaml:"filters"`
}

// Rule is one filter. Every match field is optional; an empty field matches
// anything, and the fields that are set must all match.
type Rule struct {
	// Name identifies the rule; it is the event's check name and appears in
	// metrics. Required, unique.
	Name string `yaml:"name"`

	// Hosts matches the message's host: exact names or globs (*, ?, [a-z]),
	// case-insensitive. Any one must match.
	Hosts []string `yaml:"hosts"`
	// Facilities are names (kern, user, mail, daemon, auth, syslog, lpr,
	// news, uucp, cron, authpriv, ftp, ntp, security, console, solaris-cron,
	// local0..local7) or numbers 0-23.
	Facilities []string `yaml:"facilities"`
	// MinLevel matches a syslog level at or above this one (emerg, alert,
	// crit, err, warning, notice, info, debug, or 0-7).
	MinLevel string `yaml:"min_level"`
	// Levels matches any of a set of syslog levels. Not with MinLevel.
	Levels []string `yaml:"levels"`
	// Apps matches the application (program, tag): exact names or globs.
	Apps []string `yaml:"apps"`
	// Contains lists literal substrings of the message text; all must
	// appear.
	Contains []string `yaml:"contains"`
	// Regex is a Go regular expression (RE2 syntax) matched against the
	// message text. Named groups are available to the templates.
	Regex string `yaml:"regex"`
	// IgnoreCase makes Contains and Regex case-insensitive.
	IgnoreCase bool `yaml:"ignore_case"`

	// Action is incident (default), record or ignore.
	Action string `yaml:"action"`
	// Severity of the event for action incident: critical, major, minor,
	// warning or info. Required for incident.
	Severity string `yaml:"severity"`
	// Status is problem (default) or ok: an ok rule recovers the incident
	// with the same dedup key (a "link up" message, for example).
	Status string `yaml:"status"`
	// DedupKey is a template; default "{{.Host}}/<name>".
	DedupKey string `yaml:"dedup_key"`
	// Message is a template; default "{{.Text}}".
	Message string `yaml:"message"`
	// Runbook is the id of the runbook to follow.
	Runbook string `yaml:"runbook"`
	// Labels are added to the event.
	Labels map[string]string `yaml:"labels"`
}

// DefaultConfig returns the defaults: no rules, default action ignore.
func DefaultConfig() Config { return Config{DefaultAction: ActionIgnore} }

// LoadConfig decodes YAML strictly (unknown keys are errors) over
// DefaultConfig and validates the result.
func LoadConfig(data []byte) (Config, error) {
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

// Validate checks every rule. Each error names the field path and the rule
// index, e.g. "filters[3].regex: error parsing regexp: ...". All problems are
// returned, joined.
func (c *Config) Validate() error {
	var errs []error
	switch c.DefaultAction {
	case "", ActionIgnore, ActionRecord:
	default:
		errs = append(errs, fmt.Errorf("default_action: %q: want ignore or record", c.DefaultAction))
	}
	seen := map[string]int{}
	for i := range c.Filters {
		r := &c.Filters[i]
		p := fmt.Sprintf("filters[%d]", i)
		if r.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: required", p))
		} else if j, dup := seen[r.Name]; dup {
			errs = append(errs, fmt.Errorf("%s.name: %q already used by filters[%d]", p, r.Name, j))
		} else {
			seen[r.Name] = i
		}
		if len(r.Name) > incident.MaxFieldLen {
			errs = append(errs, fmt.Errorf("%s.name: longer than %d bytes", p, incident.MaxFieldLen))
		}
		if _, err := compileRule(r); err != nil {
			for _, e := range unjoin(err) {
				errs = append(errs, prefixErr(p, e))
			}
		}
	}
	return errors.Join(errs...)
}

// fieldErr is an error in one field of a rule; compile returns it and
// Validate prefixes the rule's path.
type fieldErr struct {
	field string
	err   error
}

func (e *fieldErr) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldErr) Unwrap() error { return e.err }

// unjoin splits an errors.Join result into its errors.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func prefixErr(p string, err error) error {
	var fe *fieldErr
	if errors.As(err, &fe) {
		return fmt.Errorf("%s.%s: %w", p, fe.field, fe.err)
	}
	return fmt.Errorf("%s: %w", p, err)
}

func ferr(field string, format string, a ...any) error {
	return &fieldErr{field, fmt.Errorf(format, a...)}
}

// Syslog facility names, by code.
var facilityNames = []string{
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

// Syslog level names, by code (0 emerg is the most severe).
var levelNames = []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

var levelAliases = map[string]int{"panic": 0, "error": 3, "warn": 4}

// FacilityName returns the keyword for a facility code, or its number.
func FacilityName(code int) string {
	if code >= 0 && code < len(facilityNames) {
		return facilityNames[code]
	}
	return strconv.Itoa(code)
}

// LevelName returns the keyword for a syslog level, or its number.
func LevelName(code int) string {
	if code >= 0 && code < len(levelNames) {
		return levelNames[code]
	}
	return strconv.Itoa(code)
}

// ParseFacility accepts a facility name or number 0-23.
func ParseFacility(s string) (int, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, n := range facilityNames {
		if n == s {
			return i, nil
		}
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < len(facilityNames) {
		return n, nil
	}
	return 0, fmt.Errorf("%q: want a facility name (kern, user, daemon, local0, ...) or 0-23", s)
}

// ParseLevel accepts a syslog level name or number 0-7.
func ParseLevel(s string) (int, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for i, n := range levelNames {
		if n == s {
			return i, nil
		}
	}
	if n, ok := levelAliases[s]; ok {
		return n, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n < len(levelNames) {
		return n, nil
	}
	return 0, fmt.Errorf("%q: want emerg, alert, crit, err, warning, notice, info, debug or 0-7", s)
}

// compileTemplate parses a template with missing map keys rendering empty.
func compileTemplate(field, text string) (*template.Template, error) {
	t, err := template.New(field).Option("missingkey=zero").Parse(text)
	if err != nil {
		return nil, &fieldErr{field, err}
	}
	return t, nil
}

// validGlob reports whether pattern is a valid path.Match pattern.
func validGlob(pattern string) error {
	_, err := path.Match(pattern, "")
	return err
}

// regexpCompile is regexp.Compile with the (?i) flag when asked.
func regexpCompile(expr string, ignoreCase bool) (*regexp.Regexp, error) {
	if ignoreCase {
		expr = "(?i)" + expr
	}
	return regexp.Compile(expr)
}
