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

var (
	_ ledger.DrillStore    = (*Store)(nil)
	_ ledger.PasswordStore = (*Store)(nil)
)

// RecordDrill implements ledger.DrillStore.
func (s *Store) RecordDrill(ctx context.Context, d ledger.DrillRecord) error {
	steps, err := plan.CheckDrill(d)
	if err != nil {
		return err
	}
	return s.writeTx(ctx, "record drill", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO drills (id, name, kind, run, by, started, injected, served, ended,
			rto, rpo, rpo_time, target_rto, target_rpo, result, reason, steps)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, run = excluded.run, by = excluded.by,
			started = excluded.started, injected = excluded.injected, served = excluded.served, ended = excluded.ended,
			rto = excluded.rto, rpo = excluded.rpo, rpo_time = excluded.rpo_time, target_rto = excluded.target_rto,
			target_rpo = excluded.target_rpo, result = excluded.result, reason = excluded.reason, steps = excluded.steps`,
			d.ID, d.Name, d.Kind, d.Run, d.By, d.Started.UnixMicro(), microsOrZero(d.Injected), microsOrZero(d.Served),
			microsOrZero(d.Ended), d.RTO.Microseconds(), d.RPO, d.RPOTime.Microseconds(), d.TargetRTO.Microseconds(),
			d.TargetRPO, d.Result, plan.Clip(d.Reason, plan.MaxReason), string(steps))
		return err
	})
}

const drillCols = `id, name, kind, run, by, started, injected, served, ended, rto, rpo, rpo_time, target_rto, target_rpo, result, reason, steps`

func scanDrill(sc interface{ Scan(...any) error }) (ledger.DrillRecord, error) {
	var (
		d                                ledger.DrillRecord
		started, injected, served, ended int64
		rto, rpoTime, targetRTO          int64
		steps                            string
	)
	if err := sc.Scan(&d.ID, &d.Name, &d.Kind, &d.Run, &d.By, &started, &injected, &served, &ended,
		&rto, &d.RPO, &rpoTime, &targetRTO, &d.TargetRPO, &d.Result, &d.Reason, &steps); err != nil {
		return d, err
	}
	d.Started, d.Injected, d.Served, d.Ended = timeOrZero(started), timeOrZero(injected), timeOrZero(served), timeOrZero(ended)
	d.RTO, d.RPOTime, d.TargetRTO = time.Duration(rto)*time.Microsecond, time.Duration(rpoTime)*time.Microsecond, time.Duration(targetRTO)*time.Microsecond
	d.Steps = plan.DrillSteps([]byte(steps))
	return d, nil
}

// Drills implements ledger.DrillStore.
func (s *Store) Drills(ctx context.Context, f ledger.DrillFilter) ([]ledger.DrillRecord, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	q := "SELECT " + drillCols + " FROM drills WHERE 1=1"
	var args []any
	if f.Name != "" {
		q += " AND name = ?"
		args = append(args, f.Name)
	}
	if !f.From.IsZero() {
		q += " AND started >= ?"
		args = append(args, f.From.UnixMicro())
	}
	if !f.To.IsZero() {
		q += " AND started < ?"
		args = append(args, f.To.UnixMicro())
	}
	q += " ORDER BY started DESC, id DESC LIMIT ?"
	args = append(args, plan.RunLimit(f.Limit))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.wrap("drills", err)
	}
	defer rows.Close()
	var out []ledger.DrillRecord
	for rows.Next() {
		d, err := scanDrill(rows)
		if err != nil {
			return nil, s.wrap("drills", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("drills", err)
	}
	return out, nil
}

// Drill implements ledger.DrillStore.
func (s *Store) Drill(ctx context.Context, id string) (ledger.DrillRecord, error) {
	if s.closed.Load() {
		return ledger.DrillRecord{}, ledger.ErrClosed
	}
	d, err := scanDrill(s.r.QueryRowContext(ctx, "SELECT "+drillCols+" FROM drills WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("sqlite ledger: %w", plan.NoDrill(id))
	}
	if err != nil {
		return d, s.wrap("drill", err)
	}
	return d, nil
}

// PendingPassword implements ledger.PasswordStore.
func (s *Store) PendingPassword(ctx context.Context, account, sealed, by string, at time.Time) error {
	if err := plan.CheckPassword(account, sealed); err != nil {
		return err
	}
	return s.writeTx(ctx, "pending password", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO account_passwords (account, slot, sealed, by, at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (account, slot) DO UPDATE SET sealed = excluded.sealed, by = excluded.by, at = excluded.at`,
			account, ledger.SlotPending, sealed, by, at.UnixMicro())
		return err
	})
}

// CommitPassword implements ledger.PasswordStore.
func (s *Store) CommitPassword(ctx context.Context, account string, at time.Time) error {
	return s.writeTx(ctx, "commit password", func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM account_passwords WHERE account = ? AND slot = ?`,
			account, ledger.SlotPending).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("account %q: %w", account, plan.ErrNoPending)
		}
		for _, q := range []string{
			`DELETE FROM account_passwords WHERE account = ? AND slot = 'previous'`,
			`UPDATE account_passwords SET slot = 'previous' WHERE account = ? AND slot = 'current'`,
			`UPDATE account_passwords SET slot = 'current' WHERE account = ? AND slot = 'pending'`,
		} {
			if _, err := tx.ExecContext(ctx, q, account); err != nil {
				return err
			}
		}
		return nil
	})
}

// AbortPassword implements ledger.PasswordStore.
func (s *Store) AbortPassword(ctx context.Context, account, reason string, at time.Time) error {
	return s.writeTx(ctx, "abort password", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM account_passwords WHERE account = ? AND slot = 'pending'`, account); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO account_password_aborts (account, reason, at) VALUES (?, ?, ?)
			ON CONFLICT (account) DO UPDATE SET reason = excluded.reason, at = excluded.at`,
			account, plan.Clip(reason, plan.MaxReason), at.UnixMicro())
		return err
	})
}

// Password implements ledger.PasswordStore.
func (s *Store) Password(ctx context.Context, account string) (ledger.PasswordRecord, error) {
	all, err := s.passwords(ctx, account, true)
	if err != nil {
		return ledger.PasswordRecord{}, err
	}
	if len(all) == 0 {
		return ledger.PasswordRecord{}, fmt.Errorf("sqlite ledger: %w", plan.NoPassword(account))
	}
	return all[0], nil
}

// Passwords implements ledger.PasswordStore.
func (s *Store) Passwords(ctx context.Context) ([]ledger.PasswordRecord, error) {
	return s.passwords(ctx, "", false)
}

func (s *Store) passwords(ctx context.Context, account string, sealed bool) ([]ledger.PasswordRecord, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	q := `SELECT account, slot, sealed, by, at, '' AS reason FROM account_passwords WHERE (? = '' OR account = ?)
		UNION ALL SELECT account, 'abort', '', '', at, reason FROM account_password_aborts WHERE (? = '' OR account = ?)
		ORDER BY 1`
	rows, err := s.r.QueryContext(ctx, q, account, account, account, account)
	if err != nil {
		return nil, s.wrap("passwords", err)
	}
	defer rows.Close()
	var rs []plan.PasswordRow
	for rows.Next() {
		var (
			r  plan.PasswordRow
			at int64
		)
		if err := rows.Scan(&r.Account, &r.Slot, &r.Sealed, &r.By, &at, &r.Reason); err != nil {
			return nil, s.wrap("passwords", err)
		}
		r.At = timeOrZero(at)
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("passwords", err)
	}
	return plan.PasswordRecords(rs, sealed), nil
}
