-- Job network run history (ledger.RunHistoryStore). Migration 0004 was
-- taken for job runs on purpose; samples are 0003. A second 0004 file
-- fails loadMigrations ("version 4 not after 4"): renumber yours.
CREATE TABLE IF NOT EXISTS job_runs (
    id        TEXT PRIMARY KEY,
    jobnet    TEXT NOT NULL,
    scheduled INTEGER NOT NULL, -- Unix microseconds, as elsewhere
    trigger   TEXT NOT NULL,
    by        TEXT NOT NULL DEFAULT '',
    params    TEXT NOT NULL DEFAULT '{}',
    parent    TEXT NOT NULL DEFAULT '',
    status    TEXT NOT NULL,
    created   INTEGER NOT NULL,
    ended     INTEGER NOT NULL DEFAULT 0, -- 0: not ended
    gen       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS job_runs_jobnet_created ON job_runs (jobnet, created);
CREATE INDEX IF NOT EXISTS job_runs_created ON job_runs (created);
CREATE TABLE IF NOT EXISTS job_run_jobs (
    run     TEXT NOT NULL REFERENCES job_runs (id) ON DELETE CASCADE,
    job     TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    state   TEXT NOT NULL,
    code    INTEGER,
    "where" TEXT NOT NULL DEFAULT '',
    started INTEGER NOT NULL DEFAULT 0,
    ended   INTEGER NOT NULL DEFAULT 0,
    output  TEXT NOT NULL DEFAULT '',
    reason  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run, job, attempt)
);
