package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
)

var _ ledger.BackupStore = (*Store)(nil)

const backupCols = `id, source, kind, destination, generation, size, started, ended, result, error, by, manifest,
	verified_at, checked_at, verify_error`

func scanBackup(sc interface{ Scan(...any) error }) (ledger.BackupRecord, error) {
	var (
		b                                     ledger.BackupRecord
		manifest                              string
		started, ended, verifiedAt, checkedAt int64
	)
	err := sc.Scan(&b.ID, &b.Source, &b.Kind, &b.Destination, &b.Generation, &b.Size, &started, &ended, &b.Result,
		&b.Error, &b.By, &manifest, &verifiedAt, &checkedAt, &b.VerifyError)
	if manifest != "" {
		b.Manifest = []byte(manifest)
	}
	b.Started, b.Ended, b.VerifiedAt, b.CheckedAt = timeOrZero(started), timeOrZero(ended), timeOrZero(verifiedAt), timeOrZero(checkedAt)
	return b, err
}

// BeginBackup implements ledger.BackupStore.
func (s *Store) BeginBackup(ctx context.Context, b ledger.BackupRecord) (ledger.BackupRecord, error) {
	if err := plan.CheckBeginBackup(b); err != nil {
		return b, err
	}
	err := s.writeTx(ctx, "begin backup", func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO backup_generations (source, generation) VALUES (?, 1)
			ON CONFLICT (source) DO UPDATE SET generation = generation + 1 RETURNING generation`, b.Source).Scan(&b.Generation); err != nil {
			return err
		}
		b.ID, b.Result, b.Ended = plan.BackupID(b.Source, b.Generation), ledger.BackupRunning, time.Time{}
		_, err := tx.ExecContext(ctx, `INSERT INTO backups (id, source, kind, destination, generation, started, result, by)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, b.ID, b.Source, b.Kind, b.Destination, b.Generation, b.Started.UnixMicro(), b.Result, b.By)
		return err
	})
	return b, err
}

// FinishBackup implements ledger.BackupStore.
func (s *Store) FinishBackup(ctx context.Context, b ledger.BackupRecord) error {
	if err := plan.CheckFinishBackup(b); err != nil {
		return err
	}
	return s.writeTx(ctx, "finish backup", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE backups SET size = ?, ended = ?, result = ?, error = ?, manifest = ?
			WHERE id = ? AND result = ?`, b.Size, microsOrZero(b.Ended), b.Result, b.Error, string(b.Manifest), b.ID, ledger.BackupRunning)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var r string
			if err := tx.QueryRowContext(ctx, "SELECT result FROM backups WHERE id = ?", b.ID).Scan(&r); errors.Is(err, sql.ErrNoRows) {
				return plan.NoBackup(b.ID)
			}
			return fmt.Errorf("backup %s: %w", b.ID, ledger.ErrBackupFinished)
		}
		return nil
	})
}

// SetVerify implements ledger.BackupStore.
func (s *Store) SetVerify(ctx context.Context, id string, at time.Time, passed bool, detail string) error {
	var verified int64
	if passed {
		verified = at.UnixMicro()
	}
	return s.writeTx(ctx, "set verify", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE backups SET verified_at = ?, checked_at = ?, verify_error = ? WHERE id = ?",
			verified, at.UnixMicro(), plan.VerifyDetail(detail), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return plan.NoBackup(id)
		}
		return nil
	})
}

// Backups implements ledger.BackupStore.
func (s *Store) Backups(ctx context.Context, f ledger.BackupFilter) ([]ledger.BackupRecord, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	q, args := "SELECT "+backupCols+" FROM backups", []any{}
	if f.Source != "" {
		q += " WHERE source = ?"
		args = append(args, f.Source)
	}
	q += " ORDER BY started DESC, generation DESC LIMIT ?"
	args = append(args, plan.BackupLimit(f.Limit))
	return s.queryBackups(ctx, s.r, q, args...)
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func (s *Store) queryBackups(ctx context.Context, db querier, q string, args ...any) ([]ledger.BackupRecord, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.wrap("backups", err)
	}
	defer rows.Close()
	var out []ledger.BackupRecord
	for rows.Next() {
		b, err := scanBackup(rows)
		if err != nil {
			return nil, s.wrap("backups", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("backups", err)
	}
	return out, nil
}

// Backup implements ledger.BackupStore.
func (s *Store) Backup(ctx context.Context, id string) (ledger.BackupRecord, error) {
	if s.closed.Load() {
		return ledger.BackupRecord{}, ledger.ErrClosed
	}
	b, err := scanBackup(s.r.QueryRowContext(ctx, "SELECT "+backupCols+" FROM backups WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return b, fmt.Errorf("sqlite ledger: %w", plan.NoBackup(id))
	}
	if err != nil {
		return b, s.wrap("backup", err)
	}
	return b, nil
}

// DeleteBackup implements ledger.BackupStore.
func (s *Store) DeleteBackup(ctx context.Context, id string) error {
	return s.writeTx(ctx, "delete backup", func(tx *sql.Tx) error {
		target, err := scanBackup(tx.QueryRowContext(ctx, "SELECT "+backupCols+" FROM backups WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return plan.NoBackup(id)
		}
		if err != nil {
			return err
		}
		same, err := s.queryBackups(ctx, tx, "SELECT "+backupCols+" FROM backups WHERE source = ? AND verified_at <> 0", target.Source)
		if err != nil {
			return err
		}
		if err := plan.CheckDeleteBackup(target, same); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM backups WHERE id = ?", id)
		return err
	})
}
