package plan

import (
	"fmt"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

// The backup catalog rules both stores apply (ledger.BackupStore).

// Backup list sizes.
const (
	DefaultBackups = 100
	MaxBackups     = 10000
	// MaxManifest bounds a stored manifest (bytes).
	MaxManifest = 64 << 20
)

// BackupLimit is the number of records a filter's limit n returns.
func BackupLimit(n int) int {
	if n <= 0 {
		n = DefaultBackups
	}
	return min(n, MaxBackups)
}

// CheckBeginBackup validates a record about to be begun.
func CheckBeginBackup(b ledger.BackupRecord) error {
	if !ledger.ValidBackupSource(b.Source) {
		return fmt.Errorf("backup source %q: want 1 to 63 of A-Z, a-z, 0-9, '-', '_'", b.Source)
	}
	if b.Destination == "" || b.Started.IsZero() {
		return fmt.Errorf("backup of %q: destination and start are required", b.Source)
	}
	return nil
}

// BackupID is the id of a source's generation: "<source>.<generation>"
// (ledger.BackupID).
func BackupID(source string, gen int64) string { return ledger.BackupID(source, gen) }

// ParseBackupID splits an id into source and generation
// (ledger.ParseBackupID).
func ParseBackupID(id string) (string, int64, bool) { return ledger.ParseBackupID(id) }

// CheckFinishBackup validates what FinishBackup writes.
func CheckFinishBackup(b ledger.BackupRecord) error {
	switch b.Result {
	case ledger.BackupOK, ledger.BackupFailed:
	default:
		return fmt.Errorf("backup %s: result %q: want ok or failed", b.ID, b.Result)
	}
	if len(b.Manifest) > MaxManifest {
		return fmt.Errorf("backup %s: manifest of %d bytes is over %d", b.ID, len(b.Manifest), MaxManifest)
	}
	return nil
}

// CheckDeleteBackup is the rule of DeleteBackup: target may go unless it
// is verified and no other generation of its source (sameSource, which
// may include target) is.
func CheckDeleteBackup(target ledger.BackupRecord, sameSource []ledger.BackupRecord) error {
	if !target.Verified() {
		return nil
	}
	for _, o := range sameSource {
		if o.ID != target.ID && o.Verified() {
			return nil
		}
	}
	return fmt.Errorf("backup %s: %w", target.ID, ledger.ErrOnlyVerified)
}

// NoBackup is the error of an id the catalog does not hold.
func NoBackup(id string) error { return fmt.Errorf("backup %q: %w", id, incident.ErrNotFound) }

// VerifyDetail bounds a verification's detail text.
func VerifyDetail(s string) string {
	if len(s) > 4096 {
		return s[:4096]
	}
	return s
}
