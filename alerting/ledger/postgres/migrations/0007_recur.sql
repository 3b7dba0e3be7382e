-- 0007: the newest incident of a dedup key, found quickly: a problem after a
-- manual resolve of a fault still reported recurs (see plan.Apply).
CREATE INDEX IF NOT EXISTS incidents_dedup_key ON incidents (dedup_key, id);
