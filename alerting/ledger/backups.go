package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// BackupStore is the backup catalog (package backup): one record per
// generation of a source written to a destination, with its manifest
// (SHA-256 per file), times, result and when it was last proven by a
// restore. It is an optional interface; both stores in this module
// implement it (migration 0010).
//
// Rules every implementation keeps (alerting/ledger/internal/plan):
//   - BeginBackup assigns the next generation of the source (1, 2, ...;
//     never reused, even after a prune) and the id "<source>.<generation>",
//     and records result "running".
//   - FinishBackup sets the size, manifest, end, result and error of a
//     running record; a record that is no longer running is not changed
//     (ErrBackupFinished).
//   - SetVerify records a verification: passed sets VerifiedAt, failed
//     clears it (a copy that no longer restores is not verified); both
//     set CheckedAt and VerifyError.
//   - DeleteBackup refuses to delete the only verified generation of its
//     source (ErrOnlyVerified), in the same transaction as it looks.
//   - Backups lists newest first (started, then generation).
type BackupStore interface {
	BeginBackup(ctx context.Context, b BackupRecord) (BackupRecord, error)
	FinishBackup(ctx context.Context, b BackupRecord) error
	SetVerify(ctx context.Context, id string, at time.Time, passed bool, detail string) error
	Backups(ctx context.Context, f BackupFilter) ([]BackupRecord, error)
	Backup(ctx context.Context, id string) (BackupRecord, error)
	DeleteBackup(ctx context.Context, id string) error
}

// Backup results.
const (
	BackupRunning = "running"
	BackupOK      = "ok"
	BackupFailed  = "failed"
)

// Backup catalog errors.
var (
	// ErrOnlyVerified: the generation is the only verified copy of its
	// source, so it is kept.
	ErrOnlyVerified = errors.New("the only verified generation of its source is never deleted")
	// ErrBackupFinished: the record has already ended.
	ErrBackupFinished = errors.New("backup record already finished")
)

// BackupRecord is one generation of a source in the catalog.
type BackupRecord struct {
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	Kind        string    `json:"kind"` // dir, postgres, sqlite, self
	Destination string    `json:"destination"`
	Generation  int64     `json:"generation"`
	Size        int64     `json:"size"`
	Started     time.Time `json:"started"`
	Ended       time.Time `json:"ended,omitzero"`
	Result      string    `json:"result"`
	Error       string    `json:"error,omitempty"`
	By          string    `json:"by,omitempty"`
	// Manifest is the backup's manifest (backup.Manifest as JSON): every
	// file written and every file archived, with its SHA-256 and size.
	Manifest json.RawMessage `json:"manifest,omitempty"`
	// VerifiedAt is when the last verification (a restore into a scratch
	// place compared with the manifest) passed; zero when it never ran or
	// the last one failed.
	VerifiedAt  time.Time `json:"verified_at,omitzero"`
	CheckedAt   time.Time `json:"checked_at,omitzero"`
	VerifyError string    `json:"verify_error,omitempty"`
}

var backupSourceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)

// ValidBackupSource reports whether source is a catalog source name: 1
// to 63 of A-Z, a-z, 0-9, '-', '_', starting with a letter or digit.
func ValidBackupSource(source string) bool { return backupSourceRE.MatchString(source) }

// BackupID is the id of a source's generation: "<source>.<generation>".
func BackupID(source string, gen int64) string { return source + "." + strconv.FormatInt(gen, 10) }

// ParseBackupID splits an id into source and generation.
func ParseBackupID(id string) (string, int64, bool) {
	i := strings.LastIndexByte(id, '.')
	if i <= 0 {
		return "", 0, false
	}
	g, err := strconv.ParseInt(id[i+1:], 10, 64)
	if err != nil || g < 1 || !ValidBackupSource(id[:i]) {
		return "", 0, false
	}
	return id[:i], g, true
}

// Verified reports whether the generation is proven by a restore.
func (b BackupRecord) Verified() bool { return !b.VerifiedAt.IsZero() && b.Result == BackupOK }

// BackupFilter selects catalog records.
type BackupFilter struct {
	Source string
	// Limit caps the answer (default 100, at most 10000).
	Limit int
}
