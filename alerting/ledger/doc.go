// Package ledger defines the fault ledger store (障害管理台帳): the one
// interface that both the embedded SQL store (package ledger/sqlite) and the
// PostgreSQL store (package ledger/postgres) implement, and that the
// conformance suite (package ledger/ledgertest) checks.
package ledger
