// Package backup backs up directories and files (tar + zstd, streamed),
// PostgreSQL databases (pg_dump -Fc), the embedded SQLite ledger (VACUUM
// INTO) and unyo itself (its data directory, with the ledger taken
// consistently), to destinations behind one small interface (a local or
// mounted directory: Dir; a bucket of an S3-compatible store: S3), and records each generation in the ledger's
// catalog (ledger.BackupStore) with a manifest: every object written and
// every file archived, with its SHA-256.
//
// Verified means restored: Verify restores a generation into a scratch
// place (a temporary directory; a scratch PostgreSQL database through
// pg_restore; a scratch SQLite file that must pass PRAGMA
// integrity_check) and compares what came back with the manifest. Prune
// applies a source's policy in restic's style (keep the last N, and the
// newest of each of the last N days, weeks, months) and deletes a
// generation only when a newer one of its source is verified, so the only
// verified copy is never deleted (the catalog refuses it too). Stale
// reports the sources whose newest verified generation is older than
// their max_age.
//
// A Manager runs all of it for the node: the built-in job kinds backup
// (run, verify, prune) and backup-verify, the API and the CLI.
//
// Metrics (Manager.Register):
//
//	unyo_backup_runs_total{source,result}           backups run
//	unyo_backup_verifies_total{source,result}       verifications run
//	unyo_backup_bytes_total{source}                 bytes written to destinations
//	unyo_backup_last_verified_timestamp_seconds{source}  newest verified generation's end
package backup
