-- Stored monthly reports (ledger.ReportStore): metadata, and each file's
-- bytes, so every node sharing the ledger lists and serves them.
CREATE TABLE IF NOT EXISTS monthly_reports (
    id          TEXT PRIMARY KEY, -- YYYY-MM_YYYY-MM-DD
    month       TEXT NOT NULL,
    day         TEXT NOT NULL,
    window_from INTEGER NOT NULL, -- Unix microseconds, as elsewhere
    window_to   INTEGER NOT NULL,
    time_zone   TEXT NOT NULL,
    csv_sha256  TEXT NOT NULL,
    made_by     TEXT NOT NULL,
    made_at     INTEGER NOT NULL,
    pdf         TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS monthly_report_files (
    report TEXT NOT NULL REFERENCES monthly_reports (id) ON DELETE CASCADE,
    name   TEXT NOT NULL,
    size   INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    body   BLOB NOT NULL,
    PRIMARY KEY (report, name)
);
