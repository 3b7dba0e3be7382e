-- 0010: the backup catalog (ledger.BackupStore, package backup): one row
-- per generation of a source; manifest is the backup.Manifest JSON (every
-- file with its SHA-256).
CREATE TABLE IF NOT EXISTS backups (
	id           TEXT PRIMARY KEY,
	source       TEXT NOT NULL,
	kind         TEXT NOT NULL DEFAULT '',
	destination  TEXT NOT NULL,
	generation   BIGINT NOT NULL,
	size         BIGINT NOT NULL DEFAULT 0,
	started      TIMESTAMPTZ NOT NULL,
	ended        TIMESTAMPTZ,
	result       TEXT NOT NULL,
	error        TEXT NOT NULL DEFAULT '',
	by_whom      TEXT NOT NULL DEFAULT '',
	manifest     TEXT NOT NULL DEFAULT '',
	verified_at  TIMESTAMPTZ,
	checked_at   TIMESTAMPTZ,
	verify_error TEXT NOT NULL DEFAULT '',
	UNIQUE (source, generation)
);
CREATE INDEX IF NOT EXISTS backups_started ON backups (started);
-- The highest generation each source has had, so a pruned generation's
-- number is never given again.
CREATE TABLE IF NOT EXISTS backup_generations (
	source     TEXT PRIMARY KEY,
	generation BIGINT NOT NULL
);
