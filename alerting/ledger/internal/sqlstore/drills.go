package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
)

// Failover drill results (ledger.DrillStore) and rotated passwords
// (ledger.PasswordStore); the rules are package plan's. Durations are
// stored in microseconds.

func (c *Core) drillCols() string {
	return `id, name, kind, run, ` + c.schema.By + `, started, injected, served, ended, rto, rpo, rpo_time, target_rto,
	target_rpo, result, reason, steps`
}

// RecordDrill implements ledger.DrillStore: insert or replace by id.
func (c *Core) RecordDrill(ctx context.Context, d ledger.DrillRecord) error {
	steps, err := plan.CheckDrill(d)
	if err != nil {
		return err
	}
	by := c.schema.By
	return c.writeTx(ctx, "record drill", func(tx DB) error {
		_, err := tx.Exec(ctx, `INSERT INTO drills (`+c.drillCols()+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, run = excluded.run, `+by+` = excluded.`+by+`,
			started = excluded.started, injected = excluded.injected, served = excluded.served, ended = excluded.ended,
			rto = excluded.rto, rpo = excluded.rpo, rpo_time = excluded.rpo_time, target_rto = excluded.target_rto,
			target_rpo = excluded.target_rpo, result = excluded.result, reason = excluded.reason, steps = excluded.steps`,
			d.ID, d.Name, d.Kind, d.Run, d.By, c.d.Time(d.Started), c.d.OptTime(d.Injected), c.d.OptTime(d.Served),
			c.d.OptTime(d.Ended), d.RTO.Microseconds(), d.RPO, d.RPOTime.Microseconds(), d.TargetRTO.Microseconds(),
			d.TargetRPO, d.Result, plan.Clip(d.Reason, plan.MaxReason), string(steps))
		return err
	})
}

func (c *Core) scanDrill(r Row) (ledger.DrillRecord, error) {
	var (
		d                       ledger.DrillRecord
		rto, rpoTime, targetRTO int64
		steps                   []byte
	)
	if err := r.Scan(&d.ID, &d.Name, &d.Kind, &d.Run, &d.By, c.d.ScanTime(&d.Started), c.d.ScanOptTime(&d.Injected),
		c.d.ScanOptTime(&d.Served), c.d.ScanOptTime(&d.Ended), &rto, &d.RPO, &rpoTime, &targetRTO, &d.TargetRPO,
		&d.Result, &d.Reason, &steps); err != nil {
		return d, err
	}
	d.RTO, d.RPOTime, d.TargetRTO = usDuration(rto), usDuration(rpoTime), usDuration(targetRTO)
	d.Steps = plan.DrillSteps(steps)
	return d, nil
}

func usDuration(v int64) time.Duration { return time.Duration(v) * time.Microsecond }

// Drills implements ledger.DrillStore: newest start first.
func (c *Core) Drills(ctx context.Context, f ledger.DrillFilter) ([]ledger.DrillRecord, error) {
	if c.closed.Load() {
		return nil, ledger.ErrClosed
	}
	q, args := "SELECT "+c.drillCols()+" FROM drills WHERE true", []any{}
	if f.Name != "" {
		q, args = q+" AND name = ?", append(args, f.Name)
	}
	if !f.From.IsZero() {
		q, args = q+" AND started >= ?", append(args, c.d.Time(f.From))
	}
	if !f.To.IsZero() {
		q, args = q+" AND started < ?", append(args, c.d.Time(f.To))
	}
	rows, err := c.read.Query(ctx, q+" ORDER BY started DESC, id DESC LIMIT ?", append(args, plan.RunLimit(f.Limit))...)
	out, err := collect(rows, err, c.scanDrill)
	return out, c.wrapNil("drills", err)
}

// Drill implements ledger.DrillStore.
func (c *Core) Drill(ctx context.Context, id string) (ledger.DrillRecord, error) {
	if c.closed.Load() {
		return ledger.DrillRecord{}, ledger.ErrClosed
	}
	d, err := c.scanDrill(c.read.QueryRow(ctx, "SELECT "+c.drillCols()+" FROM drills WHERE id = ?", id))
	if c.d.NoRows(err) {
		return d, c.fail(plan.NoDrill(id))
	}
	if err != nil {
		return d, c.wrap("drill", err)
	}
	return d, nil
}

// PendingPassword implements ledger.PasswordStore: sets (or replaces) the
// pending slot.
func (c *Core) PendingPassword(ctx context.Context, account, sealed, by string, at time.Time) error {
	if err := plan.CheckPassword(account, sealed); err != nil {
		return err
	}
	b := c.schema.By
	return c.writeTx(ctx, "pending password", func(tx DB) error {
		_, err := tx.Exec(ctx, `INSERT INTO account_passwords (account, slot, sealed, `+b+`, at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (account, slot) DO UPDATE SET sealed = excluded.sealed, `+b+` = excluded.`+b+`, at = excluded.at`,
			account, ledger.SlotPending, sealed, by, c.d.Time(at))
		return err
	})
}

// CommitPassword implements ledger.PasswordStore: previous is dropped,
// current becomes previous and pending current. The pending row is read
// locked (Dialect.ForUpdate, where many write), so a concurrent commit or
// abort of the same password waits and then finds no pending one: without
// the lock two commits would each demote a current password and leave the
// account without one.
func (c *Core) CommitPassword(ctx context.Context, account string, at time.Time) error {
	return c.writeTx(ctx, "commit password", func(tx DB) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM account_passwords WHERE account = ? AND slot = ?`+c.d.ForUpdate(),
			account, ledger.SlotPending).Scan(&one)
		if c.d.NoRows(err) {
			return fmt.Errorf("account %q: %w", account, plan.ErrNoPending)
		}
		if err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM account_passwords WHERE account = ? AND slot = 'previous'`,
			`UPDATE account_passwords SET slot = 'previous' WHERE account = ? AND slot = 'current'`,
			`UPDATE account_passwords SET slot = 'current' WHERE account = ? AND slot = 'pending'`,
		} {
			if _, err := tx.Exec(ctx, q, account); err != nil {
				return err
			}
		}
		return nil
	})
}

// AbortPassword implements ledger.PasswordStore: drops the pending slot and
// records why.
func (c *Core) AbortPassword(ctx context.Context, account, reason string, at time.Time) error {
	return c.writeTx(ctx, "abort password", func(tx DB) error {
		if _, err := tx.Exec(ctx, `DELETE FROM account_passwords WHERE account = ? AND slot = 'pending'`, account); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO account_password_aborts (account, reason, at) VALUES (?, ?, ?)
			ON CONFLICT (account) DO UPDATE SET reason = excluded.reason, at = excluded.at`,
			account, plan.Clip(reason, plan.MaxReason), c.d.Time(at))
		return err
	})
}

// Password implements ledger.PasswordStore.
func (c *Core) Password(ctx context.Context, account string) (ledger.PasswordRecord, error) {
	all, err := c.passwords(ctx, account, true)
	if err != nil {
		return ledger.PasswordRecord{}, err
	}
	if len(all) == 0 {
		return ledger.PasswordRecord{}, c.fail(plan.NoPassword(account))
	}
	return all[0], nil
}

// Passwords implements ledger.PasswordStore: every account, without the
// sealed values.
func (c *Core) Passwords(ctx context.Context) ([]ledger.PasswordRecord, error) {
	return c.passwords(ctx, "", false)
}

func (c *Core) passwords(ctx context.Context, account string, sealed bool) ([]ledger.PasswordRecord, error) {
	if c.closed.Load() {
		return nil, ledger.ErrClosed
	}
	rows, err := c.read.Query(ctx, `SELECT account, slot, sealed, `+c.schema.By+`, at, '' AS reason FROM account_passwords
		WHERE (? = '' OR account = ?)
		UNION ALL SELECT account, 'abort', '', '', at, reason FROM account_password_aborts WHERE (? = '' OR account = ?)
		ORDER BY 1`, account, account, account, account)
	rs, err := collect(rows, err, func(r Row) (plan.PasswordRow, error) {
		var p plan.PasswordRow
		err := r.Scan(&p.Account, &p.Slot, &p.Sealed, &p.By, c.d.ScanTime(&p.At), &p.Reason)
		return p, err
	})
	if err != nil {
		return nil, c.wrap("passwords", err)
	}
	return plan.PasswordRecords(rs, sealed), nil
}
