// Package threshold turns metric samples into problem / ok events: warning
// and critical levels on any metric, selected per target or by tag, fired
// after K consecutive samples beyond a level and cleared with hysteresis.
//
// A rule keeps one state per (target, metric labels) series, so a rule on
// snmp_storage_used_percent watches every file system of every selected
// target separately. The level a sample points to is:
//
//	value beyond critical                  → critical
//	value beyond warning                   → warning
//	in a problem and not yet past clear    → warning (hysteresis band)
//	otherwise                              → ok
//
// The state moves to that level after For consecutive samples pointing to
// it (ClearFor for ok). Each move emits one event: problem with severity
// warning or critical, or ok. The dedup key is
// "<target>/threshold:<rule>{labels}", so a warning that turns critical
// updates the same incident.
//
// Events have source "threshold" and check "threshold:<rule>".
//
// Metrics: the package itself exports none; the scheduler counts the events
// it publishes (unyo_monitor_events_total{source="threshold"}).
package threshold
