// Package sqlstore is the ledger store written once for both databases:
// the queries and rules of the SQLite store (alerting/ledger/sqlite) and the
// PostgreSQL store (alerting/ledger/postgres) that do not depend on the
// database, so that a fix lands in one place.
//
// Each store embeds a *Core, whose exported methods implement the shared
// parts of ledger.Store, ledger.EscalationStore, ledger.SampleStore,
// ledger.RunHistoryStore and auth.Store, and the whole of
// ledger.ReportStore, ledger.BackupStore, ledger.DrillStore,
// ledger.PasswordStore and agents.Store, and gives it three things:
//
//   - a DB (a small query runner, Exec/Query/QueryRow with ? placeholders)
//     for reads, and a function that runs a write transaction on another
//     DB. The SQLite store adapts database/sql, the PostgreSQL store adapts
//     pgx (rewriting ? to $n once per query text, cached).
//   - a Dialect: the error prefix, how a "no rows" and a foreign-key error
//     look, how times are written and scanned (INTEGER microseconds since
//     the Unix epoch, 0 for an unset time, in SQLite; timestamptz, NULL for
//     an unset time, in PostgreSQL), JSON documents, IN lists (one ? per
//     value, or = ANY(?) with an array) and row locks (FOR NO KEY UPDATE or
//     nothing, SQLite having a single writer).
//   - a Bulk: the few statements whose fast form differs between the
//     databases (timeline appends, notification inserts, the incident update
//     of Transition, sample writes). PostgreSQL sends them set-based
//     (unnest, COPY, pipelined batches); SQLite runs prepared statements on
//     its single write connection. It also holds the locks only a
//     database with many writers needs (LockAudit, LockName: advisory
//     locks on PostgreSQL, nothing on SQLite, whose write connection and
//     BEGIN IMMEDIATE already serialise writers).
//
// A rule that reads rows and then writes on what it read (the pending
// password a commit moves, an enrolment token's uses, the verified
// backups a prune keeps) reads them with Dialect.ForUpdate, so that it
// holds on PostgreSQL as it does on SQLite; a rule about rows that may not
// exist yet (one agent per host id) takes Bulk.LockName first. The
// conformance suites (alerting/ledger/ledgertest, agents/agentstest) check
// these rules with concurrent callers.
//
// What stays in each store: opening and migrating (per-dialect migration
// files), ApplyEvents' write path (set-based with retries on PostgreSQL,
// prepared statements on SQLite, both deciding with package plan), and
// the statements of Bulk. New store code should be written here, against
// DB and Dialect, with conformance tests in alerting/ledger/ledgertest.
package sqlstore
