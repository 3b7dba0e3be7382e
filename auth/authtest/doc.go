// Package authtest is the conformance suite for auth.Store
// implementations.
//
// Run checks every rule written on the auth.Store interface against a real
// store: unique user names and token ids (ErrExists, nothing changed),
// ErrNotFound for unknown users and tokens, what UpdateUser replaces and
// keeps, RevokeToken keeping the first time, TouchToken never moving
// LastUsed back, times read back to the microsecond, and the audit log:
// Seq 1, 2, … with Prev and Hash chained by auth.ChainHash, At truncated to
// the microsecond in UTC, concurrent appends with no gap and one valid
// chain, and ListAudit's order, filters and limits.
//
// A store package uses it from its tests:
//
//	func TestAuthConformance(t *testing.T) {
//		authtest.Run(t, func(t *testing.T) auth.Store { return openTestStore(t) })
//	}
//
// AppendConcurrently and CheckChain serve tests that need two stores on one
// database (two nodes, or two processes sharing a file).
package authtest
