// Package drill runs failover drills and measures them: a canary writes a
// sequence number every 100 ms through the path under test while a fault
// is injected (Raft leadership moved, a hot-standby pair switched over),
// and the drill reports
//
//	RTO = served again − injected
//	RPO = last acknowledged − highest surviving (writes, and their time)
//
// measured, not estimated. Stop conditions are named checks: one going bad
// aborts the drill and rolls it back (switches back). A drill that does
// not serve again within its limit, or misses its RTO or RPO target,
// fails, and is rolled back too.
//
// The package knows nothing of Raft or of the ledger: the caller (node/,
// the built-in job kind drill) gives it Inject, Served, Rollback, the
// checks and the Canary, and stores the returned ledger.DrillRecord.
//
// Checks and canaries for external pairs (Check, TCPCanary,
// CommandCanary) are in checks.go. TCPCanary speaks a line protocol:
// "SET <seq>\n" answered "OK\n" (acknowledged), and "GET\n" answered
// "<highest seq>\n".
package drill
