// Package postgres is the fault ledger on PostgreSQL: a ledger.Store through
// github.com/jackc/pgx/v5/pgxpool, for clustered nodes that share one ledger.
//
// The queries and rules it shares with the SQLite store (reads,
// Transition, escalation, run history, samples' reads, users, tokens and
// audit) are written once in package internal/sqlstore, which the Store
// embeds; this package gives it a pgx adapter (? placeholders rebound to
// $n), PostgreSQL's dialect (timestamptz, NULL for an unset time, = ANY
// arrays, FOR NO KEY UPDATE) and its set-based writes (bulk.go).
//
// What it does:
//   - Open connects, then applies the numbered, embedded schema migrations
//     (migrations/NNNN_name.sql, recorded in schema_migrations) on a
//     dedicated connection holding pg_advisory_lock(MigrationLockKey), so
//     nodes starting together migrate once, one after the other. Each
//     migration runs in its own transaction and is idempotent.
//   - ApplyEvents does set-based work per batch, in one READ COMMITTED
//     transaction and a handful of round trips: it inserts every event ID
//     with one INSERT ... SELECT FROM unnest(...) ON CONFLICT DO NOTHING
//     RETURNING id (the IDs not returned were applied before); locks the
//     active incidents of the batch's dedup keys with one SELECT ... FOR NO
//     KEY UPDATE; computes the outcome in Go, in order, with the rules shared
//     with the SQLite store (package plan); inserts new incidents with one
//     statement; then sends the incident updates, timeline entries and event
//     links as one pipelined pgx.Batch.
//   - Transition locks the incident row (FOR NO KEY UPDATE), so concurrent
//     operator actions on one incident apply one after the other.
//
// Schema:
//   - incidents: id (identity), dedup_key, source, target, check_name,
//     severity, state, message, runbook, labels jsonb, count, first_seen,
//     last_seen, opened_at, recovered, recovered_at, acked_at/by,
//     resolved_at/by, closed_at/by, owner, last_seq (seq of the newest
//     timeline entry). Indexes on state and target, and the partial UNIQUE
//     index incidents_active_dedup_key on dedup_key WHERE state IN ('open',
//     'acknowledged'): at most one active incident per dedup key.
//   - timeline: primary key (incident_id, seq), pos (identity: the order
//     entries were appended, which Pending follows), at, kind, by_name,
//     comment, severity, state, published, and a partial index on pos for
//     unpublished entries (the outbox).
//   - events: id text primary key, incident_id (nullable), the event's fields,
//     labels jsonb, applied_at.
//
// Times are timestamptz (microseconds), written and returned in UTC.
//
// Locking and concurrency: ApplyEvents is safe under concurrent callers on any
// number of nodes. The event-ID insert serialises redeliveries of one ID (a
// second writer waits for the first to commit, then sees a duplicate); the row
// locks serialise batches touching one active incident; two batches racing to
// open the same dedup key collide on the partial unique index and the loser
// retries the whole batch, as it does on deadlock (40P01) and serialization
// (40001) failures. Event IDs are inserted and incidents locked in a fixed
// order to keep deadlocks rare.
//
// Users, tokens and the audit log (auth.Store, migration 0006): users (name
// primary key), tokens (id primary key, a UNIQUE index on hash, the hex
// SHA-256 of the secret; NULL expires/last_used/revoked when not set) and
// audit (seq bigint primary key, an index on at and one on (actor, seq)).
// AppendAudit takes pg_advisory_xact_lock(AuditLockKey) in its transaction
// before it reads the last (seq, hash), so every node sharing the database
// appends to one chain with no gap; the primary key on seq makes a fork
// impossible even without the lock.
//
// The other stores (reports, backups, drills and passwords, agents) are
// package sqlstore's. Their rules that read and then write lock what they
// read (FOR NO KEY UPDATE): CommitPassword the pending password,
// UseEnrollToken the token, DeleteBackup the source's verified backups;
// PutAgent takes pg_advisory_xact_lock(1, hashtext(host id)) before it
// looks for another agent of the host.
package postgres
