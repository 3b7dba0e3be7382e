-- 0009: monthly value sketches of each series (ledger.SketchStore): how
-- many samples fell into each logarithmic bucket (ledger.SketchBucket) in
-- the UTC month starting at month (microseconds), for percentiles (p95)
-- without the raw samples. Folded in by AddSamples with the rollups.
CREATE TABLE IF NOT EXISTS sample_sketches (
	series_id INTEGER NOT NULL REFERENCES sample_series (id),
	month     INTEGER NOT NULL,
	bucket    INTEGER NOT NULL,
	count     INTEGER NOT NULL,
	PRIMARY KEY (series_id, month, bucket)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sample_sketches_month ON sample_sketches (month);
