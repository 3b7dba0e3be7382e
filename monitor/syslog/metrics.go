package syslog

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	received, bytes, parseErrors, nonconforming, truncated, dropped [2]prometheus.Counter

	publishedIncident, publishedRecord prometheus.Counter
	publishErrors, spoolFull, batches  prometheus.Counter
	tcpConns                           prometheus.Gauge
	tcpRejected                        prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, r *Receiver) *metrics {
	perProto := func(name, help string) (*prometheus.CounterVec, [2]prometheus.Counter) {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"proto"})
		return v, [2]prometheus.Counter{v.WithLabelValues("udp"), v.WithLabelValues("tcp")}
	}
	m := &metrics{}
	var cs []prometheus.Collector
	for _, d := range []struct {
		dst        *[2]prometheus.Counter
		name, help string
	}{
		{&m.received, "unyo_syslog_messages_received_total", "Syslog frames read from the sockets."},
		{&m.bytes, "unyo_syslog_bytes_received_total", "Bytes of syslog frames read from the sockets."},
		{&m.parseErrors, "unyo_syslog_parse_errors_total", "Frames that were not syslog messages, or broke TCP framing."},
		{&m.nonconforming, "unyo_syslog_nonconforming_total", "Frames parsed best effort: not strictly RFC 5424 or RFC 3164."},
		{&m.truncated, "unyo_syslog_truncated_total", "Frames cut to max_message_size."},
		{&m.dropped, "unyo_syslog_dropped_total", "Frames dropped because the queue was full."},
	} {
		v, c := perProto(d.name, d.help)
		*d.dst = c
		cs = append(cs, v)
	}
	published := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "unyo_syslog_events_published_total", Help: "Events handed to the sink, by filter action.",
	}, []string{"action"})
	m.publishedIncident = published.WithLabelValues("incident")
	m.publishedRecord = published.WithLabelValues("record")
	m.publishErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "unyo_syslog_publish_errors_total", Help: "Events the sink refused or timed out on.",
	})
	m.spoolFull = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "unyo_syslog_spool_full_dropped_total", Help: "Events dropped because the spool was full (its bound reached while the bus did not take them).",
	})
	m.batches = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "unyo_syslog_publish_batches_total", Help: "Batches of events handed to the sink (one spool append each).",
	})
	m.tcpConns = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "unyo_syslog_tcp_connections", Help: "Open TCP connections.",
	})
	m.tcpRejected = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "unyo_syslog_tcp_connections_rejected_total", Help: "TCP connections refused at max_tcp_connections.",
	})
	queueLen := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "unyo_syslog_queue_length", Help: "Frames waiting for a worker.",
	}, func() float64 { return float64(r.queued.Load()) })
	queueCap := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "unyo_syslog_queue_capacity", Help: "Capacity of the frame queue (queue_size).",
	}, func() float64 { return float64(r.cfg.QueueSize) })
	queueBytes := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "unyo_syslog_queue_bytes", Help: "Memory the waiting frames hold, bounded by queue_bytes.",
	}, func() float64 { return float64(r.queuedBytes.Load()) })
	cs = append(cs, published, m.publishErrors, m.spoolFull, m.batches, m.tcpConns, m.tcpRejected, queueLen, queueCap, queueBytes)
	if reg != nil {
		reg.MustRegister(cs...)
	}
	return m
}
