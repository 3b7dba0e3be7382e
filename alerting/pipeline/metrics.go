package pipeline

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	applied      *prometheus.CounterVec
	decodeErrors prometheus.Counter
	applyErrors  prometheus.Counter
	batch        prometheus.Histogram
	ledgerUp     prometheus.Gauge
	published    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "unyo_pipeline_events_applied_total",
			Help: "Events applied to the ledger, by outcome.",
		}, []string{"change"}),
		decodeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unyo_pipeline_decode_errors_total",
			Help: "Bus messages that did not decode as valid events and were terminated.",
		}),
		applyErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unyo_pipeline_apply_errors_total",
			Help: "Ledger transactions that failed and were retried.",
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "unyo_pipeline_batch_duration_seconds",
			Help:    "Time to apply one batch of events to the ledger.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		ledgerUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "unyo_pipeline_ledger_up",
			Help: "1 when the last ledger call succeeded, 0 otherwise.",
		}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unyo_pipeline_transitions_published_total",
			Help: "Incident transitions published from the ledger outbox.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.applied, m.decodeErrors, m.applyErrors, m.batch, m.ledgerUp, m.published)
	}
	return m
}
