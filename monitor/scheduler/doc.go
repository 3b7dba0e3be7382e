// Package scheduler runs the checks of a set of targets on their intervals
// and turns their outcomes into samples and events:
//
//	check (ping / snmp / service / process) ──► target.State ──► problem / ok events ──► monitor.Sink
//	        │                                                       ▲
//	        └──► samples ──► SampleSink (ledger, later rollups)      │
//	                    └──► threshold.Engine ───────────────────────┘
//
// Each SNMP and service check has one goroutine. Ping checks, the many
// ones, share two: the ping loop, a heap of checks ordered by their next
// slot, woken at most every 50 ms, starting the checks due through the
// Pinger's StartBatch and turning finished ones into states, samples and
// events in batches; and its results goroutine, which stores the samples
// (one SampleSink.Add per turn) and publishes the events (one
// PublishBatch per turn when the sink is a monitor.BatchSink, as the
// node's spool is). A slow sink (the spool's fsync, a dual-vantage
// recheck, a ledger catching up) thus delays results, never probes: the
// loop waits only when 65,536 events are queued (events are never
// dropped) and drops, counting them, the samples beyond 524,288. Runs are
// spread evenly over
// the interval: a check runs at the slots  k × interval + offset  where the
// offset is a hash of "<target>/<check>" modulo the interval, so 10,000
// targets at 10 s start about 1,000 checks a second rather than 10,000 at
// once, the schedule is the same on every node, and runs of one check never
// overlap (a slot missed because the previous run overran is skipped).
//
// SetTargets can be called at any time (the cluster reassigns targets to
// nodes): checks whose settings did not change keep running with their
// state; new ones start; removed ones stop and forget their state.
//
// A target whose parent is down (the parent's ping check, when the parent
// is scheduled on this node) gets its ping problem events with severity
// info and the label parent_down=<parent>: one switch failing raises one
// critical incident, not one per host behind it.
//
// # Samples (name, labels, value, time; every sample has the target)
//
//	ping_up, ping_loss_percent, ping_rtt_min_seconds, ping_rtt_avg_seconds,
//	ping_rtt_max_seconds, ping_jitter_seconds
//	snmp_up, snmp_poll_duration_seconds, and the snmp package's metric sets
//	service_up{check}, service_response_time_seconds{check},
//	service_http_status_code{check}
//
// # Metrics
//
//	unyo_monitor_checks_total{kind, result="ok|failed"}   counter
//	unyo_monitor_check_duration_seconds{kind}             histogram
//	unyo_monitor_events_total{source, status}             counter  events published
//	unyo_monitor_event_publish_errors_total               counter
//	unyo_monitor_scheduled_checks                         gauge    checks with a running schedule
//	unyo_monitor_sample_errors_total                      counter  SampleSink failures
//	unyo_monitor_ping_lost_completions_total              counter  ping checks whose completion never came (restarted)
//	unyo_monitor_ping_schedule_lag_seconds                histogram how late a round of ping checks started after its slot
//	unyo_monitor_ping_missed_slots_total                  counter  ping slots passed without a check (loop an interval late, or the check overran)
//	unyo_monitor_ping_samples_dropped_total               counter  ping samples dropped because the sample sink fell behind
package scheduler
