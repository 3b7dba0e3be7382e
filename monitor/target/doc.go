// Package target is the model of what the monitor watches: targets (name,
// address, tags, site, parent device, per-target check settings) and the
// State of each (target, check) pair.
//
// A State turns check results into state changes: down after DownAfter
// consecutive failed checks, up again on the first good one. Only changes
// produce events (problem / ok, dedup key "<target>/<check>"), so a host
// that stays down raises one incident, not one per check. Each State keeps
// its recent results in a ring, and its recent failures in a second,
// longer-lived ring, so the console can answer "why did the last check
// fail" even after many good checks since.
//
// Check names: "ping", "snmp", "<service name>" (e.g. "http", "tcp:25"),
// "process:<name>".
//
// # Metrics
//
// This package exports no Prometheus metrics; the scheduler exports
// unyo_monitor_targets and unyo_monitor_checks_down from its States.
package target
