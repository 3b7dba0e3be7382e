-- 0006: users, API and session tokens, and the hash-chained audit log
-- (auth.Store). Times are INTEGER microseconds since the Unix epoch (UTC);
-- 0 for an optional time that is not set (expires, last_used, revoked).
CREATE TABLE IF NOT EXISTS users (
	name          TEXT    PRIMARY KEY,
	role          TEXT    NOT NULL,
	password_hash TEXT    NOT NULL DEFAULT '', -- Argon2id PHC string; '' for none
	disabled      INTEGER NOT NULL DEFAULT 0,
	source        TEXT    NOT NULL DEFAULT '',
	created       INTEGER NOT NULL,
	updated       INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS tokens (
	id        TEXT    PRIMARY KEY,
	name      TEXT    NOT NULL DEFAULT '',
	kind      TEXT    NOT NULL,
	owner     TEXT    NOT NULL,
	role      TEXT    NOT NULL,
	hash      TEXT    NOT NULL, -- hex SHA-256 of the secret; the secret is never stored
	created   INTEGER NOT NULL,
	expires   INTEGER NOT NULL DEFAULT 0,
	last_used INTEGER NOT NULL DEFAULT 0,
	last_from TEXT    NOT NULL DEFAULT '',
	revoked   INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS tokens_hash ON tokens (hash);

-- Append-only: each row carries the hash of the one before (prev) and its
-- own (hash = auth.ChainHash(prev, row)), so an edited row breaks the chain.
CREATE TABLE IF NOT EXISTS audit (
	seq       INTEGER PRIMARY KEY, -- 1, 2, … with no gaps
	at        INTEGER NOT NULL,
	actor     TEXT    NOT NULL,
	role      TEXT    NOT NULL DEFAULT '',
	kind      TEXT    NOT NULL DEFAULT '',
	action    TEXT    NOT NULL,
	target    TEXT    NOT NULL DEFAULT '',
	from_addr TEXT    NOT NULL DEFAULT '',
	result    TEXT    NOT NULL DEFAULT '',
	detail    TEXT    NOT NULL DEFAULT '',
	prev      TEXT    NOT NULL,
	hash      TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE INDEX IF NOT EXISTS audit_actor ON audit (actor, seq);
