// Package filter holds the message filter rules that decide which log lines
// matter: an ordered list, first match wins (as in Hinemos and JP1). A rule
// matches on host (glob or exact), facility, syslog level (at or above a
// level, or a set), application, literal substrings and a Go regular
// expression, and has one action:
//
//   - incident: a problem (or ok) event with the rule's severity, dedup key
//     template, message template and runbook id;
//   - record: an info-severity event labelled record=true, kept in the ledger
//     for the record but never paging (escalation policies skip info);
//   - ignore: nothing is emitted and no later rule is tried.
//
// A line no rule matches takes the configured default action (ignore unless
// set to record).
//
// # Cost
//
// Each rule is checked cheapest first: level and facility (integer
// compares), application, host, then its required literals, then its
// regular expression. Every rule carries the literals a line must contain
// for it to match: its explicit `contains` strings, and a literal (or a small
// set of alternatives) derived from the regular expression with
// regexp/syntax — e.g. `disk (sd[a-z]+) failed` requires " failed" and
// "disk ". A line lacking them skips the regexp altogether, so 50 rules cost
// a few substring scans per line (see BenchmarkEngine50Rules).
//
// # Templates
//
// dedup_key and message are text/template templates over Data: .Host, .App,
// .PID, .MsgID, .Text, .Raw, .Time, .Facility, .Level (names), .FacilityCode,
// .LevelCode, .Rule, .Group (named regexp groups, e.g. {{.Group.dev}}) and
// .Match (numbered groups, {{index .Match 1}}). A missing group renders empty.
//
// # Metrics
//
// Registered by NewMetrics on the Registerer it is given:
//
//	unyo_filter_matches_total{rule,action}   lines matched by each rule
//	unyo_filter_unmatched_total              lines no rule matched
//	unyo_filter_regex_evaluations_total      regexps actually run
//	unyo_filter_regex_skipped_total          regexps skipped by the literal prefilter
//	unyo_filter_template_errors_total{rule}  template executions that failed (message falls back to the line)
package filter
