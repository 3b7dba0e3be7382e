-- 0003: metric samples and their rollups (ledger.SampleStore).
-- Times are BIGINT microseconds since the Unix epoch (UTC). A series is
-- (target, name, labels) with labels as canonical JSON (ledger.LabelsKey).
-- Rollups are folded in by AddSamples in the same transaction as the raw
-- samples; res is the resolution in seconds (60, 3600, 86400).
CREATE TABLE IF NOT EXISTS sample_series (
	id     BIGSERIAL PRIMARY KEY,
	target TEXT NOT NULL,
	name   TEXT NOT NULL,
	labels TEXT NOT NULL DEFAULT '{}',
	UNIQUE (target, name, labels)
);
CREATE TABLE IF NOT EXISTS samples (
	series_id BIGINT NOT NULL REFERENCES sample_series (id),
	t         BIGINT NOT NULL,
	value     DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS samples_series_t ON samples (series_id, t);
CREATE INDEX IF NOT EXISTS samples_t ON samples (t);
CREATE TABLE IF NOT EXISTS sample_rollups (
	series_id BIGINT NOT NULL REFERENCES sample_series (id),
	res       INTEGER NOT NULL,
	bucket    BIGINT NOT NULL,
	min       DOUBLE PRECISION NOT NULL,
	max       DOUBLE PRECISION NOT NULL,
	sum       DOUBLE PRECISION NOT NULL,
	count     BIGINT NOT NULL,
	PRIMARY KEY (series_id, res, bucket)
);
CREATE INDEX IF NOT EXISTS sample_rollups_res_bucket ON sample_rollups (res, bucket);
