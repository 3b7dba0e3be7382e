-- 0008: receive times beside source times. event_received holds when a
-- node took each event in (by its clock; older events: applied_at);
-- timeline_received holds, for the entries whose receive time differs
-- from their at (the source's time), that receive time, so the timeline
-- shows both. Side tables rather than columns: SQLite cannot add a column
-- idempotently, and every migration must be safe to run twice.
CREATE TABLE IF NOT EXISTS event_received (
	event_id    TEXT    PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
	received_at INTEGER NOT NULL
);
INSERT OR IGNORE INTO event_received (event_id, received_at) SELECT id, applied_at FROM events;
CREATE TABLE IF NOT EXISTS timeline_received (
	incident_id INTEGER NOT NULL,
	seq         INTEGER NOT NULL,
	received_at INTEGER NOT NULL,
	PRIMARY KEY (incident_id, seq),
	FOREIGN KEY (incident_id, seq) REFERENCES timeline (incident_id, seq) ON DELETE CASCADE
);
