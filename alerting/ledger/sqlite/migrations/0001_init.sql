-- 0001: incidents, timeline, events.
-- Times are INTEGER microseconds since the Unix epoch (UTC).
CREATE TABLE IF NOT EXISTS incidents (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	dedup_key    TEXT    NOT NULL,
	source       TEXT    NOT NULL,
	target       TEXT    NOT NULL,
	check_name   TEXT    NOT NULL,
	severity     TEXT    NOT NULL CHECK (severity IN ('critical', 'major', 'minor', 'warning', 'info')),
	state        TEXT    NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved', 'closed')),
	message      TEXT    NOT NULL DEFAULT '',
	runbook      TEXT    NOT NULL DEFAULT '',
	labels       TEXT,   -- JSON object, NULL for none
	count        INTEGER NOT NULL,
	first_seen   INTEGER NOT NULL,
	last_seen    INTEGER NOT NULL,
	opened_at    INTEGER NOT NULL,
	recovered    INTEGER NOT NULL DEFAULT 0,
	recovered_at INTEGER,
	acked_at     INTEGER,
	acked_by     TEXT    NOT NULL DEFAULT '',
	resolved_at  INTEGER,
	resolved_by  TEXT    NOT NULL DEFAULT '',
	closed_at    INTEGER,
	closed_by    TEXT    NOT NULL DEFAULT '',
	owner        TEXT    NOT NULL DEFAULT '',
	last_seq     INTEGER NOT NULL DEFAULT 0 -- seq of the newest timeline entry
);
CREATE INDEX IF NOT EXISTS incidents_state ON incidents (state);
CREATE INDEX IF NOT EXISTS incidents_target ON incidents (target);
-- At most one active incident per dedup key.
CREATE UNIQUE INDEX IF NOT EXISTS incidents_active_dedup_key ON incidents (dedup_key)
	WHERE state IN ('open', 'acknowledged');

CREATE TABLE IF NOT EXISTS timeline (
	incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
	seq         INTEGER NOT NULL,
	pos         INTEGER NOT NULL, -- ledger-wide append order: the outbox order
	at          INTEGER NOT NULL,
	kind        TEXT    NOT NULL,
	by_name     TEXT    NOT NULL,
	comment     TEXT    NOT NULL DEFAULT '',
	severity    TEXT    NOT NULL DEFAULT '',
	state       TEXT    NOT NULL,
	published   INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (incident_id, seq)
);
CREATE UNIQUE INDEX IF NOT EXISTS timeline_pos ON timeline (pos);
CREATE INDEX IF NOT EXISTS timeline_unpublished ON timeline (pos) WHERE published = 0;

CREATE TABLE IF NOT EXISTS events (
	id          TEXT    PRIMARY KEY,
	incident_id INTEGER REFERENCES incidents (id) ON DELETE SET NULL,
	source      TEXT    NOT NULL,
	target      TEXT    NOT NULL,
	check_name  TEXT    NOT NULL,
	severity    TEXT    NOT NULL,
	status      TEXT    NOT NULL,
	dedup_key   TEXT    NOT NULL,
	message     TEXT    NOT NULL DEFAULT '',
	runbook     TEXT    NOT NULL DEFAULT '',
	time        INTEGER NOT NULL,
	labels      TEXT,
	applied_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_incident_id ON events (incident_id);
