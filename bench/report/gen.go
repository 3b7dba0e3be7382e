package main

import (
	"fmt"
	"iter"
	"math"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
)

// gen makes the rows a month of 1-minute samples of servers × metrics
// leaves in the ledger's sample tables, in the same order for both
// stores: series ids are 1.. in server, metric order.
type gen struct {
	month                          time.Time
	servers, metrics, minuteSeries int
}

func name(i int) string { return fmt.Sprintf("srv%04d", i) }

// metricDef is a synthetic metric: a name, labels and a level.
type metricDef struct {
	name   string
	labels string
	base   float64
}

func metricSet(n int) []metricDef {
	ms := []metricDef{
		{"snmp_cpu_load_avg_percent", "{}", 30},
		{"snmp_memory_used_percent", "{}", 55},
		{"snmp_storage_used_percent", `{"descr":"/","type":"fixed_disk"}`, 60},
		{"snmp_if_in_bits_per_second", `{"if":"eth0"}`, 2e8},
		{"snmp_if_out_bits_per_second", `{"if":"eth0"}`, 1e8},
		{"ping_rtt_avg_seconds", "{}", 0.0008},
		{"ping_loss_percent", "{}", 0.5},
		{"service_response_time_seconds", `{"check":"http"}`, 0.05},
	}
	for i := len(ms); i < n; i++ {
		ms = append(ms, metricDef{fmt.Sprintf("snmp_extra_%02d", i), "{}", 100})
	}
	return ms[:n]
}

// each calls f for every series: its id, server number, metric index,
// metric and level.
func (g gen) each(f func(id int64, i, mi int, m metricDef, level float64) bool) {
	ms := metricSet(g.metrics)
	for i := 1; i <= g.servers; i++ {
		for mi, m := range ms {
			id := int64((i-1)*len(ms) + mi + 1)
			level := m.base * (0.5 + float64((i*7+mi*13)%100)/100) // 0.5–1.5 × base
			if !f(id, i, mi, m, level) {
				return
			}
		}
	}
}

// series are the rows of sample_series: id, target, name, labels.
func (g gen) series() iter.Seq[[]any] {
	return func(yield func([]any) bool) {
		g.each(func(id int64, i, _ int, m metricDef, _ float64) bool {
			return yield([]any{id, name(i), m.name, m.labels})
		})
	}
}

// rollups are the rows of sample_rollups: series_id, res, bucket, min,
// max, sum, count. Every series has its 31 days; the CPU its hours too
// (for the samples API); -minute-series series of the 8 the report reads
// the picked day (the 15th) by the minute.
func (g gen) rollups() iter.Seq[[]any] {
	return func(yield func([]any) bool) {
		minutes := 0
		g.each(func(id int64, i, mi int, m metricDef, level float64) bool {
			for d := range 31 {
				day := g.month.AddDate(0, 0, d)
				avg := level * (1 + 0.1*math.Sin(float64(d+i)))
				if m.name == "snmp_storage_used_percent" {
					avg = math.Min(99, level+float64(d)*float64(i%5)*0.2)
				}
				if !yield([]any{id, int64(86400), day.UnixMicro(), avg * 0.5, avg * 1.8, avg * 1440, int64(1440)}) {
					return false
				}
				if mi == 0 {
					for h := range 24 {
						v := avg * (1 + 0.2*math.Sin(float64(h)))
						if !yield([]any{id, int64(3600), day.Add(time.Duration(h) * time.Hour).UnixMicro(), v * 0.7, v * 1.3, v * 60, int64(60)}) {
							return false
						}
					}
				}
			}
			if mi < 8 && minutes < g.minuteSeries && i%max(1, g.servers*8/g.minuteSeries) == 0 {
				minutes++
				day := g.month.AddDate(0, 0, 14)
				for k := range 1440 {
					v := level * (1 + 0.3*math.Sin(float64(k)/60))
					if !yield([]any{id, int64(60), day.Add(time.Duration(k) * time.Minute).UnixMicro(), v, v, v, int64(1)}) {
						return false
					}
				}
			}
			return true
		})
	}
}

// sketches are the rows of sample_sketches (series_id, month, bucket,
// count) of the 8 metrics the report reads, for the month and the one
// before: ~40 buckets around the level, bell-shaped, 44,640 samples.
func (g gen) sketches() iter.Seq[[]any] {
	return func(yield func([]any) bool) {
		prev := g.month.AddDate(0, -1, 0)
		g.each(func(id int64, _, mi int, _ metricDef, level float64) bool {
			if mi >= 8 {
				return true
			}
			for _, mo := range []time.Time{prev, g.month} {
				center := ledger.SketchBucket(level)
				total := int64(0)
				for b := int32(-20); b < 20; b++ {
					c := int64(1116 * math.Exp(-float64(b*b)/120))
					if b == 19 {
						c = 44640 - total
					}
					total += c
					if !yield([]any{id, mo.UnixMicro(), center + b, c}) {
						return false
					}
				}
			}
			return true
		})
	}
}

// table is one sample table and the generator of its rows.
type table struct {
	name string
	cols []string
	rows iter.Seq[[]any]
}

func (g gen) tables() []table {
	return []table{
		{"sample_series", []string{"id", "target", "name", "labels"}, g.series()},
		{"sample_rollups", []string{"series_id", "res", "bucket", "min", "max", "sum", "count"}, g.rollups()},
		{"sample_sketches", []string{"series_id", "month", "bucket", "count"}, g.sketches()},
	}
}
