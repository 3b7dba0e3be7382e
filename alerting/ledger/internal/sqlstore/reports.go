package sqlstore

import (
	"context"
	"fmt"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/internal/plan"
)

// The stored monthly reports (ledger.ReportStore); the rules are package
// plan's.

// ReportCols are the columns of monthly_reports, in the order scanReport
// reads them.
const ReportCols = `id, month, day, window_from, window_to, time_zone, csv_sha256, made_by, made_at, pdf`

// fail prefixes a domain error (not a database failure) with the store's
// name.
func (c *Core) fail(err error) error { return fmt.Errorf("%s: %w", c.d.Name(), err) }

// SaveReport implements ledger.ReportStore: the metadata and every file in
// one transaction, replacing a report of the same id whole.
func (c *Core) SaveReport(ctx context.Context, r ledger.StoredReport, files map[string][]byte) (ledger.StoredReport, error) {
	r, err := plan.CheckReport(r, files)
	if err != nil {
		return r, c.errorf("save report", err)
	}
	err = c.writeTx(ctx, "save report", func(tx DB) error {
		if _, err := tx.Exec(ctx, `DELETE FROM monthly_report_files WHERE report = ?`, r.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO monthly_reports (`+ReportCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET month = excluded.month, day = excluded.day, window_from = excluded.window_from,
			window_to = excluded.window_to, time_zone = excluded.time_zone, csv_sha256 = excluded.csv_sha256,
			made_by = excluded.made_by, made_at = excluded.made_at, pdf = excluded.pdf`,
			r.ID, r.Month, r.Day, c.d.KeepTime(r.WindowFrom), c.d.KeepTime(r.WindowTo), r.TimeZone, r.CSVSHA256, r.MadeBy,
			c.d.KeepTime(r.MadeAt), r.PDF); err != nil {
			return err
		}
		for _, f := range r.Files {
			body := files[f.Name]
			if body == nil { // an empty file: bytes, not NULL
				body = []byte{}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO monthly_report_files (report, name, size, sha256, body) VALUES (?, ?, ?, ?, ?)`,
				r.ID, f.Name, f.Size, f.SHA256, body); err != nil {
				return err
			}
		}
		return nil
	})
	return r, err
}

// Reports implements ledger.ReportStore: newest id first, without bytes.
func (c *Core) Reports(ctx context.Context) ([]ledger.StoredReport, error) {
	if c.closed.Load() {
		return nil, ledger.ErrClosed
	}
	rows, err := c.read.Query(ctx, `SELECT `+ReportCols+` FROM monthly_reports ORDER BY id DESC LIMIT ?`, ledger.MaxReports)
	out, err := collect(rows, err, func(r Row) (ledger.StoredReport, error) {
		var rep ledger.StoredReport
		err := r.Scan(&rep.ID, &rep.Month, &rep.Day, c.d.ScanOptTime(&rep.WindowFrom), c.d.ScanOptTime(&rep.WindowTo),
			&rep.TimeZone, &rep.CSVSHA256, &rep.MadeBy, c.d.ScanOptTime(&rep.MadeAt), &rep.PDF)
		rep.Files = []ledger.StoredFile{}
		return rep, err
	})
	if err != nil {
		return nil, c.wrap("reports", err)
	}
	idx := make(map[string]int, len(out))
	for i, r := range out {
		idx[r.ID] = i
	}
	// The files of the listed reports only.
	type file struct {
		report string
		ledger.StoredFile
	}
	rows, err = c.read.Query(ctx, `SELECT report, name, size, sha256 FROM monthly_report_files
		WHERE report IN (SELECT id FROM monthly_reports ORDER BY id DESC LIMIT ?) ORDER BY report, name`, ledger.MaxReports)
	fs, err := collect(rows, err, func(r Row) (file, error) {
		var f file
		err := r.Scan(&f.report, &f.Name, &f.Size, &f.SHA256)
		return f, err
	})
	if err != nil {
		return nil, c.wrap("reports", err)
	}
	for _, f := range fs {
		if i, ok := idx[f.report]; ok {
			out[i].Files = append(out[i].Files, f.StoredFile)
		}
	}
	if out == nil {
		out = []ledger.StoredReport{}
	}
	return out, nil
}

// ReportFile implements ledger.ReportStore: the bytes as saved, checked
// against their SHA-256.
func (c *Core) ReportFile(ctx context.Context, id, name string) ([]byte, ledger.StoredFile, error) {
	if c.closed.Load() {
		return nil, ledger.StoredFile{}, ledger.ErrClosed
	}
	f := ledger.StoredFile{Name: name}
	var b []byte
	err := c.read.QueryRow(ctx, `SELECT size, sha256, body FROM monthly_report_files WHERE report = ? AND name = ?`, id, name).
		Scan(&f.Size, &f.SHA256, &b)
	if c.d.NoRows(err) {
		return nil, f, c.fail(plan.NoReport(id, name))
	}
	if err != nil {
		return nil, f, c.wrap("report file", err)
	}
	if err := plan.CheckReportFile(id, f, b); err != nil {
		return nil, f, c.fail(err)
	}
	return b, f, nil
}
