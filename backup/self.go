package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/cluster"
)

// Objects of a self backup besides ArchiveFile.
const (
	// SelfLedgerFile is the embedded ledger, taken with VACUUM INTO.
	SelfLedgerFile = "ledger.sqlite.zst"
	// SelfConfigFile is the node's configuration file.
	SelfConfigFile = "config.yaml"
)

// SelfSource backs up a unyo node: its data directory (the cluster
// secret key and member credential, the spool, reports, the admin token,
// the task signing key) streamed as tar + zstd, the embedded ledger taken
// consistently with VACUUM INTO (its live files are left out of the
// archive), and the configuration file. Restore (and `unyo restore`)
// puts them back as a data directory a node starts from.
//
// The Raft state is copied consistently: RaftSnapshot takes a Raft
// snapshot just before the copy and the archive holds that snapshot
// only, not the Raft log and stable store (written while being copied;
// everything committed is in the snapshot) nor older snapshots. Verify
// and Restore read the snapshot back in full (cluster.CheckState).
//
// Exclude names directories left out: the node passes its embedded
// JetStream store. Copying it live would not be consistent, and nothing
// in it needs a backup: the events stream is fed from the node's spool
// (kept; it replays what JetStream had not stored) and drained into the
// ledger (kept), the incidents stream is published from the ledger's
// outbox, and the job work queues carry in-flight tasks and results the
// scheduler dispatches again (attempt keys) or times out. A restored
// node recreates the streams empty; in a NATS cluster a rejoining node's
// server catches up from its peers.
type SelfSource struct {
	Node       string
	DataDir    string
	LedgerPath string
	ConfigFile string
	TempDir    string
	// RaftDir is the node's Raft data directory (inside DataDir);
	// RaftSnapshot, when set, snapshots the running Raft node and returns
	// the newest snapshot's id (cluster.Node.BackupSnapshot).
	RaftDir      string
	RaftSnapshot func(ctx context.Context) (string, error)
	// Exclude are directories left out of the archive.
	Exclude []string
}

// Kind implements Source.
func (s *SelfSource) Kind() string { return KindSelf }

// ledgerRel is the ledger's path inside the data directory ("" when it
// is elsewhere or absent).
func (s *SelfSource) ledgerRel() string {
	if s.LedgerPath == "" {
		return ""
	}
	rel, err := filepath.Rel(s.DataDir, s.LedgerPath)
	if err != nil || !filepath.IsLocal(rel) {
		return ""
	}
	return filepath.ToSlash(rel)
}

// rel is p's slash-separated path inside the data directory ("" when
// outside or p is "").
func (s *SelfSource) rel(p string) string {
	if p == "" {
		return ""
	}
	r, err := filepath.Rel(s.DataDir, p)
	if err != nil || r == "." || !filepath.IsLocal(r) {
		return ""
	}
	return filepath.ToSlash(r)
}

// Backup implements Source.
func (s *SelfSource) Backup(ctx context.Context, put PutFunc, m *Manifest, p Progress) error {
	m.Node, m.DataDir, m.RaftDir = s.Node, s.DataDir, s.rel(s.RaftDir)
	if _, err := os.Stat(s.DataDir); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	lrel := s.ledgerRel()
	rrel := s.rel(s.RaftDir)
	snap := ""
	if s.RaftSnapshot != nil && rrel != "" {
		var err error
		if snap, err = s.RaftSnapshot(ctx); err != nil {
			return err
		}
		m.RaftSnapshot = snap
	}
	var excl []string
	for _, e := range s.Exclude {
		if r := s.rel(e); r != "" {
			excl = append(excl, r)
		}
	}
	skip := func(rel string) bool {
		if lrel != "" && (rel == lrel || rel == lrel+"-wal" || rel == lrel+"-shm" || rel == lrel+"-journal") {
			return true
		}
		for _, e := range excl {
			if rel == e || strings.HasPrefix(rel, e+"/") {
				return true
			}
		}
		if snap != "" && strings.HasPrefix(rel, rrel+"/") && cluster.BackupSkip(strings.TrimPrefix(rel, rrel+"/"), snap) {
			return true
		}
		return strings.HasSuffix(rel, ".restoring") || strings.Contains(rel, "/.unyo-") // temporaries
	}
	err := put(ctx, ArchiveFile, func(w io.Writer) error {
		return writeArchive(ctx, w, []root{{Path: s.DataDir, Name: "data", Skip: skip}}, &m.Files, p, "backup")
	})
	if err != nil {
		return err
	}
	if s.LedgerPath != "" {
		tmp, err := os.MkdirTemp(s.TempDir, "unyo-self-backup-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		cp := filepath.Join(tmp, "ledger.db")
		if err := vacuumInto(ctx, s.LedgerPath, cp); err != nil {
			return err
		}
		name := "ledger/" + filepath.Base(s.LedgerPath)
		if lrel != "" {
			name = "data/" + lrel
		}
		f, err := compressFileTo(ctx, put, SelfLedgerFile, cp, name, p)
		if err != nil {
			return err
		}
		m.Files = append(m.Files, f)
	}
	if s.ConfigFile != "" {
		data, err := os.ReadFile(s.ConfigFile)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		if err := put(ctx, SelfConfigFile, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
			return err
		}
	}
	return nil
}

// archiveFiles are the manifest's files inside ArchiveFile (the ledger
// is its own object).
func archiveFiles(m *Manifest) (arch []File, ledger *File) {
	for i, f := range m.Files {
		if _, ok := m.Object(SelfLedgerFile); ok && i == len(m.Files)-1 {
			l := f
			ledger = &l
			continue
		}
		arch = append(arch, f)
	}
	return arch, ledger
}

// Restore implements Source: to.Path becomes the data directory (it must
// not exist or be empty); the configuration file, when backed up, is
// written beside it as <to.Path>.config.yaml.
func (s *SelfSource) Restore(ctx context.Context, get GetFunc, m *Manifest, to Target, p Progress) error {
	if to.Path == "" {
		return fmt.Errorf("restore of a self backup needs a path (the data directory)")
	}
	if err := emptyDir(to.Path); err != nil {
		return err
	}
	return restoreSelf(ctx, get, m, to.Path, p, "restore", true)
}

// Verify implements Source.
func (s *SelfSource) Verify(ctx context.Context, get GetFunc, m *Manifest, scratch string, p Progress) error {
	return restoreSelf(ctx, get, m, scratch, p, "verify", false)
}

// restoreSelf extracts a self backup: the archive's data/ into dir, the
// ledger to its place in it (checked with integrity_check), the config
// beside it when writeConfig.
func restoreSelf(ctx context.Context, get GetFunc, m *Manifest, dir string, p Progress, stage string, writeConfig bool) error {
	work, err := os.MkdirTemp(dir, ".unyo-restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	arch, ledgerFile := archiveFiles(m)
	r, err := get(ctx, ArchiveFile)
	if err != nil {
		return err
	}
	got, err := extractArchive(ctx, r, work, p, stage, filesSize(arch))
	if err == nil {
		err = drain(r)
	}
	err = readErr(ctx, r, err)
	r.Close()
	if err != nil {
		return err
	}
	if err := compareFiles(arch, got); err != nil {
		return err
	}
	if ledgerFile != nil {
		lp := filepath.Join(work, filepath.FromSlash(ledgerFile.Path))
		if !filepath.IsLocal(filepath.FromSlash(ledgerFile.Path)) {
			return fmt.Errorf("%w: ledger path %q", ErrMismatch, ledgerFile.Path)
		}
		if err := os.MkdirAll(filepath.Dir(lp), 0o750); err != nil {
			return err
		}
		n, sum, err := decompressTo(ctx, get, SelfLedgerFile, lp, p, stage, ledgerFile.Size)
		if err != nil {
			return err
		}
		if n != ledgerFile.Size || sum != ledgerFile.SHA256 {
			return fmt.Errorf("%w: ledger restored %d bytes sha256 %.12s, manifest %d bytes sha256 %.12s", ErrMismatch, n, sum, ledgerFile.Size, ledgerFile.SHA256)
		}
		if err := integrityCheck(ctx, lp); err != nil {
			return err
		}
		if writeConfig {
			if err := finishInRestored(ctx, lp, m); err != nil {
				return err
			}
		}
	}
	// The Raft snapshot must be readable in full and restore.
	data := filepath.Join(work, "data")
	if m.RaftSnapshot != "" {
		rd := filepath.Join(data, filepath.FromSlash(m.RaftDir))
		if !filepath.IsLocal(filepath.FromSlash(m.RaftDir)) {
			return fmt.Errorf("%w: raft directory %q", ErrMismatch, m.RaftDir)
		}
		info, err := cluster.CheckState(ctx, rd)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMismatch, err)
		}
		if info.Snapshot != m.RaftSnapshot {
			return fmt.Errorf("%w: raft snapshot %s restored, manifest %s", ErrMismatch, info.Snapshot, m.RaftSnapshot)
		}
	}
	// Move data/* into dir.
	ents, err := os.ReadDir(data)
	if err != nil {
		return fmt.Errorf("%w: no data directory in the archive", ErrMismatch)
	}
	for _, e := range ents {
		if err := os.Rename(filepath.Join(data, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	if writeConfig {
		if _, ok := m.Object(SelfConfigFile); ok {
			r, err := get(ctx, SelfConfigFile)
			if err != nil {
				return err
			}
			defer r.Close()
			b, err := io.ReadAll(io.LimitReader(r, 16<<20))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Clean(dir)+".config.yaml", b, 0o600); err != nil {
				return err
			}
		}
	}
	return syncDir(dir)
}

// finishInRestored records, in a restored ledger, the generation it was
// restored from as finished: the ledger was copied while that backup was
// still running.
func finishInRestored(ctx context.Context, path string, m *Manifest) error {
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		return fmt.Errorf("restored ledger: %w", err)
	}
	defer s.Close()
	man, err := json.Marshal(m)
	if err != nil {
		return err
	}
	err = s.FinishBackup(ctx, ledger.BackupRecord{ID: m.ID, Result: ledger.BackupOK, Size: m.Size(), Ended: m.Written, Manifest: man})
	if err != nil && !errors.Is(err, ledger.ErrBackupFinished) && !errors.Is(err, incident.ErrNotFound) {
		return fmt.Errorf("restored ledger: %w", err)
	}
	return nil
}
