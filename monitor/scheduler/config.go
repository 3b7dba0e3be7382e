package scheduler

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/monitor"
	"github.com/unyo-ops/unyo/monitor/ping"
	"github.com/unyo-ops/unyo/monitor/snmp"
	"github.com/unyo-ops/unyo/monitor/target"
	"github.com/unyo-ops/unyo/monitor/threshold"
)

// Config is the node-wide part of the monitor's configuration.
//
//	monitor:
//	  ping_engine: {mode: auto}
//	  snmp_poller: {workers: 64}
//	  history: {recent: 20, failures: 50}
//	  initial_ok: true
type Config struct {
	Ping      ping.Options  `yaml:"ping_engine"`
	SNMP      snmp.Options  `yaml:"snmp_poller"`
	History   HistoryConfig `yaml:"history"`
	InitialOK *bool         `yaml:"initial_ok"`
}

// HistoryConfig sizes the per-check result history.
type HistoryConfig struct {
	Recent   int `yaml:"recent"`
	Failures int `yaml:"failures"`
}

// Defaults fills the sizes left at zero (20 recent, 50 failures).
func (h *HistoryConfig) Defaults() {
	if h.Recent == 0 {
		h.Recent = 20
	}
	if h.Failures == 0 {
		h.Failures = 50
	}
}

// Validate checks the config; errors name the field. Zero values count as
// their defaults (a config built in code); the config loader refuses a
// zero written in the file.
func (c *Config) Validate() error {
	if err := c.Ping.Validate(); err != nil {
		return errors.New("ping_engine." + err.Error())
	}
	if err := c.SNMP.Validate(); err != nil {
		return errors.New("snmp_poller." + err.Error())
	}
	if c.History.Recent < 0 || c.History.Recent > 10000 {
		return fmt.Errorf("history.recent: %d: want 1 to 10000", c.History.Recent)
	}
	if c.History.Failures < 0 || c.History.Failures > 10000 {
		return fmt.Errorf("history.failures: %d: want 1 to 10000", c.History.Failures)
	}
	return nil
}

// Options wire a Scheduler.
type Options struct {
	Config     Config
	Sink       monitor.Sink     // required: where events go
	Samples    SampleSink       // optional: where samples go
	Thresholds []threshold.Rule // global rules, validated
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Pinger and Poller may be given to share them; otherwise New makes
	// them from Config (the pinger only when a target pings).
	Pinger *ping.Pinger
	Poller *snmp.Poller
}

func (o *Options) validate() error {
	if o.Sink == nil {
		return errors.New("scheduler: Options.Sink is required")
	}
	if err := o.Config.Validate(); err != nil {
		return err
	}
	return threshold.ValidateRules("thresholds", o.Thresholds)
}

var _ = target.Up
