package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
)

var _ ledger.ReportStore = (*Store)(nil)

// SaveReport implements ledger.ReportStore.
func (s *Store) SaveReport(ctx context.Context, r ledger.StoredReport, files map[string][]byte) (ledger.StoredReport, error) {
	r, err := plan.CheckReport(r, files)
	if err != nil {
		return r, fmt.Errorf("sqlite ledger: save report: %w", err)
	}
	err = s.writeTx(ctx, "save report", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM monthly_report_files WHERE report = ?`, r.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO monthly_reports (id, month, day, window_from, window_to, time_zone, csv_sha256, made_by, made_at, pdf)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET month = excluded.month, day = excluded.day, window_from = excluded.window_from,
			window_to = excluded.window_to, time_zone = excluded.time_zone, csv_sha256 = excluded.csv_sha256,
			made_by = excluded.made_by, made_at = excluded.made_at, pdf = excluded.pdf`,
			r.ID, r.Month, r.Day, r.WindowFrom.UnixMicro(), r.WindowTo.UnixMicro(), r.TimeZone, r.CSVSHA256, r.MadeBy,
			r.MadeAt.UnixMicro(), r.PDF); err != nil {
			return err
		}
		for _, f := range r.Files {
			if _, err := tx.ExecContext(ctx, `INSERT INTO monthly_report_files (report, name, size, sha256, body) VALUES (?, ?, ?, ?, ?)`,
				r.ID, f.Name, f.Size, f.SHA256, files[f.Name]); err != nil {
				return err
			}
		}
		return nil
	})
	return r, err
}

// Reports implements ledger.ReportStore.
func (s *Store) Reports(ctx context.Context) ([]ledger.StoredReport, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, month, day, window_from, window_to, time_zone, csv_sha256, made_by, made_at, pdf
		FROM monthly_reports ORDER BY id DESC LIMIT ?`, ledger.MaxReports)
	if err != nil {
		return nil, s.wrap("reports", err)
	}
	var out []ledger.StoredReport
	idx := map[string]int{}
	for rows.Next() {
		var (
			r                ledger.StoredReport
			from, to, madeAt int64
		)
		if err := rows.Scan(&r.ID, &r.Month, &r.Day, &from, &to, &r.TimeZone, &r.CSVSHA256, &r.MadeBy, &madeAt, &r.PDF); err != nil {
			rows.Close()
			return nil, s.wrap("reports", err)
		}
		r.WindowFrom, r.WindowTo, r.MadeAt = timeOrZero(from), timeOrZero(to), timeOrZero(madeAt)
		r.Files = []ledger.StoredFile{}
		idx[r.ID] = len(out)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, s.wrap("reports", err)
	}
	frows, err := s.r.QueryContext(ctx, `SELECT report, name, size, sha256 FROM monthly_report_files ORDER BY report, name`)
	if err != nil {
		return nil, s.wrap("reports", err)
	}
	defer frows.Close()
	for frows.Next() {
		var (
			id string
			f  ledger.StoredFile
		)
		if err := frows.Scan(&id, &f.Name, &f.Size, &f.SHA256); err != nil {
			return nil, s.wrap("reports", err)
		}
		if i, ok := idx[id]; ok {
			out[i].Files = append(out[i].Files, f)
		}
	}
	if err := frows.Err(); err != nil {
		return nil, s.wrap("reports", err)
	}
	if out == nil {
		out = []ledger.StoredReport{}
	}
	return out, nil
}

// ReportFile implements ledger.ReportStore.
func (s *Store) ReportFile(ctx context.Context, id, name string) ([]byte, ledger.StoredFile, error) {
	if s.closed.Load() {
		return nil, ledger.StoredFile{}, ledger.ErrClosed
	}
	f := ledger.StoredFile{Name: name}
	var b []byte
	err := s.r.QueryRowContext(ctx, `SELECT size, sha256, body FROM monthly_report_files WHERE report = ? AND name = ?`, id, name).
		Scan(&f.Size, &f.SHA256, &b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, f, fmt.Errorf("sqlite ledger: %w", plan.NoReport(id, name))
	}
	if err != nil {
		return nil, f, s.wrap("report file", err)
	}
	if err := plan.CheckReportFile(id, f, b); err != nil {
		return nil, f, fmt.Errorf("sqlite ledger: %w", err)
	}
	return b, f, nil
}
