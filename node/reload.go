package node

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/monitor/filter"
	"github.com/unyo-ops/unyo/monitor/target"
)

// Reload applies a new configuration without a restart (SIGHUP in `unyo
// serve`). What it can apply: the monitor's targets, thresholds and syslog
// filters. Sections that need a restart (node, http, nats, ledger,
// pipeline, cluster, and turning the monitor or its receivers on or off)
// are reported, not applied: the returned error names them, and the rest
// of the reload still takes effect. A config that failed to load never
// reaches Reload, so a bad file changes nothing.
//
// Metrics: unyo_config_last_reload_successful,
// unyo_config_last_reload_success_timestamp_seconds, unyo_config_info{hash}.
func (n *Node) Reload(ctx context.Context, c *configs.Config) error {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	err := n.reload(ctx, c)
	if err != nil {
		n.reloadOK.Set(0)
		n.log.Error("config reload", "source", c.Source, "err", err)
		return err
	}
	n.reloadOK.Set(1)
	n.reloadTime.SetToCurrentTime()
	n.configInfo.Reset()
	n.configInfo.WithLabelValues(c.Hash).Set(1)
	n.opts.Config = c
	n.log.Info("config reloaded", "source", c.Source, "hash", c.Hash)
	return nil
}

// currentConfig is the configuration last applied (Reload replaces it).
func (n *Node) currentConfig() *configs.Config {
	n.reloadMu.Lock()
	defer n.reloadMu.Unlock()
	return n.opts.Config
}

func (n *Node) reload(ctx context.Context, c *configs.Config) error {
	var restart []string
	if old := n.opts.Config; old != nil {
		for _, s := range []struct {
			name     string
			old, new any
		}{
			{"node", old.Node, c.Node}, {"http", old.HTTP, c.HTTP}, {"nats", old.NATS, c.NATS},
			{"ledger", old.Ledger, c.Ledger}, {"pipeline", old.Pipeline, c.Pipeline},
			{"cluster", old.Cluster, c.Cluster}, {"log", old.Log, c.Log},
			{"alerting", old.Alerting, c.Alerting}, {"jobnets", old.Jobnets, c.Jobnets},
		} {
			if !reflect.DeepEqual(s.old, s.new) {
				restart = append(restart, s.name)
			}
		}
	}
	o := monitorOptions(c)
	m := n.mon
	switch {
	case m == nil && o.Enabled:
		restart = append(restart, "monitor (turning it on)")
	case m != nil:
		if (o.Syslog == nil) != (m.syslog == nil) || (o.Traps == nil) != (m.traps == nil) {
			restart = append(restart, "monitor receivers (turning syslog or traps on or off)")
		}
		if err := n.reloadMonitor(ctx, o); err != nil {
			return err
		}
	}
	if len(restart) > 0 {
		return fmt.Errorf("%w: %v", ErrNeedsRestart, restart)
	}
	return nil
}

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
