// Package report makes the monthly performance report for the site
// manager (DESIGN: "reports"): resource statistics per server and per group
// for a calendar month and for one day the site manager picks, availability
// against the unplanned-downtime budget, incidents (MTTA, MTTR) and jobs.
//
// Build reads a ledger.Store (never raw samples for the month): per metric
// the 1-day rollups (daily mean and maximum, the month's mean and maximum)
// and the monthly sketches (ledger.SketchStore) for the 95th percentile of
// this month and of the month before, both within
// ledger.SketchRelativeError; for the picked day the 1-day rollups of every
// series and the 1-minute rollups of the busiest series only. Performance
// statistics follow the rollups' UTC days and months; availability,
// incidents and jobs follow Options.Location.
//
// Render turns a Report into Files: one self-contained HTML page (inline
// SVG charts, no script, a print style sheet), a JSON summary and a CSV per
// table. The same Report renders the same bytes: nothing in the body but
// the data window tells when it was made, maps are sorted, and the JSON and
// HTML carry the SHA-256 of the CSV files. PDF prints the HTML with
// headless Chromium (chromedp) where it is installed.
//
// Availability follows package availability's one maintenance rule
// (availability.Excuse): a maintenance window created after an outage
// began does not excuse that outage; the outage is listed with the window
// flagged ("added after the outage began and is not applied").
//
// Archive keeps made reports in the ledger (ledger.ReportStore: metadata
// and each file's bytes, size-limited), so every node sharing the ledger
// lists and serves them; ImportDir moves reports an older unyo kept under
// <data_dir>/reports into it.
package report
