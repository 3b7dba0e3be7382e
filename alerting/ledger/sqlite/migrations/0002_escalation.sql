-- 0002: escalation state, notifications, maintenance windows, fault reports.
-- Times are INTEGER microseconds since the Unix epoch (UTC).
CREATE TABLE IF NOT EXISTS escalations (
	incident_id INTEGER PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
	policy      TEXT    NOT NULL,
	snapshot    TEXT    NOT NULL,
	state       TEXT    NOT NULL,
	reason      TEXT    NOT NULL DEFAULT '',
	cycle       INTEGER NOT NULL DEFAULT 0,
	rep         INTEGER NOT NULL DEFAULT 0,
	step        INTEGER NOT NULL DEFAULT 0,
	level       INTEGER NOT NULL DEFAULT 0,
	next_at     INTEGER,
	last_seq    INTEGER NOT NULL DEFAULT 0,
	flaps       INTEGER NOT NULL DEFAULT 0,
	flap_since  INTEGER,
	flapping    INTEGER NOT NULL DEFAULT 0,
	version     INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS escalations_due ON escalations (next_at) WHERE next_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS notifications (
	id          TEXT    PRIMARY KEY, -- the deterministic key
	incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
	group_key   TEXT    NOT NULL,
	kind        TEXT    NOT NULL,
	channel     TEXT    NOT NULL,
	destination TEXT    NOT NULL DEFAULT '',
	role        TEXT    NOT NULL DEFAULT '',
	level       INTEGER NOT NULL DEFAULT 0,
	state       TEXT    NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0,
	not_before  INTEGER NOT NULL,
	claimed_by  TEXT    NOT NULL DEFAULT '',
	claim_until INTEGER,
	last_error  TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	sent_at     INTEGER,
	pos         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS notifications_pending ON notifications (not_before) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS notifications_group ON notifications (group_key) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS notifications_incident ON notifications (incident_id);

CREATE TABLE IF NOT EXISTS maintenance (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	name       TEXT    NOT NULL,
	scope      TEXT    NOT NULL,
	pattern    TEXT    NOT NULL,
	start_at   INTEGER NOT NULL,
	end_at     INTEGER,
	cron       TEXT    NOT NULL DEFAULT '',
	duration   INTEGER NOT NULL DEFAULT 0, -- microseconds
	time_zone  TEXT    NOT NULL DEFAULT '',
	comment    TEXT    NOT NULL DEFAULT '',
	created_by TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	ended_at   INTEGER,
	ended_by   TEXT    NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS reports (
	incident_id INTEGER PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
	cause       TEXT    NOT NULL,
	action      TEXT    NOT NULL DEFAULT '',
	prevention  TEXT    NOT NULL DEFAULT '',
	reported_by TEXT    NOT NULL,
	role        TEXT    NOT NULL DEFAULT '',
	at          INTEGER NOT NULL
);
