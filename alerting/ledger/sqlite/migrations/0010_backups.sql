-- 0010: the backup catalog (ledger.BackupStore, package backup): one row
-- per generation of a source; manifest is the backup.Manifest JSON (every
-- file with its SHA-256). Times are Unix microseconds, 0 for none.
CREATE TABLE IF NOT EXISTS backups (
	id           TEXT PRIMARY KEY,
	source       TEXT NOT NULL,
	kind         TEXT NOT NULL DEFAULT '',
	destination  TEXT NOT NULL,
	generation   INTEGER NOT NULL,
	size         INTEGER NOT NULL DEFAULT 0,
	started      INTEGER NOT NULL,
	ended        INTEGER NOT NULL DEFAULT 0,
	result       TEXT NOT NULL,
	error        TEXT NOT NULL DEFAULT '',
	by           TEXT NOT NULL DEFAULT '',
	manifest     TEXT NOT NULL DEFAULT '',
	verified_at  INTEGER NOT NULL DEFAULT 0,
	checked_at   INTEGER NOT NULL DEFAULT 0,
	verify_error TEXT NOT NULL DEFAULT '',
	UNIQUE (source, generation)
);
CREATE INDEX IF NOT EXISTS backups_started ON backups (started);
-- The highest generation each source has had, so a pruned generation's
-- number is never given again.
CREATE TABLE IF NOT EXISTS backup_generations (
	source     TEXT PRIMARY KEY,
	generation INTEGER NOT NULL
);
