-- 0011: failover drill results (ledger.DrillStore) and rotated passwords,
-- sealed under the cluster key (ledger.PasswordStore). Durations are
-- microseconds.
CREATE TABLE IF NOT EXISTS drills (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	kind       TEXT NOT NULL,
	run        TEXT NOT NULL DEFAULT '',
	by_whom    TEXT NOT NULL DEFAULT '',
	started    TIMESTAMPTZ NOT NULL,
	injected   TIMESTAMPTZ,
	served     TIMESTAMPTZ,
	ended      TIMESTAMPTZ,
	rto        BIGINT NOT NULL DEFAULT 0,
	rpo        BIGINT NOT NULL DEFAULT 0,
	rpo_time   BIGINT NOT NULL DEFAULT 0,
	target_rto BIGINT NOT NULL DEFAULT 0,
	target_rpo BIGINT NOT NULL DEFAULT 0,
	result     TEXT NOT NULL,
	reason     TEXT NOT NULL DEFAULT '',
	steps      JSONB NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS drills_started ON drills (started);
CREATE INDEX IF NOT EXISTS drills_name_started ON drills (name, started);
CREATE TABLE IF NOT EXISTS account_passwords (
	account TEXT NOT NULL,
	slot    TEXT NOT NULL,
	sealed  TEXT NOT NULL,
	by_whom TEXT NOT NULL DEFAULT '',
	at      TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (account, slot)
);
CREATE TABLE IF NOT EXISTS account_password_aborts (
	account TEXT PRIMARY KEY,
	reason  TEXT NOT NULL,
	at      TIMESTAMPTZ NOT NULL
);
