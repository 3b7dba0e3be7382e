// Package availability measures unplanned downtime against the budget:
// DESIGN allows 2 hours of unplanned downtime a month, and planned
// maintenance (maintenance windows) does not count against it.
//
// Compute is a pure function of a period, the incidents that overlap it
// and the maintenance windows; Load reads those from a ledger.Store
// (incidents with their timelines, windows from the EscalationStore).
//
// What counts as down. An incident is an outage when its check matches
// one of Options.Checks or its source one of Options.Sources (path.Match
// patterns). Without either, DefaultChecks (ping: the host is down, the
// escalator's default down check) and DefaultSources (tcp, http,
// postgres: a service check of the monitor is down, whatever the operator
// named it) apply. Severity alone does not make an outage: a critical disk
// threshold is a fault, not downtime.
//
// When. An incident is down from its "opened" timeline entry until a
// "recovered" one, down again from a "recurred" one, and up for good at
// "resolved" or "closed"; still down at the end of the period (or at
// Options.Now, for a period that has not ended) it counts until then.
// Without a timeline (Incident.Timeline empty) the approximation is one
// interval from OpenedAt to the first of RecoveredAt, ResolvedAt and
// ClosedAt: it counts a recovery followed by a recurrence as down
// throughout. Load always reads the timelines.
//
// Per target, over [From, Until) (Until is To, or Now when that is
// earlier): Down is the union of its outages, so two incidents down
// together (ping and http) count once. Maintenance is the union of the
// occurrences (escalation.Occurrences) of the windows that cover the
// target (escalation.MatchesWindow on the target's name and the labels of
// the monitor's target or of any of its outage incidents: site, tags).
// Planned is the part of Down inside the windows that excuse it, Unplanned
// the rest. One rule (Excuse), shared with the monthly report and the
// console: a window excuses an outage interval only when it was created no
// later than the interval began; a window added after the fact is listed
// in Target.LateWindows (flagged) and not applied.
// Availability is 100 × (1 − Unplanned / (Until − From − Maintenance)), 100
// when that time is zero. The budget (Options.Budget, default 2h, per
// calendar month in Options.Location) is prorated for the period: each
// calendar month it overlaps adds Budget × overlap / length of that month,
// so exactly one month has exactly Budget. A target is over budget when its
// Unplanned exceeds the period's budget.
//
// Site-wide (Summary): the budget is per target, and the site is within
// budget when every target is — Summary.Worst is the target with the most
// unplanned downtime (then the lowest availability, then by name) and
// Summary.OverBudget counts those over. Summary.Down, Planned and
// Unplanned are sums over targets (target-time: two targets down for an
// hour are 2h); Summary.AnyUnplanned is wall-clock time during which at
// least one target was down unplanned.
//
// Load finds the incidents that overlap the period: every active one
// (open, acknowledged), and, newest first, every other one back to the
// first page of incidents opened wholly before From − Lookback; an
// incident resolved after the period began but opened more than Lookback
// before it is not seen.
package availability
