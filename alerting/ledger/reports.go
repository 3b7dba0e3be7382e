package ledger

import (
	"context"
	"errors"
	"time"
)

// ErrTooLarge: a stored report (one file, or all its files) is over the
// ledger's limit (MaxReportFile, MaxReportBytes).
var ErrTooLarge = errors.New("too large for the ledger")

// Limits of a stored report: what one file and all the files of one
// report may hold. A month of 2,000 servers renders about 3–5 MB of HTML
// and as much CSV; the limits leave room and keep a row of PostgreSQL or
// SQLite well under their own limits (1 GB).
const (
	MaxReportFile  = 32 << 20
	MaxReportBytes = 96 << 20
	// MaxReports is the most reports Reports lists.
	MaxReports = 1000
)

// ReportStore keeps the made monthly reports in the ledger, so every node
// sharing it lists and serves them and a report outlives the node that
// made it. It is an optional interface (both stores in this module
// implement it).
//
// Rules every implementation keeps (internal/plan checks them):
//   - SaveReport stores a report's metadata and every file's bytes in one
//     transaction, replacing a report of the same ID (month and day)
//     whole: no file of the old one is left. IDs are YYYY-MM_YYYY-MM-DD,
//     file names [a-z0-9_]+.(csv|json|html|pdf); a file over MaxReportFile
//     or a report over MaxReportBytes is refused with ErrTooLarge and
//     nothing is stored. The store fills Files (name, size, SHA-256).
//   - Reports lists newest ID first (at most MaxReports), without bytes.
//   - ReportFile returns a file's bytes exactly as saved, checked against
//     its SHA-256 (a mismatch is an error, never wrong bytes); an unknown
//     report or file wraps incident.ErrNotFound.
type ReportStore interface {
	SaveReport(ctx context.Context, r StoredReport, files map[string][]byte) (StoredReport, error)
	Reports(ctx context.Context) ([]StoredReport, error)
	ReportFile(ctx context.Context, id, name string) ([]byte, StoredFile, error)
}

// StoredReport is one report's metadata.
type StoredReport struct {
	ID    string `json:"id"`
	Month string `json:"month"`
	Day   string `json:"day"`
	// WindowFrom and WindowTo are the report's data window; TimeZone the
	// zone of its calendar.
	WindowFrom time.Time `json:"window_from"`
	WindowTo   time.Time `json:"window_to"`
	TimeZone   string    `json:"time_zone"`
	// CSVSHA256 is the checksum of its CSV files the report carries.
	CSVSHA256 string    `json:"csv_sha256"`
	MadeBy    string    `json:"made_by"`
	MadeAt    time.Time `json:"made_at"`
	// PDF says whether the PDF was printed and, if not, why.
	PDF string `json:"pdf"`
	// Files, by name.
	Files []StoredFile `json:"files"`
}

// StoredFile is one file of a stored report.
type StoredFile struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}
