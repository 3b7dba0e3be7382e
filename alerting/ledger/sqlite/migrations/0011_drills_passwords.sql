-- 0011: failover drill results (ledger.DrillStore) and rotated passwords,
-- sealed under the cluster key (ledger.PasswordStore). Times are Unix
-- microseconds, durations microseconds.
CREATE TABLE IF NOT EXISTS drills (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	kind       TEXT NOT NULL,
	run        TEXT NOT NULL DEFAULT '',
	by         TEXT NOT NULL DEFAULT '',
	started    INTEGER NOT NULL,
	injected   INTEGER NOT NULL DEFAULT 0,
	served     INTEGER NOT NULL DEFAULT 0,
	ended      INTEGER NOT NULL DEFAULT 0,
	rto        INTEGER NOT NULL DEFAULT 0,
	rpo        INTEGER NOT NULL DEFAULT 0,
	rpo_time   INTEGER NOT NULL DEFAULT 0,
	target_rto INTEGER NOT NULL DEFAULT 0,
	target_rpo INTEGER NOT NULL DEFAULT 0,
	result     TEXT NOT NULL,
	reason     TEXT NOT NULL DEFAULT '',
	steps      TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS drills_started ON drills (started);
CREATE INDEX IF NOT EXISTS drills_name_started ON drills (name, started);
CREATE TABLE IF NOT EXISTS account_passwords (
	account TEXT NOT NULL,
	slot    TEXT NOT NULL, -- pending, current, previous
	sealed  TEXT NOT NULL,
	by      TEXT NOT NULL DEFAULT '',
	at      INTEGER NOT NULL,
	PRIMARY KEY (account, slot)
);
CREATE TABLE IF NOT EXISTS account_password_aborts (
	account TEXT PRIMARY KEY,
	reason  TEXT NOT NULL,
	at      INTEGER NOT NULL
);
