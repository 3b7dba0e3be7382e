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
	return s.tx(ctx, "record drill", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO drills (id, name, kind, run, by_whom, started, injected, served, ended,
			rto, rpo, rpo_time, target_rto, target_rpo, result, reason, steps)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, run = excluded.run, by_whom = excluded.by_whom,
			started = excluded.started, injected = excluded.injected, served = excluded.served, ended = excluded.ended,
			rto = excluded.rto, rpo = excluded.rpo, rpo_time = excluded.rpo_time, target_rto = excluded.target_rto,
			target_rpo = excluded.target_rpo, result = excluded.result, reason = excluded.reason, steps = excluded.steps`,
			d.ID, d.Name, d.Kind, d.Run, d.By, d.Started.UTC(), nullTime(d.Injected), nullTime(d.Served),
			nullTime(d.Ended), d.RTO.Microseconds(), d.RPO, d.RPOTime.Microseconds(), d.TargetRTO.Microseconds(),
			d.TargetRPO, d.Result, plan.Clip(d.Reason, plan.MaxReason), string(steps))
		return err
	})
}

const drillCols = `id, name, kind, run, by_whom, started, injected, served, ended, rto, rpo, rpo_time, target_rto, target_rpo, result, reason, steps`

func scanDrill(row pgx.Row) (ledger.DrillRecord, error) {
	var (
		d                       ledger.DrillRecord
		injected, served, ended *time.Time
		rto, rpoTime, targetRTO int64
		steps                   []byte
	)
	if err := row.Scan(&d.ID, &d.Name, &d.Kind, &d.Run, &d.By, &d.Started, &injected, &served, &ended,
		&rto, &d.RPO, &rpoTime, &targetRTO, &d.TargetRPO, &d.Result, &d.Reason, &steps); err != nil {
		return d, err
	}
	d.Started = d.Started.UTC()
	d.Injected, d.Served, d.Ended = nullableTime(injected), nullableTime(served), nullableTime(ended)
	d.RTO, d.RPOTime, d.TargetRTO = time.Duration(rto)*time.Microsecond, time.Duration(rpoTime)*time.Microsecond, time.Duration(targetRTO)*time.Microsecond
	d.Steps = plan.DrillSteps(steps)
	return d, nil
}

// Drills implements ledger.DrillStore.
func (s *Store) Drills(ctx context.Context, f ledger.DrillFilter) ([]ledger.DrillRecord, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	rows, err := s.pool.Query(ctx, "SELECT "+drillCols+` FROM drills WHERE ($1 = '' OR name = $1)
		AND ($2::timestamptz IS NULL OR started >= $2) AND ($3::timestamptz IS NULL OR started < $3)
		ORDER BY started DESC, id DESC LIMIT $4`, f.Name, nullTime(f.From), nullTime(f.To), plan.RunLimit(f.Limit))
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
	d, err := scanDrill(s.pool.QueryRow(ctx, "SELECT "+drillCols+" FROM drills WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("postgres ledger: %w", plan.NoDrill(id))
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
	return s.tx(ctx, "pending password", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO account_passwords (account, slot, sealed, by_whom, at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (account, slot) DO UPDATE SET sealed = excluded.sealed, by_whom = excluded.by_whom, at = excluded.at`,
			account, ledger.SlotPending, sealed, by, at.UTC())
		return err
	})
}

// CommitPassword implements ledger.PasswordStore.
func (s *Store) CommitPassword(ctx context.Context, account string, at time.Time) error {
	return s.tx(ctx, "commit password", func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM account_passwords WHERE account = $1 AND slot = 'pending'`,
			account).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("account %q: %w", account, plan.ErrNoPending)
		}
		for _, q := range []string{
			`DELETE FROM account_passwords WHERE account = $1 AND slot = 'previous'`,
			`UPDATE account_passwords SET slot = 'previous' WHERE account = $1 AND slot = 'current'`,
			`UPDATE account_passwords SET slot = 'current' WHERE account = $1 AND slot = 'pending'`,
		} {
			if _, err := tx.Exec(ctx, q, account); err != nil {
				return err
			}
		}
		return nil
	})
}

// AbortPassword implements ledger.PasswordStore.
func (s *Store) AbortPassword(ctx context.Context, account, reason string, at time.Time) error {
	return s.tx(ctx, "abort password", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM account_passwords WHERE account = $1 AND slot = 'pending'`, account); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO account_password_aborts (account, reason, at) VALUES ($1, $2, $3)
			ON CONFLICT (account) DO UPDATE SET reason = excluded.reason, at = excluded.at`,
			account, plan.Clip(reason, plan.MaxReason), at.UTC())
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
		return ledger.PasswordRecord{}, fmt.Errorf("postgres ledger: %w", plan.NoPassword(account))
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
	rows, err := s.pool.Query(ctx, `SELECT account, slot, sealed, by_whom, at, '' AS reason FROM account_passwords WHERE ($1 = '' OR account = $1)
		UNION ALL SELECT account, 'abort', '', '', at, reason FROM account_password_aborts WHERE ($1 = '' OR account = $1)
		ORDER BY 1`, account)
	if err != nil {
		return nil, s.wrap("passwords", err)
	}
	defer rows.Close()
	var rs []plan.PasswordRow
	for rows.Next() {
		var r plan.PasswordRow
		if err := rows.Scan(&r.Account, &r.Slot, &r.Sealed, &r.By, &r.At, &r.Reason); err != nil {
			return nil, s.wrap("passwords", err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("passwords", err)
	}
	return plan.PasswordRecords(rs, sealed), nil
}

// nullableTime is a nullable column's time (zero for NULL), UTC.
func nullableTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
