-- 0013: the agent registry (agents.Store): enrolled agents, group
-- enrolment tokens (only the SHA-256 of the secret), inventories (the
-- newest few per agent) and per-group uninstall secrets (hashed).
-- Times are INTEGER microseconds since the Unix epoch (UTC), 0 when not set,
-- in both stores, so that they share their code.
CREATE TABLE IF NOT EXISTS agents (
	name        TEXT    PRIMARY KEY,
	host_id     TEXT    NOT NULL DEFAULT '',
	grp         TEXT    NOT NULL DEFAULT 'default',
	version     TEXT    NOT NULL DEFAULT '',
	kind        TEXT    NOT NULL,
	home        TEXT    NOT NULL DEFAULT '',
	nkey        TEXT    NOT NULL DEFAULT '',
	sign_key    TEXT    NOT NULL DEFAULT '',
	tags        TEXT    NOT NULL DEFAULT '[]', -- JSON array
	hostname    TEXT    NOT NULL DEFAULT '',
	os          TEXT    NOT NULL DEFAULT '',
	enrolled    INTEGER NOT NULL,
	enrolled_by TEXT    NOT NULL DEFAULT '',
	last_seen   INTEGER NOT NULL DEFAULT 0,
	slots       INTEGER NOT NULL DEFAULT 0,
	slots_used  INTEGER NOT NULL DEFAULT 0,
	disabled    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS agents_host_id ON agents (host_id);

CREATE TABLE IF NOT EXISTS agent_enroll_tokens (
	id         TEXT    PRIMARY KEY,
	grp        TEXT    NOT NULL,
	hash       TEXT    NOT NULL, -- hex SHA-256 of the secret; the secret is never stored
	created_by TEXT    NOT NULL DEFAULT '',
	created    INTEGER NOT NULL,
	expires    INTEGER NOT NULL,
	revoked    INTEGER NOT NULL DEFAULT 0,
	max_uses   INTEGER NOT NULL DEFAULT 0,
	uses       INTEGER NOT NULL DEFAULT 0,
	last_used  INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS agent_enroll_tokens_hash ON agent_enroll_tokens (hash);

CREATE TABLE IF NOT EXISTS agent_inventories (
	agent TEXT    NOT NULL,
	at    INTEGER NOT NULL,
	hash  TEXT    NOT NULL,
	data  BLOB    NOT NULL,
	PRIMARY KEY (agent, at)
);

CREATE TABLE IF NOT EXISTS agent_group_secrets (
	grp        TEXT    PRIMARY KEY,
	hash       TEXT    NOT NULL,
	created_by TEXT    NOT NULL DEFAULT '',
	created    INTEGER NOT NULL
);
