package snmp

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Metric sets.
const (
	SetSystem     = "system"     // sysUpTime; reboot events
	SetStorage    = "storage"    // HOST-RESOURCES-MIB hrStorageTable
	SetProcessor  = "processor"  // HOST-RESOURCES-MIB hrProcessorLoad
	SetInterfaces = "interfaces" // IF-MIB; link events
	SetLoad       = "load"       // UCD-SNMP-MIB laLoad
	SetMemory     = "memory"     // UCD-SNMP-MIB memory
)

// AllSets is the default list of metric sets.
var AllSets = []string{SetSystem, SetStorage, SetProcessor, SetInterfaces, SetLoad, SetMemory}

// Config is the SNMP polling of one target.
//
//	snmp:
//	  version: v2c                  # v2c (default) or v3
//	  community: public             # v2c
//	  user: unyo                    # v3
//	  auth_protocol: SHA            # v3: SHA (default), SHA256, SHA512, MD5
//	  auth_password: "..."          # v3; printed as <secret>
//	  priv_protocol: AES            # v3: AES (default), AES256, DES; "none" for authNoPriv
//	  priv_password: "..."          # v3; printed as <secret>
//	  port: 161
//	  interval: 60s                 # at least 1s
//	  timeout: 10s                  # deadline for the whole poll of this device
//	  retries: 1                    # per request, within the deadline
//	  max_repetitions: 25           # GETBULK
//	  down_after: 2                 # failed polls before the snmp check is down
//	  metric_sets: [system, storage, processor, interfaces, load, memory]
//	  oids:                         # extra values: name → OID
//	    - {name: if_in_discards, oid: "IF-MIB::ifInDiscards", walk: true}
//	    - {name: ssh_sessions, oid: "1.3.6.1.4.1.99999.1.0"}
type Config struct {
	Version        string        `yaml:"version"`
	Community      Secret        `yaml:"community"`
	User           string        `yaml:"user"`
	AuthProtocol   string        `yaml:"auth_protocol"`
	AuthPassword   Secret        `yaml:"auth_password"`
	PrivProtocol   string        `yaml:"priv_protocol"`
	PrivPassword   Secret        `yaml:"priv_password"`
	Port           int           `yaml:"port"`
	Interval       time.Duration `yaml:"interval"`
	Timeout        time.Duration `yaml:"timeout"`
	Retries        *int          `yaml:"retries"` // nil: DefaultRetries; 0 is valid (no retry)
	MaxRepetitions int           `yaml:"max_repetitions"`
	DownAfter      int           `yaml:"down_after"`
	MetricSets     []string      `yaml:"metric_sets"`
	OIDs           []OID         `yaml:"oids"`
}

// OID is an extra value to poll.
type OID struct {
	Name string `yaml:"name"` // sample name
	OID  string `yaml:"oid"`  // numeric or MIB::name
	Walk bool   `yaml:"walk"` // walk the subtree: one sample per row, label "index"

	resolved string
}

// Process is a process liveness check: the number of hrSWRunName entries
// equal to Name must be within [Min, Max].
//
//	processes:
//	  - {name: sshd, min: 1}
//	  - {name: postgres, min: 1, max: 50}
type Process struct {
	Name      string `yaml:"name"`
	Min       int    `yaml:"min"`        // default 1
	Max       int    `yaml:"max"`        // 0: no upper bound
	DownAfter int    `yaml:"down_after"` // default 1
}

// Secret is a string printed as <secret>.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "<secret>"
}

// MarshalYAML hides the value.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// DefaultRetries is the retries of a config that sets none.
const DefaultRetries = 1

// RetryCount is the retries per request: Retries, or DefaultRetries when
// unset.
func (c *Config) RetryCount() int {
	if c.Retries == nil {
		return DefaultRetries
	}
	return *c.Retries
}

// Defaults fills unset fields.
func (c *Config) Defaults() {
	if c.Version == "" {
		c.Version = "v2c"
	}
	if c.Version == "v2c" && c.Community == "" {
		c.Community = "public"
	}
	if c.Version == "v3" {
		if c.AuthProtocol == "" {
			c.AuthProtocol = "SHA"
		}
		if c.PrivProtocol == "" {
			c.PrivProtocol = "AES"
		}
	}
	if c.Port == 0 {
		c.Port = 161
	}
	if c.Interval == 0 {
		c.Interval = time.Minute
	}
	if c.Timeout == 0 {
		c.Timeout = min(10*time.Second, c.Interval)
	}
	if c.Retries == nil {
		r := DefaultRetries
		c.Retries = &r
	}
	if c.MaxRepetitions == 0 {
		c.MaxRepetitions = 25
	}
	if c.DownAfter == 0 {
		c.DownAfter = 2
	}
	if c.MetricSets == nil {
		c.MetricSets = slices.Clone(AllSets)
	}
}

var sampleName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Validate checks the config after Defaults and resolves OID names. Errors
// name the field relative to the snmp block ("oids[1].oid: ..."); every
// problem is reported (errors.Join), not only the first.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch c.Version {
	case "v2c":
		if c.Community == "" {
			add("community: required for v2c")
		}
	case "v3":
		if c.User == "" {
			add("user: required for v3")
		}
		if _, ok := authProtocols[strings.ToUpper(c.AuthProtocol)]; !ok {
			add("auth_protocol: %q: want SHA, SHA224, SHA256, SHA384, SHA512 or MD5", c.AuthProtocol)
		}
		if len(c.AuthPassword) < 8 {
			add("auth_password: at least 8 characters required for v3")
		}
		if _, ok := privProtocols[strings.ToUpper(c.PrivProtocol)]; !ok {
			add("priv_protocol: %q: want AES, AES192, AES256, DES or none", c.PrivProtocol)
		}
		if !strings.EqualFold(c.PrivProtocol, "none") && len(c.PrivPassword) < 8 {
			add("priv_password: at least 8 characters required for authPriv")
		}
	default:
		add("version: %q: want v2c or v3", c.Version)
	}
	if c.Port < 1 || c.Port > 65535 {
		add("port: %d: want 1 to 65535", c.Port)
	}
	if c.Interval < time.Second {
		add("interval: %s: must be at least 1s", c.Interval)
	}
	if c.Timeout < 10*time.Millisecond || c.Timeout > c.Interval && c.Interval >= time.Second {
		add("timeout: %s: want at least 10ms and at most interval %s", c.Timeout, c.Interval)
	}
	if r := c.RetryCount(); r < 0 || r > 10 {
		add("retries: %d: want 0 to 10", r)
	}
	if c.MaxRepetitions < 1 || c.MaxRepetitions > 200 {
		add("max_repetitions: %d: want 1 to 200", c.MaxRepetitions)
	}
	if c.DownAfter < 1 || c.DownAfter > 1000 {
		add("down_after: %d: want 1 to 1000 polls", c.DownAfter)
	}
	for i, s := range c.MetricSets {
		if !slices.Contains(AllSets, s) {
			add("metric_sets[%d]: %q: want one of %s", i, s, strings.Join(AllSets, ", "))
		}
	}
	names := map[string]bool{}
	for i := range c.OIDs {
		o := &c.OIDs[i]
		if !sampleName.MatchString(o.Name) {
			add("oids[%d].name: %q: want a metric name ([a-zA-Z_][a-zA-Z0-9_]*)", i, o.Name)
		} else if names[o.Name] {
			add("oids[%d].name: %q used twice", i, o.Name)
		}
		names[o.Name] = true
		r, err := ResolveOID(o.OID)
		if err != nil {
			add("oids[%d].oid: %w", i, err)
			continue
		}
		o.resolved = r
	}
	return errors.Join(errs...)
}

// Defaults fills unset fields.
func (p *Process) Defaults() {
	if p.Min == 0 && p.Max == 0 {
		p.Min = 1
	}
	if p.DownAfter == 0 {
		p.DownAfter = 1
	}
}

// Validate checks a process check after Defaults; every problem is
// reported.
func (p *Process) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch {
	case p.Name == "" || len(p.Name) > 128:
		add("name: required, at most 128 characters (the hrSWRunName, e.g. sshd)")
	case strings.ContainsAny(p.Name, "/ "):
		add("name: %q: the process name as in hrSWRunName, without path or spaces", p.Name)
	}
	if p.Min < 0 {
		add("min: %d: must not be negative", p.Min)
	}
	if p.Max < 0 || (p.Max > 0 && p.Max < p.Min) {
		add("max: %d: want 0 (no limit) or at least min %d", p.Max, p.Min)
	}
	if p.Min == 0 && p.Max == 0 {
		add("min: 0 with max 0 (no limit): the check can never fail; set min, max or both")
	}
	if p.DownAfter < 1 || p.DownAfter > 1000 {
		add("down_after: %d: want 1 to 1000 polls", p.DownAfter)
	}
	return errors.Join(errs...)
}

// Options configure the Poller shared by all targets.
//
//	snmp_poller:
//	  workers: 64        # polls in flight at once
type Options struct {
	Workers int `yaml:"workers"`
}

// Defaults sets the workers left at zero (64).
func (o *Options) Defaults() {
	if o.Workers == 0 {
		o.Workers = 64
	}
}

// Validate checks the options (zero workers counts as the default).
func (o *Options) Validate() error {
	if o.Workers < 0 || o.Workers > 10000 {
		return fmt.Errorf("workers: %d: want 1 to 10000", o.Workers)
	}
	return nil
}
