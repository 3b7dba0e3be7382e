// Package sqlite is the embedded fault ledger: a ledger.Store in one SQLite
// file, through the pure-Go driver modernc.org/sqlite (no cgo).
//
// The queries and rules it shares with the PostgreSQL store (reads,
// Transition, escalation, run history, samples' reads, users, tokens and
// audit) are written once in package internal/sqlstore, which the Store
// embeds; this package gives it a database/sql adapter, SQLite's dialect
// (INTEGER microseconds, 0 for an unset time) and its prepared-statement
// writes (bulk.go).
//
// What it does:
//   - Open creates or opens the file and applies the numbered, embedded
//     schema migrations (migrations/NNNN_name.sql, recorded in the
//     schema_migrations table) inside one write transaction. Migrations are
//     idempotent (IF NOT EXISTS), so a half-recorded one runs again safely.
//   - Durability: WAL journal with synchronous=FULL, so an event that
//     ApplyEvents acknowledged survives kill -9 and power loss; foreign keys
//     on; busy_timeout for other processes that open the file (backups).
//   - Writers are serialised through a single connection (BEGIN IMMEDIATE),
//     so the store never reports SQLITE_BUSY to itself; reads use a separate
//     pool of query_only connections that WAL lets run beside the writer.
//   - ApplyEvents loads the batch's already-applied IDs and the active
//     incidents of its dedup keys, computes the outcome with the shared rules
//     of package plan, and writes it in the same transaction.
//
// Schema: incidents (one active incident per dedup key, by a partial unique
// index), timeline (append-only, primary key incident_id+seq, pos giving the
// ledger-wide append order that Pending follows) and events (one row per
// applied event ID). Times are INTEGER microseconds since the Unix epoch, UTC.
//
// Users, tokens and the audit log (auth.Store, migration 0006): users (name
// primary key), tokens (id primary key, a UNIQUE index on hash, the hex
// SHA-256 of the secret; 0 for an unset expires/last_used/revoked) and
// audit (seq primary key, an index on at and one on (actor, seq)).
// AppendAudit reads the last (seq, hash) and inserts the next entry in one
// BEGIN IMMEDIATE transaction, so appends, also from another process
// opening the file, make one chain with no gap.
//
// One process owns the file: run a single store per database file.
package sqlite
