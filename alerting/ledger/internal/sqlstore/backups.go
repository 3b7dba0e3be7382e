package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
)

// The backup catalog (ledger.BackupStore); the rules are package plan's.
// Unset times (ended, verified_at, checked_at) are the dialect's OptTime.

func (c *Core) backupCols() string {
	return `id, source, kind, destination, generation, size, started, ended, result, error, ` + c.schema.By + `, manifest,
	verified_at, checked_at, verify_error`
}

func (c *Core) scanBackup(r Row) (ledger.BackupRecord, error) {
	var (
		b        ledger.BackupRecord
		manifest string
	)
	err := r.Scan(&b.ID, &b.Source, &b.Kind, &b.Destination, &b.Generation, &b.Size, c.d.ScanTime(&b.Started),
		c.d.ScanOptTime(&b.Ended), &b.Result, &b.Error, &b.By, &manifest, c.d.ScanOptTime(&b.VerifiedAt),
		c.d.ScanOptTime(&b.CheckedAt), &b.VerifyError)
	if manifest != "" {
		b.Manifest = []byte(manifest)
	}
	return b, err
}

func (c *Core) queryBackups(ctx context.Context, db DB, q string, args ...any) ([]ledger.BackupRecord, error) {
	rows, err := db.Query(ctx, q, args...)
	return collect(rows, err, c.scanBackup)
}

// BeginBackup implements ledger.BackupStore: the source's next generation,
// never one given before (backup_generations outlives pruned rows).
func (c *Core) BeginBackup(ctx context.Context, b ledger.BackupRecord) (ledger.BackupRecord, error) {
	if err := plan.CheckBeginBackup(b); err != nil {
		return b, err
	}
	err := c.writeTx(ctx, "begin backup", func(tx DB) error {
		if err := tx.QueryRow(ctx, `INSERT INTO backup_generations (source, generation) VALUES (?, 1)
			ON CONFLICT (source) DO UPDATE SET generation = backup_generations.generation + 1 RETURNING generation`,
			b.Source).Scan(&b.Generation); err != nil {
			return err
		}
		b.ID, b.Result, b.Ended = plan.BackupID(b.Source, b.Generation), ledger.BackupRunning, time.Time{}
		_, err := tx.Exec(ctx, `INSERT INTO backups (id, source, kind, destination, generation, started, result, `+c.schema.By+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, b.ID, b.Source, b.Kind, b.Destination, b.Generation, c.d.Time(b.Started), b.Result, b.By)
		return err
	})
	return b, err
}

// FinishBackup implements ledger.BackupStore: once, for a running backup.
func (c *Core) FinishBackup(ctx context.Context, b ledger.BackupRecord) error {
	if err := plan.CheckFinishBackup(b); err != nil {
		return err
	}
	return c.writeTx(ctx, "finish backup", func(tx DB) error {
		n, err := tx.Exec(ctx, `UPDATE backups SET size = ?, ended = ?, result = ?, error = ?, manifest = ?
			WHERE id = ? AND result = ?`, b.Size, c.d.OptTime(b.Ended), b.Result, b.Error, string(b.Manifest), b.ID, ledger.BackupRunning)
		if err != nil || n > 0 {
			return err
		}
		var r string
		switch err := tx.QueryRow(ctx, "SELECT result FROM backups WHERE id = ?", b.ID).Scan(&r); {
		case c.d.NoRows(err):
			return plan.NoBackup(b.ID)
		case err != nil:
			return err
		}
		return fmt.Errorf("backup %s: %w", b.ID, ledger.ErrBackupFinished)
	})
}

// SetVerify implements ledger.BackupStore: verified_at is set only when the
// check passed, checked_at always.
func (c *Core) SetVerify(ctx context.Context, id string, at time.Time, passed bool, detail string) error {
	var verified time.Time
	if passed {
		verified = at
	}
	return c.writeTx(ctx, "set verify", func(tx DB) error {
		n, err := tx.Exec(ctx, "UPDATE backups SET verified_at = ?, checked_at = ?, verify_error = ? WHERE id = ?",
			c.d.OptTime(verified), c.d.Time(at), plan.VerifyDetail(detail), id)
		if err != nil {
			return err
		}
		if n == 0 {
			return plan.NoBackup(id)
		}
		return nil
	})
}

// Backups implements ledger.BackupStore: newest start first.
func (c *Core) Backups(ctx context.Context, f ledger.BackupFilter) ([]ledger.BackupRecord, error) {
	if c.closed.Load() {
		return nil, ledger.ErrClosed
	}
	q, args := "SELECT "+c.backupCols()+" FROM backups", []any{}
	if f.Source != "" {
		q += " WHERE source = ?"
		args = append(args, f.Source)
	}
	q += " ORDER BY started DESC, generation DESC LIMIT ?"
	out, err := c.queryBackups(ctx, c.read, q, append(args, plan.BackupLimit(f.Limit))...)
	return out, c.wrapNil("backups", err)
}

// Backup implements ledger.BackupStore.
func (c *Core) Backup(ctx context.Context, id string) (ledger.BackupRecord, error) {
	if c.closed.Load() {
		return ledger.BackupRecord{}, ledger.ErrClosed
	}
	b, err := c.scanBackup(c.read.QueryRow(ctx, "SELECT "+c.backupCols()+" FROM backups WHERE id = ?", id))
	if c.d.NoRows(err) {
		return b, c.fail(plan.NoBackup(id))
	}
	if err != nil {
		return b, c.wrap("backup", err)
	}
	return b, nil
}

// DeleteBackup implements ledger.BackupStore. The verified generations of
// the source are read locked (Dialect.ForUpdate, where many write), so two
// prunes cannot each delete one of the last two.
func (c *Core) DeleteBackup(ctx context.Context, id string) error {
	return c.writeTx(ctx, "delete backup", func(tx DB) error {
		target, err := c.scanBackup(tx.QueryRow(ctx, "SELECT "+c.backupCols()+" FROM backups WHERE id = ?", id))
		if c.d.NoRows(err) {
			return plan.NoBackup(id)
		}
		if err != nil {
			return err
		}
		same, err := c.queryBackups(ctx, tx, "SELECT "+c.backupCols()+" FROM backups WHERE source = ? AND NOT ("+
			c.d.Unset("verified_at")+")"+c.d.ForUpdate(), target.Source)
		if err != nil {
			return err
		}
		if err := plan.CheckDeleteBackup(target, same); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM backups WHERE id = ?", id)
		return err
	})
}
