package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

// The stored report rules both stores apply (ledger.ReportStore).

var (
	reportIDRE   = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}_[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	reportFileRE = regexp.MustCompile(`^[a-z0-9_]{1,64}\.(csv|json|html|pdf)$`)
)

// ValidReportID reports whether id is a stored report's id.
func ValidReportID(id string) bool { return reportIDRE.MatchString(id) }

// ValidReportFile reports whether name may name a stored report's file.
func ValidReportFile(name string) bool { return reportFileRE.MatchString(name) }

// CheckReport validates a report and its files and returns it with Files
// filled (name order, sizes, SHA-256): the id and names, at least one
// file, each at most ledger.MaxReportFile and all at most
// ledger.MaxReportBytes (ledger.ErrTooLarge).
func CheckReport(r ledger.StoredReport, files map[string][]byte) (ledger.StoredReport, error) {
	if !ValidReportID(r.ID) {
		return r, &incident.FieldError{Field: "id", Msg: fmt.Sprintf("%q: want YYYY-MM_YYYY-MM-DD", r.ID)}
	}
	if len(files) == 0 {
		return r, &incident.FieldError{Field: "files", Msg: "a report has at least one file"}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	var sum int64
	r.Files = make([]ledger.StoredFile, 0, len(names))
	for _, n := range names {
		if !ValidReportFile(n) {
			return r, &incident.FieldError{Field: "files", Msg: fmt.Sprintf("%q: want [a-z0-9_]+.(csv|json|html|pdf)", n)}
		}
		size := int64(len(files[n]))
		if size > ledger.MaxReportFile {
			return r, fmt.Errorf("report %s: file %s is %d bytes, over the limit of %d: %w", r.ID, n, size, ledger.MaxReportFile, ledger.ErrTooLarge)
		}
		sum += size
		h := sha256.Sum256(files[n])
		r.Files = append(r.Files, ledger.StoredFile{Name: n, Size: size, SHA256: hex.EncodeToString(h[:])})
	}
	if sum > ledger.MaxReportBytes {
		return r, fmt.Errorf("report %s: its files are %d bytes, over the limit of %d: %w", r.ID, sum, ledger.MaxReportBytes, ledger.ErrTooLarge)
	}
	return r, nil
}

// CheckReportFile checks bytes read back against their stored SHA-256.
func CheckReportFile(id string, f ledger.StoredFile, b []byte) error {
	h := sha256.Sum256(b)
	if int64(len(b)) != f.Size || hex.EncodeToString(h[:]) != f.SHA256 {
		return fmt.Errorf("report %s: file %s: stored bytes do not match their SHA-256 %s", id, f.Name, f.SHA256)
	}
	return nil
}

// NoReport is the error of a report or file the store does not hold.
func NoReport(id, name string) error {
	if name == "" {
		return fmt.Errorf("report %q: %w", id, incident.ErrNotFound)
	}
	return fmt.Errorf("report %q file %q: %w", id, name, incident.ErrNotFound)
}
