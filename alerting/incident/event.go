package incident

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Severity of an event or incident, from most to least severe.
type Severity string

// Severities, most severe first.
const (
	Critical Severity = "critical"
	Major    Severity = "major"
	Minor    Severity = "minor"
	Warning  Severity = "warning"
	Info     Severity = "info"
)

// Severities lists every valid severity, most severe first.
var Severities = []Severity{Critical, Major, Minor, Warning, Info}

// Rank orders severities: Critical is 5, Info is 1, anything else 0.
func (s Severity) Rank() int {
	switch s {
	case Critical:
		return 5
	case Major:
		return 4
	case Minor:
		return 3
	case Warning:
		return 2
	case Info:
		return 1
	}
	return 0
}

// Valid reports whether s is one of Severities.
func (s Severity) Valid() bool { return s.Rank() > 0 }

// ParseSeverity returns the severity named s (case-insensitive).
func ParseSeverity(s string) (Severity, error) {
	v := Severity(strings.ToLower(strings.TrimSpace(s)))
	if !v.Valid() {
		return "", fmt.Errorf("severity %q: want one of critical, major, minor, warning, info", s)
	}
	return v, nil
}

// Status says whether an event reports a problem or the end of one.
type Status string

// Event statuses.
const (
	Problem Status = "problem"
	OK      Status = "ok"
)

// Limits on event fields, enforced by Validate.
const (
	MaxFieldLen   = 256
	MaxMessageLen = 8192
	MaxLabels     = 64
)

// Event is one observation that something is wrong (or right again) with a
// check on a target. Events are published on the bus with ID as the message
// id, so a retried publish is stored once, and the ledger applies each ID at
// most once.
type Event struct {
	ID       string            `json:"id"`
	Source   string            `json:"source"`
	Target   string            `json:"target"`
	Check    string            `json:"check"`
	Severity Severity          `json:"severity"`
	Status   Status            `json:"status"`
	DedupKey string            `json:"dedup_key"`
	Message  string            `json:"message"`
	Time     time.Time         `json:"time"`
	Labels   map[string]string `json:"labels,omitempty"`
	Runbook  string            `json:"runbook,omitempty"`
	// Received is when a node took the event in (API, receiver, check),
	// by that node's clock; Time is the source's own time. The ledger
	// keeps both; what a sender puts here is replaced on receipt.
	Received time.Time `json:"received,omitzero"`
}

// Skew bounds an event's source time against its receive time: at most
// Future ahead and Past behind (alerting.event_time). The API refuses an
// event outside it.
type Skew struct {
	Future time.Duration
	Past   time.Duration
}

// DefaultSkew is 5 minutes ahead, 24 hours behind.
var DefaultSkew = Skew{Future: 5 * time.Minute, Past: 24 * time.Hour}

// Check returns a *FieldError naming "time" when t is further from
// received than s allows; a zero bound does not check.
func (s Skew) Check(t, received time.Time) error {
	switch d := t.Sub(received); {
	case s.Future > 0 && d > s.Future:
		return &FieldError{"time", fmt.Sprintf("%s is %s ahead of this node's clock; at most %s (alerting.event_time.max_future)",
			t.UTC().Format(time.RFC3339), roundSkew(d), s.Future)}
	case s.Past > 0 && -d > s.Past:
		return &FieldError{"time", fmt.Sprintf("%s is %s behind this node's clock; at most %s (alerting.event_time.max_past)",
			t.UTC().Format(time.RFC3339), roundSkew(-d), s.Past)}
	}
	return nil
}

func roundSkew(d time.Duration) time.Duration {
	if d > time.Hour {
		return d.Round(time.Hour)
	}
	return d.Round(time.Second)
}

// FieldError is a validation error that names the offending field.
type FieldError struct {
	Field string `json:"field"`
	Msg   string `json:"error"`
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Normalize fills defaults: Status problem, Source "api", Time and
// Received now, DedupKey "target/check". It does not invent an ID.
func (e *Event) Normalize(now time.Time) {
	if e.Status == "" {
		e.Status = Problem
	}
	if e.Source == "" {
		e.Source = "api"
	}
	if e.Time.IsZero() {
		e.Time = now
	}
	if e.Received.IsZero() {
		e.Received = now
	}
	e.Time = e.Time.UTC()
	e.Received = e.Received.UTC()
	e.Severity = Severity(strings.ToLower(string(e.Severity)))
	if e.DedupKey == "" {
		e.DedupKey = e.Target + "/" + e.Check
	}
}

// Validate checks a normalized event and returns a *FieldError naming the
// first bad field.
func (e *Event) Validate() error {
	short := []struct{ name, v string }{
		{"id", e.ID}, {"source", e.Source}, {"target", e.Target},
		{"check", e.Check}, {"dedup_key", e.DedupKey}, {"runbook", e.Runbook},
	}
	for _, f := range short {
		if len(f.v) > MaxFieldLen {
			return &FieldError{f.name, fmt.Sprintf("longer than %d bytes", MaxFieldLen)}
		}
		if !utf8.ValidString(f.v) {
			return &FieldError{f.name, "not valid UTF-8"}
		}
	}
	switch {
	case e.ID == "":
		return &FieldError{"id", "required"}
	case e.Target == "":
		return &FieldError{"target", "required"}
	case e.Check == "":
		return &FieldError{"check", "required"}
	case !e.Severity.Valid():
		return &FieldError{"severity", fmt.Sprintf("%q: want one of critical, major, minor, warning, info", e.Severity)}
	case e.Status != Problem && e.Status != OK:
		return &FieldError{"status", fmt.Sprintf("%q: want problem or ok", e.Status)}
	case len(e.Message) > MaxMessageLen:
		return &FieldError{"message", fmt.Sprintf("longer than %d bytes", MaxMessageLen)}
	case !utf8.ValidString(e.Message):
		return &FieldError{"message", "not valid UTF-8"}
	case e.Time.IsZero():
		return &FieldError{"time", "required"}
	case len(e.Labels) > MaxLabels:
		return &FieldError{"labels", fmt.Sprintf("more than %d labels", MaxLabels)}
	}
	for k, v := range e.Labels {
		if k == "" || len(k) > MaxFieldLen || len(v) > MaxFieldLen || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return &FieldError{"labels." + k, "label names and values must be valid UTF-8, 1 to 256 bytes"}
		}
	}
	return nil
}
