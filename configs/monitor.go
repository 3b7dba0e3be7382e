package configs

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/unyo-ops/unyo/monitor/filter"
	"github.com/unyo-ops/unyo/monitor/ping"
	"github.com/unyo-ops/unyo/monitor/scheduler"
	"github.com/unyo-ops/unyo/monitor/snmp"
	"github.com/unyo-ops/unyo/monitor/syslog"
	"github.com/unyo-ops/unyo/monitor/target"
	"github.com/unyo-ops/unyo/monitor/threshold"
	"github.com/unyo-ops/unyo/monitor/trap"
)

// MonitorConfig is the monitor: targets and their checks (ping, SNMP,
// services, processes), thresholds, the syslog receiver with its message
// filters, the SNMP trap receiver, and where samples go. It reuses the
// monitor packages' own config types and validation; this section only
// puts their errors at file:line under "monitor." and checks the
// cross-references between them.
type MonitorConfig struct {
	// Enabled runs the monitor (when it has targets or a receiver).
	Enabled bool `yaml:"enabled"`
	// PingEngine is the process-wide ICMP socket (package monitor/ping).
	PingEngine ping.Options `yaml:"ping_engine"`
	// SNMPPoller is the worker pool shared by all SNMP polls.
	SNMPPoller snmp.Options `yaml:"snmp_poller"`
	// History sizes the per-check result history the console shows.
	History scheduler.HistoryConfig `yaml:"history"`
	// InitialOK sends an ok event on a check's first good result (closes
	// an incident left open by another node or a restart).
	InitialOK bool `yaml:"initial_ok"`
	// Targets are the monitored devices and servers.
	Targets []target.Target `yaml:"targets"`
	// Thresholds apply to every target they select (by target or tags).
	Thresholds []threshold.Rule `yaml:"thresholds"`
	// Syslog is the syslog receiver and its message filters; off unless
	// udp_listen or tcp_listen is set.
	Syslog MonitorSyslogConfig `yaml:"syslog"`
	// Traps is the SNMP trap receiver; off unless listen is set.
	Traps trap.Config `yaml:"traps"`
	// Samples is where check samples go and how long they are kept.
	Samples MonitorSamplesConfig `yaml:"samples"`
}

// MonitorSyslogConfig is the syslog receiver (package monitor/syslog) and
// its ordered message filters (package monitor/filter), in one block.
type MonitorSyslogConfig struct {
	Receiver syslog.Config `yaml:",inline"`
	Filter   filter.Config `yaml:",inline"`
}

// Defaults fills the receiver's defaults (the config loader calls it, so
// that a key given as zero is an error rather than the default).
func (c *MonitorSyslogConfig) Defaults() { c.Receiver.Defaults() }

// MonitorSamplesConfig sizes the in-memory sample buffer in front of the
// ledger store and sets retention.
type MonitorSamplesConfig struct {
	// Store sends samples to the ledger store (its SampleStore); false
	// keeps only the in-memory ring.
	Store bool `yaml:"store"`
	// Buffer is the most samples held waiting for the store; beyond it new
	// samples are dropped and counted, so a check never waits on the store.
	Buffer int `yaml:"buffer"`
	// BatchSize is the most samples written per transaction.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is how often the buffer is written.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// Retention per kind of row; 0 keeps forever.
	Retention MonitorRetentionConfig `yaml:"retention"`
	// PurgeInterval is how often rows past retention are deleted.
	PurgeInterval time.Duration `yaml:"purge_interval"`
}

// MonitorRetentionConfig is how long samples and rollups are kept.
type MonitorRetentionConfig struct {
	Raw    time.Duration `yaml:"raw"`
	Minute time.Duration `yaml:"minute"`
	Hour   time.Duration `yaml:"hour"`
	Day    time.Duration `yaml:"day"`
}

// SyslogEnabled reports whether the syslog receiver runs.
func (s *MonitorConfig) SyslogEnabled() bool {
	return s.Syslog.Receiver.UDPListen != "" || s.Syslog.Receiver.TCPListen != ""
}

// TrapsEnabled reports whether the trap receiver runs.
func (s *MonitorConfig) TrapsEnabled() bool { return s.Traps.Listen != "" }

// Active reports whether the monitor has anything to run.
func (s *MonitorConfig) Active() bool {
	return s.Enabled && (len(s.Targets) > 0 || s.SyslogEnabled() || s.TrapsEnabled())
}

// Scheduler returns the scheduler's node-wide config.
func (s *MonitorConfig) Scheduler() scheduler.Config {
	ok := s.InitialOK
	return scheduler.Config{Ping: s.PingEngine, SNMP: s.SNMPPoller, History: s.History, InitialOK: &ok}
}

// MarshalJSON writes the section as its YAML form does: yaml key names and
// secrets (SNMP and trap passwords, communities) as "<secret>".
func (s MonitorConfig) MarshalJSON() ([]byte, error) {
	b, err := yaml.Marshal(s)
	if err != nil {
		return nil, err
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func (s *MonitorConfig) defaults() {
	s.Enabled = true
	s.InitialOK = true
	s.PingEngine.Mode = ping.ModeAuto
	s.SNMPPoller.Workers = 64
	s.History = scheduler.HistoryConfig{Recent: 20, Failures: 50}
	s.Syslog.Filter.DefaultAction = filter.ActionIgnore
	// The receivers' defaults, so that the printed configuration shows
	// what runs (the listen addresses stay empty: off).
	s.Syslog.Receiver.Defaults()
	s.Traps.Defaults()
	s.Samples = MonitorSamplesConfig{
		Store: true, Buffer: 100000, BatchSize: 5000, FlushInterval: 5 * time.Second,
		Retention: MonitorRetentionConfig{
			Raw: 7 * 24 * time.Hour, Minute: 31 * 24 * time.Hour, Hour: 400 * 24 * time.Hour,
		},
		PurgeInterval: time.Hour,
	}
}

// resolve makes empty lists and maps nil, so that a printed configuration
// loads back to the same one.
func (s *MonitorConfig) resolve(*Config, string) { nilEmpty(reflect.ValueOf(s).Elem()) }

// nilEmpty sets every empty slice and map reachable from v to nil.
func nilEmpty(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			nilEmpty(v.Elem())
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Field(i); f.CanSet() {
				nilEmpty(f)
			}
		}
	case reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		for i := 0; i < v.Len(); i++ {
			nilEmpty(v.Index(i))
		}
	case reflect.Map:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
		}
	}
}

// pkgErr places an error of a monitor package ("<field path>: <message>",
// the path relative to prefix) under v.
func pkgErr(v validator, prefix string, err error) {
	for _, e := range unjoinErr(err) {
		msg := e.Error()
		path := prefix
		if p, m, ok := strings.Cut(msg, ": "); ok && !strings.ContainsAny(p, " \"") {
			if path != "" {
				path += "."
			}
			path, msg = path+p, m
		}
		full := v.path
		if path != "" {
			full += "." + path
		}
		*v.errs = append(*v.errs, fieldErr{path: full, msg: msg})
	}
}

func unjoinErr(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, unjoinErr(e)...)
		}
		return out
	}
	return []error{err}
}

func (s *MonitorConfig) validate(_ *Config, v validator) {
	sc := s.Scheduler()
	if err := sc.Validate(); err != nil {
		pkgErr(v, "", err)
	}
	rulesOK := true
	if err := threshold.ValidateRules("thresholds", s.Thresholds); err != nil {
		pkgErr(v, "", err)
		rulesOK = false
	}
	targetsOK := true
	for i := range s.Targets {
		if err := s.Targets[i].Validate(); err != nil {
			pkgErr(v, fmt.Sprintf("targets[%d]", i), err)
			targetsOK = false
		}
	}
	if targetsOK && rulesOK {
		// Duplicate names and parents: the target package's cross-checks.
		tc := target.Config{Targets: s.Targets, Thresholds: s.Thresholds}
		if err := tc.Validate(); err != nil {
			pkgErr(v, "", err)
			targetsOK = false
		}
	}
	if targetsOK && rulesOK {
		s.checkRuleRefs(v)
	}
	if s.SyslogEnabled() {
		if err := s.Syslog.Receiver.Validate(); err != nil {
			pkgErr(v.sub("syslog"), "", err)
		}
	}
	if err := s.Syslog.Filter.Validate(); err != nil {
		pkgErr(v.sub("syslog"), "", err)
	}
	if s.TrapsEnabled() {
		if err := s.Traps.Validate(); err != nil {
			pkgErr(v.sub("traps"), "", err)
		}
	} else if len(s.Traps.Rules) > 0 || len(s.Traps.Users) > 0 {
		v.sub("traps").errf("listen", "required when traps.rules or traps.users are set (e.g. \":162\")")
	}
	sv := v.sub("samples")
	if s.Samples.Buffer < 1 || s.Samples.Buffer > 10_000_000 {
		sv.errf("buffer", "%d: want 1..10000000", s.Samples.Buffer)
	}
	if s.Samples.BatchSize < 1 || s.Samples.BatchSize > 100_000 {
		sv.errf("batch_size", "%d: want 1..100000", s.Samples.BatchSize)
	}
	atLeast(sv, "flush_interval", s.Samples.FlushInterval, 100*time.Millisecond)
	atLeast(sv, "purge_interval", s.Samples.PurgeInterval, time.Minute)
	rv := sv.sub("retention")
	for _, r := range []struct {
		key string
		d   time.Duration
		min time.Duration
	}{{"raw", s.Samples.Retention.Raw, time.Hour}, {"minute", s.Samples.Retention.Minute, time.Hour},
		{"hour", s.Samples.Retention.Hour, 24 * time.Hour}, {"day", s.Samples.Retention.Day, 24 * time.Hour}} {
		if r.d != 0 && r.d < r.min {
			rv.errf(r.key, "%s: want 0 (keep forever) or at least %s", fmtDuration(r.d), fmtDuration(r.min))
		}
	}
}

// checkRuleRefs reports threshold rules that select nothing: a target that
// is not configured, or tags no target has.
func (s *MonitorConfig) checkRuleRefs(v validator) {
	byName := map[string]*target.Target{}
	for i := range s.Targets {
		byName[s.Targets[i].Name] = &s.Targets[i]
	}
	check := func(rv validator, r threshold.Rule, owner string) {
		if r.Target != "" {
			if _, ok := byName[r.Target]; !ok {
				rv.errf("target", "%s: no such target in monitor.targets", quote(r.Target))
			} else if owner != "" && r.Target != owner {
				rv.errf("target", "%s: a rule of target %s applies to that target only", quote(r.Target), quote(owner))
			}
		}
		if len(r.Tags) == 0 {
			return
		}
		for _, t := range s.Targets {
			if (owner == "" || t.Name == owner) && hasTags(t.Tags, r.Tags) {
				return
			}
		}
		keys := slices.Sorted(maps.Keys(r.Tags))
		pairs := make([]string, len(keys))
		for i, k := range keys {
			pairs[i] = k + "=" + r.Tags[k]
		}
		rv.errf("tags", "no target in monitor.targets has %s", strings.Join(pairs, ", "))
	}
	for i, r := range s.Thresholds {
		check(v.sub(fmt.Sprintf("thresholds[%d]", i)), r, "")
	}
	for i, t := range s.Targets {
		for j, r := range t.Thresholds {
			check(v.sub(fmt.Sprintf("targets[%d].thresholds[%d]", i, j)), r, t.Name)
		}
	}
}

func hasTags(have, want map[string]string) bool {
	for k, x := range want {
		if y, ok := have[k]; !ok || y != x {
			return false
		}
	}
	return true
}
