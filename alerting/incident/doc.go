// Package incident holds the fault ledger's vocabulary: the Event that enters
// the platform, the Incident it opens or updates, the Timeline entries that
// record every transition, and the rules for which transitions are allowed.
//
// It has no I/O. The ledger stores (package ledger and its sub-packages) and
// the pipeline build on these types.
package incident
