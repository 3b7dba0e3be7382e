package backup

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// SQLiteFile is the object of a sqlite backup: the VACUUM INTO copy,
// compressed with zstd.
const SQLiteFile = "db.sqlite.zst"

// SQLiteSource backs up an SQLite database (the embedded ledger) with
// VACUUM INTO: a consistent copy taken while the database is in use,
// into a temporary file that is compressed to the destination and
// removed.
type SQLiteSource struct {
	Path string
	// TempDir holds the VACUUM INTO copy ("": the system's).
	TempDir string
}

// Kind implements Source.
func (s *SQLiteSource) Kind() string { return KindSQLite }

// Backup implements Source.
func (s *SQLiteSource) Backup(ctx context.Context, put PutFunc, m *Manifest, p Progress) error {
	tmp, err := os.MkdirTemp(s.TempDir, "unyo-sqlite-backup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	copyPath := filepath.Join(tmp, "db.sqlite")
	if err := vacuumInto(ctx, s.Path, copyPath); err != nil {
		return err
	}
	f, err := compressFileTo(ctx, put, SQLiteFile, copyPath, filepath.Base(s.Path), p)
	if err != nil {
		return err
	}
	m.Files = append(m.Files, f)
	return nil
}

// vacuumInto writes a consistent copy of the database at src to dst.
func vacuumInto(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("sqlite %s: %w", src, err)
	}
	db, err := sql.Open("sqlite", "file:"+src+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return fmt.Errorf("sqlite %s: VACUUM INTO: %w", src, err)
	}
	return nil
}

// compressFileTo writes the file at path compressed as object name and
// returns it as a manifest File (named as) with the SHA-256 of its
// uncompressed bytes.
func compressFileTo(ctx context.Context, put PutFunc, name, path, as string, p Progress) (File, error) {
	src, err := os.Open(path)
	if err != nil {
		return File{}, err
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return File{}, err
	}
	f := File{Path: as, Type: "file", Mode: uint32(fi.Mode().Perm())}
	err = put(ctx, name, func(w io.Writer) error {
		zw, err := zstd.NewWriter(w)
		if err != nil {
			return err
		}
		hs := sha256.New()
		pw := &progressWriter{stage: "backup", p: p, total: fi.Size()}
		n, err := io.Copy(io.MultiWriter(zw, hs, pw), src)
		if err != nil {
			zw.Close()
			return err
		}
		f.Size, f.SHA256 = n, hex.EncodeToString(hs.Sum(nil))
		pw.end()
		return zw.Close()
	})
	return f, err
}

// decompressTo writes object name uncompressed to path (which must not
// exist) and returns its size and SHA-256.
func decompressTo(ctx context.Context, get GetFunc, name, path string, p Progress, stage string, total int64) (int64, string, error) {
	r, err := get(ctx, name)
	if err != nil {
		return 0, "", err
	}
	defer r.Close()
	zr, err := zstd.NewReader(r)
	if err != nil {
		return 0, "", err
	}
	defer zr.Close()
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, "", err
	}
	hs := sha256.New()
	pw := &progressWriter{stage: stage, p: p, total: total}
	n, err := io.Copy(io.MultiWriter(out, hs, pw), zr)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = drain(r)
	}
	if err != nil {
		os.Remove(path)
		if err = readErr(ctx, r, err); errors.Is(err, ErrChecksum) {
			return 0, "", err // names the object
		}
		return 0, "", fmt.Errorf("object %s: %w", name, err)
	}
	pw.end()
	return n, hex.EncodeToString(hs.Sum(nil)), nil
}

// integrityCheck runs PRAGMA integrity_check on the database at path.
func integrityCheck(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("integrity_check: %w", err)
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		msgs = append(msgs, s)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("integrity_check: %w", err)
	}
	if len(msgs) != 1 || msgs[0] != "ok" {
		return fmt.Errorf("%w: integrity_check: %v", ErrMismatch, msgs)
	}
	return nil
}

// Restore implements Source: the database file at to.Path (which must
// not exist), checked with integrity_check.
func (s *SQLiteSource) Restore(ctx context.Context, get GetFunc, m *Manifest, to Target, p Progress) error {
	if to.Path == "" {
		return fmt.Errorf("restore of a sqlite backup needs a path")
	}
	if _, err := os.Lstat(to.Path); err == nil {
		return fmt.Errorf("%s: %w", to.Path, ErrExists)
	}
	tmp := to.Path + ".restoring"
	os.Remove(tmp)
	if err := s.restoreFile(ctx, get, m, tmp, p, "restore"); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, to.Path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(to.Path))
}

func (s *SQLiteSource) restoreFile(ctx context.Context, get GetFunc, m *Manifest, path string, p Progress, stage string) error {
	if len(m.Files) != 1 {
		return fmt.Errorf("%w: a sqlite manifest has one file, this has %d", ErrMismatch, len(m.Files))
	}
	want := m.Files[0]
	n, sum, err := decompressTo(ctx, get, SQLiteFile, path, p, stage, want.Size)
	if err != nil {
		return err
	}
	if n != want.Size || sum != want.SHA256 {
		return fmt.Errorf("%w: %s restored %d bytes sha256 %.12s, manifest %d bytes sha256 %.12s", ErrMismatch, want.Path, n, sum, want.Size, want.SHA256)
	}
	return integrityCheck(ctx, path)
}

// Verify implements Source: restored to a scratch file, compared with
// the manifest and checked with integrity_check.
func (s *SQLiteSource) Verify(ctx context.Context, get GetFunc, m *Manifest, scratch string, p Progress) error {
	return s.restoreFile(ctx, get, m, filepath.Join(scratch, "verify.sqlite"), p, "verify")
}
