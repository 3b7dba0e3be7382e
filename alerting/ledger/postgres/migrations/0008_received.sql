-- 0008: receive times beside source times. events.received_at is when a
-- node took the event in (by its clock; older rows: applied_at);
-- timeline.received_at is set only where it differs from the entry's at
-- (the source's time), so the timeline shows both.
-- Idempotent: every statement is IF NOT EXISTS or a no-op when repeated.
ALTER TABLE events ADD COLUMN IF NOT EXISTS received_at timestamptz;
UPDATE events SET received_at = applied_at WHERE received_at IS NULL;
ALTER TABLE timeline ADD COLUMN IF NOT EXISTS received_at timestamptz;
