package target

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/unyo-ops/unyo/monitor/ping"
	"github.com/unyo-ops/unyo/monitor/service"
	"github.com/unyo-ops/unyo/monitor/snmp"
	"github.com/unyo-ops/unyo/monitor/threshold"
)

// Config is the monitor's target list and its global thresholds.
//
//	targets:
//	  - name: core-sw1
//	    address: 10.0.0.1
//	    site: tokyo-dc1
//	    tags: {role: switch}
//	    ping: {interval: 10s, packets: 3, down_after: 3}
//	    snmp: {version: v3, user: unyo, auth_password: "...", priv_password: "...", metric_sets: [system, interfaces]}
//	  - name: db01
//	    address: 10.0.1.10
//	    parent: core-sw1            # reached through core-sw1
//	    tags: {role: db}
//	    ping: {}                    # all defaults
//	    snmp: {community: public}
//	    services:
//	      - {type: postgres, dsn: "postgres://monitor@10.0.1.10/postgres"}
//	    processes:
//	      - {name: postgres, min: 1}
//	    thresholds:
//	      - {metric: snmp_storage_used_percent, warning: 80, critical: 90, for: 3}
//	thresholds:                     # for every target they select
//	  - {name: cpu, metric: snmp_cpu_load_avg_percent, warning: 85, critical: 95, for: 5, clear: 70}
type Config struct {
	Targets    []Target         `yaml:"targets"`
	Thresholds []threshold.Rule `yaml:"thresholds"`
}

// Target is one monitored device or server.
type Target struct {
	Name       string            `yaml:"name"`
	Address    string            `yaml:"address"`
	Site       string            `yaml:"site"`
	Parent     string            `yaml:"parent"`
	Tags       map[string]string `yaml:"tags"`
	Ping       *ping.Config      `yaml:"ping"`
	SNMP       *snmp.Config      `yaml:"snmp"`
	Services   []service.Config  `yaml:"services"`
	Processes  []snmp.Process    `yaml:"processes"`
	Thresholds []threshold.Rule  `yaml:"thresholds"`
}

var targetName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// Load decodes YAML strictly (unknown keys are errors), fills defaults and
// validates.
func Load(r io.Reader) (*Config, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("targets: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate fills defaults and checks every target. Errors name the field
// path, e.g. "targets[2].ping.interval: 500ms: must be at least 1s";
// every problem of every target is reported (errors.Join).
func (c *Config) Validate() error {
	var errs []error
	if err := threshold.ValidateRules("thresholds", c.Thresholds); err != nil {
		errs = append(errs, err)
	}
	index := map[string]int{}
	for i := range c.Targets {
		t := &c.Targets[i]
		p := fmt.Sprintf("targets[%d]", i)
		if err := t.Validate(); err != nil {
			errs = append(errs, Prefix(p+".", err)...)
		}
		if j, dup := index[t.Name]; dup {
			errs = append(errs, fmt.Errorf("%s.name: %q already used by targets[%d]", p, t.Name, j))
			continue
		}
		index[t.Name] = i
	}
	for i, t := range c.Targets {
		if t.Parent == "" {
			continue
		}
		if _, ok := index[t.Parent]; !ok {
			errs = append(errs, fmt.Errorf("targets[%d].parent: %q: no such target", i, t.Parent))
			continue
		}
		seen := map[string]bool{t.Name: true}
		for p := t.Parent; p != ""; p = c.Targets[index[p]].Parent {
			if seen[p] {
				errs = append(errs, fmt.Errorf("targets[%d].parent: %q: parents form a loop", i, t.Parent))
				break
			}
			seen[p] = true
		}
	}
	return errors.Join(errs...)
}

// Prefix puts prefix before each error joined in err (errors.Join), so
// that each keeps its own field path: Prefix("ping.", err) turns
// "interval: ..." into "ping.interval: ...".
func Prefix(prefix string, err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Prefix(prefix, e)...)
		}
		return out
	}
	return []error{fmt.Errorf("%s%w", prefix, err)}
}

// Defaults fills the defaults of the target's checks (a target built in
// code; the config loader fills them from what the file leaves out).
func (t *Target) Defaults() {
	if t.Ping != nil {
		t.Ping.Defaults()
	}
	if t.SNMP != nil {
		t.SNMP.Defaults()
	}
	for i := range t.Services {
		t.Services[i].Defaults()
	}
	for i := range t.Processes {
		t.Processes[i].Defaults()
	}
	for i := range t.Thresholds {
		t.Thresholds[i].Defaults()
	}
}

// Validate fills defaults (Defaults) and checks one target; errors name
// the field relative to the target ("ping.interval: ..."), every problem
// of the target joined (errors.Join).
func (t *Target) Validate() error {
	t.Defaults()
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !targetName.MatchString(t.Name) {
		add("name: %q: want 1-128 characters of A-Z a-z 0-9 _ . -, starting with a letter or digit", t.Name)
	}
	switch {
	case t.Address == "":
		add("address: required (IP address or host name)")
	case strings.ContainsAny(t.Address, " /\t"):
		add("address: %q: not an IP address or host name", t.Address)
	case t.Ping != nil:
		if _, err := netip.ParseAddr(t.Address); err != nil {
			add("address: %q: ping needs an IP address", t.Address)
		}
	}
	if t.Parent == t.Name && t.Parent != "" {
		add("parent: %q: a target cannot be its own parent", t.Parent)
	}
	if t.Ping != nil {
		errs = append(errs, Prefix("ping.", t.Ping.Validate())...)
	}
	if t.SNMP != nil {
		errs = append(errs, Prefix("snmp.", t.SNMP.Validate())...)
	}
	names := map[string]int{}
	for i := range t.Services {
		s := &t.Services[i]
		p := fmt.Sprintf("services[%d].", i)
		errs = append(errs, Prefix(p, s.Validate())...)
		if s.Name == "ping" || s.Name == "snmp" || strings.HasPrefix(s.Name, "process:") {
			add("%sname: %q is reserved", p, s.Name)
		}
		if j, dup := names[s.Name]; dup {
			add("%sname: %q already used by services[%d]; give one a name", p, s.Name, j)
		}
		names[s.Name] = i
	}
	if len(t.Processes) > 0 && t.SNMP == nil {
		add("processes: need an snmp block (processes are counted through HOST-RESOURCES-MIB)")
	}
	pnames := map[string]bool{}
	for i := range t.Processes {
		p := &t.Processes[i]
		errs = append(errs, Prefix(fmt.Sprintf("processes[%d].", i), p.Validate())...)
		if pnames[p.Name] {
			add("processes[%d].name: %q listed twice", i, p.Name)
		}
		pnames[p.Name] = true
	}
	if err := threshold.ValidateRules("thresholds", t.Thresholds); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Checks lists the check names of a validated target.
func (t *Target) Checks() []string {
	var out []string
	if t.Ping != nil {
		out = append(out, "ping")
	}
	if t.SNMP != nil {
		out = append(out, "snmp")
	}
	for _, s := range t.Services {
		out = append(out, s.Name)
	}
	for _, p := range t.Processes {
		out = append(out, "process:"+p.Name)
	}
	return out
}

// Clone returns a deep copy of the target's own fields.
func (t Target) Clone() Target {
	c := t
	c.Tags = maps.Clone(t.Tags)
	if t.Ping != nil {
		p := *t.Ping
		c.Ping = &p
	}
	if t.SNMP != nil {
		s := *t.SNMP
		if s.Retries != nil {
			r := *s.Retries
			s.Retries = &r
		}
		s.MetricSets = slices.Clone(s.MetricSets)
		s.OIDs = slices.Clone(s.OIDs)
		c.SNMP = &s
	}
	c.Services = slices.Clone(t.Services)
	c.Processes = slices.Clone(t.Processes)
	c.Thresholds = slices.Clone(t.Thresholds)
	return c
}
