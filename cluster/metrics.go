package cluster

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	isLeader      prometheus.Gauge
	applies       *prometheus.CounterVec
	applyDuration *prometheus.HistogramVec
	members       prometheus.Gauge
	reassignments prometheus.Counter
	targets       prometheus.Gauge
}

func newMetrics() *metrics {
	return &metrics{
		isLeader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "unyo_cluster_is_leader",
			Help: "1 if this node is the Raft leader, else 0.",
		}),
		applies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "unyo_cluster_applies_total",
			Help: "Commands proposed through Raft by this node, by command type and result (ok, rejected, error).",
		}, []string{"type", "result"}),
		applyDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "unyo_cluster_apply_duration_seconds",
			Help:    "Time from proposing a command on this node to it being applied, by command type.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"type"}),
		members: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "unyo_cluster_members",
			Help: "Members in the replicated membership.",
		}),
		reassignments: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unyo_cluster_reassignments_total",
			Help: "Targets moved to another member by this node's reconcile loop while it was leader.",
		}),
		targets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "unyo_cluster_assigned_targets",
			Help: "Targets currently assigned to this node.",
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.isLeader, m.applies, m.applyDuration, m.members, m.reassignments, m.targets}
}

func (m *metrics) register(r prometheus.Registerer) (unregister func(), err error) {
	if r == nil {
		return func() {}, nil
	}
	var done []prometheus.Collector
	unregister = func() {
		for _, c := range done {
			r.Unregister(c)
		}
	}
	for _, c := range m.collectors() {
		if err := r.Register(c); err != nil {
			unregister()
			return nil, errors.Join(errors.New("cluster: register metrics"), err)
		}
		done = append(done, c)
	}
	return unregister, nil
}
