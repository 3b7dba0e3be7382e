package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/backup"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/jobnet"
)

// BackupOptions configure the node's backups (package backup).
type BackupOptions struct {
	// Config is the backup section; a reload's replaces it.
	Config configs.BackupConfig
	// Env is what self and sqlite sources need (FromConfig sets it).
	Env backup.Env
}

// newBackups makes the backup manager; its sources follow reloads.
func (n *Node) newBackups() error {
	if n.opts.Backup.Env.RaftSnapshot == nil {
		n.opts.Backup.Env.RaftSnapshot = func(ctx context.Context) (string, error) {
			if n.raft == nil {
				return "", nil // no Raft: the data directory as it is
			}
			return n.raft.BackupSnapshot(ctx)
		}
	}
	m := &backup.Manager{Store: n.store, Sink: n.ingest.in, Node: n.opts.Name, Log: n.log.With("part", "backup"),
		ScratchDir: n.opts.Backup.Config.ScratchDir}
	if err := m.Register(n.opts.Registry); err != nil {
		return err
	}
	n.backups = m
	return n.refreshBackups()
}

// refreshBackups sets the manager's sources from the running config.
func (n *Node) refreshBackups() error {
	cfg := n.opts.Backup.Config
	if c := n.currentConfig(); c != nil {
		cfg = c.Backup
	}
	specs, err := backup.Specs(cfg, n.opts.Backup.Env)
	if err != nil {
		return fmt.Errorf("node: backup: %w", err)
	}
	n.backups.SetSpecs(specs)
	return nil
}

// backupManager is the manager with the current sources.
func (n *Node) backupManager() *backup.Manager {
	if err := n.refreshBackups(); err != nil {
		n.log.Error("backup sources", "err", err)
	}
	return n.backups
}

// backupJob is the job kind "backup": back up the source, verify the new
// generation by restoring it, prune by the source's policy. A failed or
// unverified backup ends it 1 (a job fault, runbook backup-failed).
func (n *Node) backupJob(ctx context.Context, t jobnet.Task) (int, string, error) {
	m := n.backupManager()
	var out strings.Builder
	by := "job:" + t.Jobnet + "/" + t.Job
	b, err := m.Run(ctx, t.Backup.Source, by, jobProgress(&out))
	if err != nil {
		fmt.Fprintf(&out, "backup %s failed: %v\n", b.ID, err)
		return 1, out.String(), err
	}
	fmt.Fprintf(&out, "backup %s written: %d bytes in %s\n", b.ID, b.Size, b.Ended.Sub(b.Started).Round(time.Millisecond))
	if _, err := m.Verify(ctx, b.ID, jobProgress(&out)); err != nil {
		fmt.Fprintf(&out, "backup %s is not verified: %v\n", b.ID, err)
		return 1, out.String(), err
	}
	fmt.Fprintf(&out, "backup %s verified (restored and compared with its manifest)\n", b.ID)
	res, err := m.Prune(ctx, t.Backup.Source, false)
	for _, d := range res.Decisions {
		if d.Action != "keep" {
			fmt.Fprintf(&out, "prune %s: %s (%s)\n", d.ID, d.Action, d.Reason)
		}
	}
	if err != nil {
		fmt.Fprintf(&out, "prune failed: %v\n", err)
		return 1, out.String(), err
	}
	return 0, out.String(), nil
}

// backupVerifyJob is the job kind "backup-verify": verify the newest
// generation of the source (or of every source), then check every
// source's max_age (incidents with runbook backup-too-old). It ends 1
// when a verification failed or a source is too old.
func (n *Node) backupVerifyJob(ctx context.Context, t jobnet.Task) (int, string, error) {
	m := n.backupManager()
	var out strings.Builder
	sources := []string{t.Backup.Source}
	if t.Backup.Source == "" {
		sources = m.Sources()
	}
	var errs []error
	for _, s := range sources {
		b, err := m.VerifyLatest(ctx, s, jobProgress(&out))
		if err != nil {
			fmt.Fprintf(&out, "%s: %v\n", s, err)
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(&out, "%s: %s verified\n", s, b.ID)
	}
	ages, err := m.CheckAge(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	for _, a := range ages {
		if a.Stale {
			fmt.Fprintf(&out, "%s: newest verified generation %q (ended %s) is older than max_age %s\n", a.Source, a.Newest, a.Ended.Format(time.RFC3339), a.MaxAge)
			errs = append(errs, fmt.Errorf("backup of %s too old", a.Source))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return 1, out.String(), err
	}
	return 0, out.String(), nil
}

// backupAgeInterval is backup.age_check_interval of the running config.
func (n *Node) backupAgeInterval() time.Duration {
	if c := n.currentConfig(); c != nil {
		return c.Backup.AgeCheckInterval
	}
	return n.opts.Backup.Config.AgeCheckInterval
}

// backupAgeLoop checks every source's max_age each
// backup.age_check_interval while this node leads (incidents with
// runbook backup-too-old): a backup job that stopped running is noticed
// even without a backup-verify job.
func (n *Node) backupAgeLoop(ctx context.Context) {
	for {
		iv := n.backupAgeInterval()
		wait := iv
		if iv <= 0 {
			wait = time.Minute // off: look again after a reload
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if iv <= 0 || !n.IsLeader() {
			continue
		}
		if _, err := n.store.get(); err != nil {
			continue // the ledger is not open yet
		}
		ages, err := n.backupManager().CheckAge(ctx)
		if err != nil {
			n.log.Warn("backup age check", "err", err)
			continue
		}
		for _, a := range ages {
			if a.Stale {
				n.log.Warn("backup too old", "source", a.Source, "newest", a.Newest, "max_age", a.MaxAge)
			}
		}
	}
}

// jobProgress writes a line per stage into a job's output.
func jobProgress(out *strings.Builder) backup.Progress {
	last := ""
	return func(stage string, done, total int64) {
		if stage != last {
			last = stage
			fmt.Fprintf(out, "%s...\n", stage)
		}
	}
}

// The lazy store keeps the backup catalog once the real store is open.

var _ ledger.BackupStore = (*lazyStore)(nil)

func (l *lazyStore) backups() (ledger.BackupStore, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	bs, ok := s.(ledger.BackupStore)
	if !ok {
		return nil, fmt.Errorf("%w: the %T store keeps no backup catalog", ledger.ErrUnavailable, s)
	}
	return bs, nil
}

// BeginBackup implements ledger.BackupStore.
func (l *lazyStore) BeginBackup(ctx context.Context, b ledger.BackupRecord) (ledger.BackupRecord, error) {
	s, err := l.backups()
	if err != nil {
		return b, err
	}
	return s.BeginBackup(ctx, b)
}

// FinishBackup implements ledger.BackupStore.
func (l *lazyStore) FinishBackup(ctx context.Context, b ledger.BackupRecord) error {
	s, err := l.backups()
	if err != nil {
		return err
	}
	return s.FinishBackup(ctx, b)
}

// SetVerify implements ledger.BackupStore.
func (l *lazyStore) SetVerify(ctx context.Context, id string, at time.Time, passed bool, detail string) error {
	s, err := l.backups()
	if err != nil {
		return err
	}
	return s.SetVerify(ctx, id, at, passed, detail)
}

// Backups implements ledger.BackupStore.
func (l *lazyStore) Backups(ctx context.Context, f ledger.BackupFilter) ([]ledger.BackupRecord, error) {
	s, err := l.backups()
	if err != nil {
		return nil, err
	}
	return s.Backups(ctx, f)
}

// Backup implements ledger.BackupStore.
func (l *lazyStore) Backup(ctx context.Context, id string) (ledger.BackupRecord, error) {
	s, err := l.backups()
	if err != nil {
		return ledger.BackupRecord{}, err
	}
	return s.Backup(ctx, id)
}

// DeleteBackup implements ledger.BackupStore.
func (l *lazyStore) DeleteBackup(ctx context.Context, id string) error {
	s, err := l.backups()
	if err != nil {
		return err
	}
	return s.DeleteBackup(ctx, id)
}

// absPath makes p absolute ("" stays "").
func absPath(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// backupsView serves the backup endpoints (console.Backups).
type backupsView struct{ n *Node }

func (v backupsView) List(ctx context.Context, f ledger.BackupFilter) ([]ledger.BackupRecord, error) {
	return v.n.backupManager().List(ctx, f)
}
func (v backupsView) Sources() []string { return v.n.backupManager().Sources() }
func (v backupsView) Run(ctx context.Context, source, by string, p backup.Progress) (ledger.BackupRecord, error) {
	return v.n.backupManager().Run(ctx, source, by, p)
}
func (v backupsView) Verify(ctx context.Context, id string, p backup.Progress) (ledger.BackupRecord, error) {
	return v.n.backupManager().Verify(ctx, id, p)
}
func (v backupsView) Restore(ctx context.Context, id string, to backup.Target, p backup.Progress) error {
	return v.n.backupManager().Restore(ctx, id, to, p)
}
func (v backupsView) Prune(ctx context.Context, source string, dry bool) (backup.PruneResult, error) {
	return v.n.backupManager().Prune(ctx, source, dry)
}
