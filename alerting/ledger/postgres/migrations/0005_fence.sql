-- 0005: the notification claim fence — the highest leadership term that has
-- claimed notifications; a lower one is refused (ledger.ErrFenced).
-- Idempotent: every statement is IF NOT EXISTS.
CREATE TABLE IF NOT EXISTS escalation_fence (
	id    integer     PRIMARY KEY CHECK (id = 1),
	fence bigint      NOT NULL,
	owner text        NOT NULL DEFAULT '',
	at    timestamptz NOT NULL
);
