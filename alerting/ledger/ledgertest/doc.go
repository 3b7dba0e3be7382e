// Package ledgertest is the conformance suite for ledger.Store
// implementations.
//
// Run checks every rule written on the ledger.Store interface against a real
// store: incidents opened on the first problem, occurrences counted, severity
// escalated (never lowered), recovery and recurrence, noop ok events,
// duplicate event IDs across and within batches, new incidents after
// resolution, operator transitions and their errors, filtering and paging,
// labels, the timeline outbox, time precision, concurrent transitions and
// concurrent batches on one dedup key. Bench measures ApplyEvents throughput
// with deduplication.
//
// A store package uses it from its tests:
//
//	func TestConformance(t *testing.T) {
//		ledgertest.Run(t, func(t *testing.T) ledger.Store { return openTestStore(t) })
//	}
package ledgertest
