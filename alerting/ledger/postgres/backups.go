package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
)

var _ ledger.BackupStore = (*Store)(nil)

const backupCols = `id, source, kind, destination, generation, size, started, ended, result, error, by_whom, manifest,
	verified_at, checked_at, verify_error`

func scanBackup(sc pgx.Row) (ledger.BackupRecord, error) {
	var (
		b                            ledger.BackupRecord
		manifest                     string
		ended, verifiedAt, checkedAt *time.Time
	)
	err := sc.Scan(&b.ID, &b.Source, &b.Kind, &b.Destination, &b.Generation, &b.Size, &b.Started, &ended, &b.Result,
		&b.Error, &b.By, &manifest, &verifiedAt, &checkedAt, &b.VerifyError)
	if manifest != "" {
		b.Manifest = []byte(manifest)
	}
	b.Started = b.Started.UTC()
	b.Ended, b.VerifiedAt, b.CheckedAt = backupTime(ended), backupTime(verifiedAt), backupTime(checkedAt)
	return b, err
}

// BeginBackup implements ledger.BackupStore.
func (s *Store) BeginBackup(ctx context.Context, b ledger.BackupRecord) (ledger.BackupRecord, error) {
	if err := plan.CheckBeginBackup(b); err != nil {
		return b, err
	}
	err := s.tx(ctx, "begin backup", func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO backup_generations (source, generation) VALUES ($1, 1)
			ON CONFLICT (source) DO UPDATE SET generation = backup_generations.generation + 1 RETURNING generation`, b.Source).Scan(&b.Generation); err != nil {
			return err
		}
		b.ID, b.Result, b.Ended = plan.BackupID(b.Source, b.Generation), ledger.BackupRunning, time.Time{}
		_, err := tx.Exec(ctx, `INSERT INTO backups (id, source, kind, destination, generation, started, result, by_whom)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, b.ID, b.Source, b.Kind, b.Destination, b.Generation, b.Started.UTC(), b.Result, b.By)
		return err
	})
	return b, err
}

// FinishBackup implements ledger.BackupStore.
func (s *Store) FinishBackup(ctx context.Context, b ledger.BackupRecord) error {
	if err := plan.CheckFinishBackup(b); err != nil {
		return err
	}
	return s.tx(ctx, "finish backup", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE backups SET size = $1, ended = $2, result = $3, error = $4, manifest = $5
			WHERE id = $6 AND result = $7`, b.Size, nullTime(b.Ended), b.Result, b.Error, string(b.Manifest), b.ID, ledger.BackupRunning)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var r string
			if err := tx.QueryRow(ctx, "SELECT result FROM backups WHERE id = $1", b.ID).Scan(&r); errors.Is(err, pgx.ErrNoRows) {
				return plan.NoBackup(b.ID)
			}
			return fmt.Errorf("backup %s: %w", b.ID, ledger.ErrBackupFinished)
		}
		return nil
	})
}

// SetVerify implements ledger.BackupStore.
func (s *Store) SetVerify(ctx context.Context, id string, at time.Time, passed bool, detail string) error {
	var verified any
	if passed {
		verified = at.UTC()
	}
	return s.tx(ctx, "set verify", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "UPDATE backups SET verified_at = $1, checked_at = $2, verify_error = $3 WHERE id = $4",
			verified, at.UTC(), plan.VerifyDetail(detail), id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return plan.NoBackup(id)
		}
		return nil
	})
}

type querier interface {
	Query(ctx context.Context, q string, args ...any) (pgx.Rows, error)
}

func (s *Store) queryBackups(ctx context.Context, db querier, q string, args ...any) ([]ledger.BackupRecord, error) {
	rows, err := db.Query(ctx, q, args...)
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

// Backups implements ledger.BackupStore.
func (s *Store) Backups(ctx context.Context, f ledger.BackupFilter) ([]ledger.BackupRecord, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	q, args := "SELECT "+backupCols+" FROM backups", []any{}
	if f.Source != "" {
		q += " WHERE source = $1"
		args = append(args, f.Source)
	}
	args = append(args, plan.BackupLimit(f.Limit))
	q += fmt.Sprintf(" ORDER BY started DESC, generation DESC LIMIT $%d", len(args))
	return s.queryBackups(ctx, s.pool, q, args...)
}

// Backup implements ledger.BackupStore.
func (s *Store) Backup(ctx context.Context, id string) (ledger.BackupRecord, error) {
	if s.closed.Load() {
		return ledger.BackupRecord{}, ledger.ErrClosed
	}
	b, err := scanBackup(s.pool.QueryRow(ctx, "SELECT "+backupCols+" FROM backups WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return b, fmt.Errorf("postgres ledger: %w", plan.NoBackup(id))
	}
	if err != nil {
		return b, s.wrap("backup", err)
	}
	return b, nil
}

// DeleteBackup implements ledger.BackupStore. The source's rows are
// locked (FOR UPDATE) so two prunes cannot each delete one of the last
// two verified generations.
func (s *Store) DeleteBackup(ctx context.Context, id string) error {
	return s.tx(ctx, "delete backup", func(tx pgx.Tx) error {
		target, err := scanBackup(tx.QueryRow(ctx, "SELECT "+backupCols+" FROM backups WHERE id = $1", id))
		if errors.Is(err, pgx.ErrNoRows) {
			return plan.NoBackup(id)
		}
		if err != nil {
			return err
		}
		same, err := s.queryBackups(ctx, tx, "SELECT "+backupCols+" FROM backups WHERE source = $1 AND verified_at IS NOT NULL FOR UPDATE", target.Source)
		if err != nil {
			return err
		}
		if err := plan.CheckDeleteBackup(target, same); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM backups WHERE id = $1", id)
		return err
	})
}

// backupTime is a nullable column's time (zero for NULL), in UTC.
func backupTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
