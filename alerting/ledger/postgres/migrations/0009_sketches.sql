-- 0009: monthly value sketches of each series (ledger.SketchStore): how
-- many samples fell into each logarithmic bucket (ledger.SketchBucket) in
-- the UTC month starting at month (microseconds), for percentiles (p95)
-- without the raw samples. Folded in by AddSamples with the rollups.
CREATE TABLE IF NOT EXISTS sample_sketches (
	series_id BIGINT  NOT NULL REFERENCES sample_series (id),
	month     BIGINT  NOT NULL,
	bucket    INTEGER NOT NULL,
	count     BIGINT  NOT NULL,
	PRIMARY KEY (series_id, month, bucket)
);
CREATE INDEX IF NOT EXISTS sample_sketches_month ON sample_sketches (month);
