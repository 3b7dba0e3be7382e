-- 0005: the notification claim fence — the highest leadership term that has
-- claimed notifications; a lower one is refused (ledger.ErrFenced).
CREATE TABLE IF NOT EXISTS escalation_fence (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	fence INTEGER NOT NULL,
	owner TEXT    NOT NULL DEFAULT '',
	at    INTEGER NOT NULL
);
