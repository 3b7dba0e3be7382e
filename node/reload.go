package node

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/monitor/filter"
	"github.com/unyo-ops/unyo/monitor/target"
)

// Reload applies a new configuration without a restart (SIGHUP in `unyo
// serve`). What it can apply: the monitor's targets, thresholds and syslog
// filters, and the jobnets (new and changed ones for new runs and
// schedules, removed ones no longer scheduled; runs in progress keep the
// definition they started with). Sections that need a restart (node, http,
// nats, ledger, pipeline, cluster, log, alerting, and turning the monitor
// or its receivers on or off) are reported, not applied: the returned
// error names them, and the rest of the reload still takes effect. A
// config that failed to load never reaches Reload, so a bad file changes
// nothing.
//
// Metrics: unyo_config_last_reload_successful,
// unyo_config_last_reload_success_timestamp_seconds, unyo_config_info{hash}.
func (n *Node) Reload(ctx context.Context, c *configs.Config) error {
	_, err := n.ReloadReport(ctx, c)
	return err
}

// ReloadResult says what a reload did, by section name.
type ReloadResult struct {
	// Applied are the sections that changed and are in effect now.
	Applied []string `json:"applied,omitempty"`
	// Restart are the sections that changed but take effect only after a
	// restart of the node.
	Restart []string `json:"restart,omitempty"`
	// Failed are the sections that changed and could not be applied
	// (with why, one entry each: "section: error").
	Failed []string `json:"failed,omitempty"`
}

// ReloadReport is Reload, also saying what it applied. The error is nil
// when everything that changed is in effect; it wraps ErrNeedsRestart when
// something waits for a restart.
func (n *Node) ReloadReport(ctx context.Context, c *configs.Config) (ReloadResult, error) {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	res, running, err := n.reload(ctx, c)
	// What the node runs now: the new file but for what waits for a
	// restart or failed, so that the next reload compares with it.
	n.opts.Config = running
	if err != nil {
		n.reloadOK.Set(0)
		n.log.Error("config reload", "source", c.Source, "applied", res.Applied, "err", err)
		return res, err
	}
	n.reloadOK.Set(1)
	n.reloadTime.SetToCurrentTime()
	n.configInfo.Reset()
	n.configInfo.WithLabelValues(c.Hash).Set(1)
	n.log.Info("config reloaded", "source", c.Source, "hash", c.Hash, "applied", res.Applied)
	return res, nil
}

// currentConfig is the configuration last applied (Reload replaces it).
func (n *Node) currentConfig() *configs.Config {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	return n.opts.Config
}

func (n *Node) reload(ctx context.Context, c *configs.Config) (ReloadResult, *configs.Config, error) {
	var res ReloadResult
	old := n.opts.Config
	running := *c
	if old != nil {
		// Sections read only at start: a change waits for a restart, and
		// the old one keeps running.
		for _, s := range []struct {
			name     string
			old, new any
			keep     func()
		}{
			{"node", old.Node, c.Node, func() { running.Node = old.Node }},
			{"http", old.HTTP, c.HTTP, func() { running.HTTP = old.HTTP }},
			{"nats", old.NATS, c.NATS, func() { running.NATS = old.NATS }},
			{"ledger", old.Ledger, c.Ledger, func() { running.Ledger = old.Ledger }},
			{"pipeline", old.Pipeline, c.Pipeline, func() { running.Pipeline = old.Pipeline }},
			{"cluster", old.Cluster, c.Cluster, func() { running.Cluster = old.Cluster }},
			{"log", old.Log, c.Log, func() { running.Log = old.Log }},
			{"alerting", old.Alerting, c.Alerting, func() { running.Alerting = old.Alerting }},
			{"releases", old.Releases, c.Releases, func() { running.Releases = old.Releases }},
		} {
			if !reflect.DeepEqual(s.old, s.new) {
				res.Restart = append(res.Restart, s.name)
				s.keep()
			}
		}
	}
	if old == nil || !reflect.DeepEqual(old.Jobnets, c.Jobnets) {
		if err := n.reloadJobnets(c.Jobnets); err != nil {
			res.Failed = append(res.Failed, err.Error())
			if old != nil {
				running.Jobnets = old.Jobnets
			}
		} else if old != nil {
			res.Applied = append(res.Applied, "jobnets")
		}
	}
	o := monitorOptions(c)
	m := n.mon
	monChanged := old == nil || !reflect.DeepEqual(old.Monitor, c.Monitor)
	switch {
	case m == nil && o.Enabled:
		res.Restart = append(res.Restart, "monitor (turning it on)")
		if old != nil {
			running.Monitor = old.Monitor
		}
	case m != nil:
		receivers := (o.Syslog == nil) != (m.syslog == nil) || (o.Traps == nil) != (m.traps == nil)
		if receivers {
			res.Restart = append(res.Restart, "monitor receivers (turning syslog or traps on or off)")
		}
		if err := n.reloadMonitor(ctx, o); err != nil {
			res.Failed = append(res.Failed, err.Error())
			if old != nil {
				running.Monitor = old.Monitor
			}
		} else if monChanged && old != nil {
			res.Applied = append(res.Applied, "monitor")
		}
	}
	var errs []error
	if len(res.Failed) > 0 {
		errs = append(errs, fmt.Errorf("%w: %s", ErrReloadFailed, strings.Join(res.Failed, "; ")))
	}
	if len(res.Restart) > 0 {
		errs = append(errs, fmt.Errorf("%w: %v", ErrNeedsRestart, res.Restart))
	}
	return res, &running, errors.Join(errs...)
}

// ErrReloadFailed: a changed section could not be applied.
var ErrReloadFailed = errors.New("config reload: not applied")

// ErrNeedsRestart: the new configuration changes sections that take effect
// only after a restart; everything else was applied.
var ErrNeedsRestart = errors.New("changed settings need a restart")

func (n *Node) reloadMonitor(ctx context.Context, o MonitorOptions) error {
	m := n.mon
	if m.syslog != nil && m.filterMetrics != nil {
		engine, err := filter.New(o.Filters, m.filterMetrics)
		if err != nil {
			return fmt.Errorf("monitor.syslog.filters: %w", err)
		}
		m.syslog.SetFilters(engine)
	}
	if err := m.sched.SetThresholds(o.Thresholds); err != nil {
		return fmt.Errorf("monitor.thresholds: %w", err)
	}
	ts := make([]target.Target, len(o.Targets))
	for i := range o.Targets {
		ts[i] = o.Targets[i].Clone()
		if m.pinger == nil {
			ts[i].Ping = nil
		}
	}
	m.setTargetList(ts)
	if n.raft == nil {
		if err := m.sched.SetTargets(ts); err != nil {
			return fmt.Errorf("monitor.targets: %w", err)
		}
		return nil
	}
	if n.raft.IsLeader() {
		n.publishTargets(ctx)
	}
	select {
	case n.reassign <- struct{}{}:
	default:
	}
	return nil
}

func (m *monitorPart) targetList() []target.Target {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.targets
}

func (m *monitorPart) setTargetList(ts []target.Target) {
	m.mu.Lock()
	m.targets = ts
	m.mu.Unlock()
}

// reloadState is the node's reload bookkeeping.
type reloadState struct {
	reloadMu   sync.Mutex
	reloadOK   prometheus.Gauge
	reloadTime prometheus.Gauge
	configInfo *prometheus.GaugeVec
}

func (n *Node) registerReload() {
	n.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "unyo_config_last_reload_successful", Help: "1 when the last configuration reload applied everything, 0 otherwise.",
	})
	n.reloadOK.Set(1)
	n.reloadTime = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "unyo_config_last_reload_success_timestamp_seconds", Help: "When the configuration was last loaded or reloaded successfully.",
	})
	n.reloadTime.Set(float64(time.Now().UnixNano()) / 1e9)
	n.configInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "unyo_config_info", Help: "Always 1; the hash label is the SHA-256 of the active configuration file.",
	}, []string{"hash"})
	if n.opts.Config != nil {
		n.configInfo.WithLabelValues(n.opts.Config.Hash).Set(1)
	}
	n.opts.Registry.MustRegister(n.reloadOK, n.reloadTime, n.configInfo)
}

// ReloadFile loads path and applies it with Reload. A file that does not
// load changes nothing and counts as a failed reload.
func (n *Node) ReloadFile(ctx context.Context, path string) error {
	c, err := configs.Load(path)
	if err != nil {
		n.reloadOK.Set(0)
		n.log.Error("config reload: the new file is not valid; nothing changed", "err", err)
		return err
	}
	return n.Reload(ctx, c)
}
