package spool

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	appended      prometheus.Counter
	rejected      *prometheus.CounterVec
	forwarded     prometheus.Counter
	forwardErrors prometheus.Counter
	dropped       prometheus.Counter
	fsync         prometheus.Histogram
	torn          prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, s *Spool) *metrics {
	m := &metrics{
		appended: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unyo_spool_appended_total", Help: "Messages accepted into the spool."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "unyo_spool_rejected_total", Help: "Messages refused by the spool, by reason (full, too_large, timeout)."},
			[]string{"reason"}),
		forwarded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unyo_spool_forwarded_total", Help: "Spooled messages the bus stored."}),
		forwardErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unyo_spool_forward_errors_total", Help: "Publish batches that failed or timed out (retried)."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unyo_spool_dropped_total", Help: "Spooled messages the bus can never take (too large for it), dropped."}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "unyo_spool_fsync_duration_seconds", Help: "Time of one spool fsync (one group commit).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12)}),
		torn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unyo_spool_torn_records_total", Help: "Torn or corrupt records truncated when the spool opened."}),
	}
	for _, r := range []string{"full", "too_large", "timeout"} {
		m.rejected.WithLabelValues(r)
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.appended, m.rejected, m.forwarded, m.forwardErrors, m.dropped, m.fsync, m.torn,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "unyo_spool_entries", Help: "Messages in the spool not yet stored by the bus."},
			func() float64 { return float64(s.Status().Entries) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "unyo_spool_bytes", Help: "Bytes of spool segment files on disk."},
			func() float64 { return float64(s.Status().Bytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "unyo_spool_max_bytes", Help: "The spool's bound in bytes; appends beyond it are refused."},
			func() float64 { return float64(s.opts.MaxBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "unyo_spool_oldest_entry_age_seconds", Help: "Age of the oldest message waiting for the bus (0 when none)."},
			func() float64 {
				st := s.Status()
				if st.Oldest.IsZero() {
					return 0
				}
				return time.Since(st.Oldest).Seconds()
			}),
	)
	return m
}
