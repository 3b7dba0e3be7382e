-- 0006: users, API and session tokens, and the hash-chained audit log
-- (auth.Store). Idempotent: every statement is IF NOT EXISTS.
-- Optional times (expires, last_used, revoked) are NULL when not set.
CREATE TABLE IF NOT EXISTS users (
	name          text        PRIMARY KEY,
	role          text        NOT NULL,
	password_hash text        NOT NULL DEFAULT '', -- Argon2id PHC string; '' for none
	disabled      boolean     NOT NULL DEFAULT false,
	source        text        NOT NULL DEFAULT '',
	created       timestamptz NOT NULL,
	updated       timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS tokens (
	id        text        PRIMARY KEY,
	name      text        NOT NULL DEFAULT '',
	kind      text        NOT NULL,
	owner     text        NOT NULL,
	role      text        NOT NULL,
	hash      text        NOT NULL, -- hex SHA-256 of the secret; the secret is never stored
	created   timestamptz NOT NULL,
	expires   timestamptz,
	last_used timestamptz,
	last_from text        NOT NULL DEFAULT '',
	revoked   timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS tokens_hash_idx ON tokens (hash);

-- Append-only: each row carries the hash of the one before (prev) and its
-- own (hash = auth.ChainHash(prev, row)), so an edited row breaks the chain.
-- Appends are serialised by pg_advisory_xact_lock(AuditLockKey).
CREATE TABLE IF NOT EXISTS audit (
	seq       bigint      PRIMARY KEY, -- 1, 2, … with no gaps
	at        timestamptz NOT NULL,
	actor     text        NOT NULL,
	role      text        NOT NULL DEFAULT '',
	kind      text        NOT NULL DEFAULT '',
	action    text        NOT NULL,
	target    text        NOT NULL DEFAULT '',
	from_addr text        NOT NULL DEFAULT '',
	result    text        NOT NULL DEFAULT '',
	detail    text        NOT NULL DEFAULT '',
	prev      text        NOT NULL,
	hash      text        NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_at_idx ON audit (at);
CREATE INDEX IF NOT EXISTS audit_actor_idx ON audit (actor, seq);
