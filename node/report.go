package node

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/unyo-ops/unyo/alerting/availability"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/notify/mail"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/jobnet"
	"github.com/unyo-ops/unyo/report"
)

// ReportOptions configure the monthly reports (package report).
type ReportOptions struct {
	// Dir is where an older unyo kept made reports ("": the node makes
	// none); FromConfig sets <data_dir>/reports. Reports are kept in the
	// ledger (ledger.ReportStore); those found here are imported once.
	Dir string
	// Chromium prints the PDF: "" finds one on PATH, "-" prints none.
	Chromium string
}

// reports makes and serves the node's monthly reports; nil without
// ReportOptions.Dir.
type reports struct {
	n       *Node
	archive *report.Archive
	// imported: the legacy directory has been imported (importOnce).
	imported sync.Once
}

// importOnce moves the reports an older unyo kept in Dir into the ledger,
// the first time the reports are used after the store opened.
func (r *reports) importOnce(ctx context.Context) {
	if _, err := r.n.store.get(); err != nil {
		return
	}
	r.imported.Do(func() {
		n, err := r.archive.ImportDir(ctx, r.n.opts.Reports.Dir)
		if err != nil {
			r.n.log.Warn("reports: import of the report directory", "dir", r.n.opts.Reports.Dir, "imported", n, "err", err)
			return
		}
		if n > 0 {
			r.n.log.Info("reports: imported into the ledger", "dir", r.n.opts.Reports.Dir, "reports", n)
		}
	})
}

func (n *Node) reportsView() console.Reports {
	if n.opts.Reports.Dir == "" {
		return nil
	}
	if n.reports == nil {
		n.reports = &reports{n: n, archive: &report.Archive{Store: n.store}}
	}
	return n.reports
}

func (r *reports) chromium() string {
	switch p := r.n.opts.Reports.Chromium; p {
	case "":
		return report.Chromium()
	case "-":
		return ""
	default:
		return p
	}
}

func (r *reports) options(month time.Time, day string, progress func(string, int, int)) (report.Options, error) {
	n := r.n
	o := report.Options{Month: month, Location: n.opts.Alerting.Config.Location, Now: time.Now(), Progress: progress}
	if day != "" {
		d, err := time.Parse(time.DateOnly, day)
		if err != nil {
			return o, fmt.Errorf("day %q: want YYYY-MM-DD", day)
		}
		o.Day = d
	}
	if n.mon != nil {
		for _, t := range n.mon.targetList() {
			l := maps.Clone(t.Tags)
			if l == nil {
				l = map[string]string{}
			}
			if t.Site != "" {
				l["site"] = t.Site
			}
			o.Targets = append(o.Targets, availability.KnownTarget{Name: t.Name, Labels: l})
		}
	}
	return o, nil
}

// Make implements console.Reports.
func (r *reports) Make(ctx context.Context, month, day, by string, progress func(string, int, int)) (report.Entry, error) {
	loc := r.n.opts.Alerting.Config.Location
	if loc == nil {
		loc = time.UTC
	}
	m, err := time.ParseInLocation("2006-01", month, loc)
	if err != nil {
		return report.Entry{}, fmt.Errorf("month %q: want YYYY-MM", month)
	}
	e, _, err := r.make(ctx, m, day, by, progress)
	return e, err
}

func (r *reports) make(ctx context.Context, month time.Time, day, by string, progress func(string, int, int)) (report.Entry, report.Files, error) {
	o, err := r.options(month, day, progress)
	if err != nil {
		return report.Entry{}, nil, err
	}
	start := time.Now()
	rep, files, err := report.Make(ctx, r.n.store, o, r.chromium())
	if err != nil {
		return report.Entry{}, nil, err
	}
	r.importOnce(ctx)
	e, err := r.archive.Save(ctx, rep, files, by, time.Now())
	if err != nil {
		return report.Entry{}, nil, err
	}
	r.n.log.Info("monthly report made", "id", e.ID, "by", by, "took", time.Since(start).Round(time.Millisecond),
		"html_bytes", len(files[report.HTMLFile]), "pdf", rep.PDF)
	return e, files, nil
}

// List implements console.Reports.
func (r *reports) List(ctx context.Context) ([]report.Entry, error) {
	r.importOnce(ctx)
	return r.archive.List(ctx)
}

// Open implements console.Reports.
func (r *reports) Open(ctx context.Context, id, name string) ([]byte, time.Time, error) {
	return r.archive.Open(ctx, id, name)
}

// The lazy store keeps the reports once the real store is open.

var _ ledger.ReportStore = (*lazyStore)(nil)

func (l *lazyStore) reportStore() (ledger.ReportStore, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	rs, ok := s.(ledger.ReportStore)
	if !ok {
		return nil, fmt.Errorf("%w: the %T store keeps no reports", ledger.ErrUnavailable, s)
	}
	return rs, nil
}

// SaveReport implements ledger.ReportStore.
func (l *lazyStore) SaveReport(ctx context.Context, r ledger.StoredReport, files map[string][]byte) (ledger.StoredReport, error) {
	s, err := l.reportStore()
	if err != nil {
		return r, err
	}
	return s.SaveReport(ctx, r, files)
}

// Reports implements ledger.ReportStore.
func (l *lazyStore) Reports(ctx context.Context) ([]ledger.StoredReport, error) {
	s, err := l.reportStore()
	if err != nil {
		return nil, err
	}
	return s.Reports(ctx)
}

// ReportFile implements ledger.ReportStore.
func (l *lazyStore) ReportFile(ctx context.Context, id, name string) ([]byte, ledger.StoredFile, error) {
	s, err := l.reportStore()
	if err != nil {
		return nil, ledger.StoredFile{}, err
	}
	return s.ReportFile(ctx, id, name)
}

// builtin is the job kind "report": the month before the run was due (or
// the month it was due in), stored, and mailed to the roles' contacts.
func (r *reports) builtin(ctx context.Context, t jobnet.Task) (int, string, error) {
	loc := r.n.opts.Alerting.Config.Location
	if loc == nil {
		loc = time.UTC
	}
	due := t.Scheduled
	if due.IsZero() {
		due = time.Now()
	}
	due = due.In(loc)
	month := time.Date(due.Year(), due.Month(), 1, 0, 0, 0, 0, loc)
	if t.Report.Month != "current" {
		month = month.AddDate(0, -1, 0)
	}
	var out strings.Builder
	e, files, err := r.make(ctx, month, "", "job:"+t.Jobnet+"/"+t.Job, func(stage string, done, total int) {
		fmt.Fprintf(&out, "%s (%d/%d)\n", stage, done+1, total)
	})
	if err != nil {
		return 1, out.String(), err
	}
	fmt.Fprintf(&out, "report %s stored; pdf: %s\n", e.ID, e.PDF)
	roles := t.Report.MailRoles
	if len(roles) == 0 {
		return 0, out.String(), nil
	}
	if r.n.opts.Alerting.Mail == nil {
		fmt.Fprintf(&out, "not mailed: alerting.smtp is not configured\n")
		return 1, out.String(), fmt.Errorf("report %s: cannot mail it to %s: alerting.smtp is not configured", e.ID, strings.Join(roles, ", "))
	}
	var to []string
	for _, oc := range r.n.opts.Alerting.Config.OnCall(time.Now()) {
		if slices.Contains(roles, oc.Role) {
			for _, c := range oc.Contacts {
				to = append(to, c.Mail...)
			}
		}
	}
	slices.Sort(to)
	to = slices.Compact(to)
	if len(to) == 0 {
		return 1, out.String(), fmt.Errorf("report %s: roles %s have no mail address", e.ID, strings.Join(roles, ", "))
	}
	m, err := mail.New(*r.n.opts.Alerting.Mail)
	if err != nil {
		return 1, out.String(), err
	}
	names := []string{report.HTMLFile, report.JSONFile}
	if _, ok := files[report.PDFFile]; ok {
		names = append(names, report.PDFFile)
	}
	text := fmt.Sprintf("The monthly performance report for %s (picked day %s) is attached.\n\nData window: %s – %s (%s)\nSHA-256 of its CSV files: %s\nPDF: %s\n\nAll files, the CSV tables too: unyo report list; GET /api/v1/reports/%s/<file>\n",
		e.Month, e.Day, e.Window.From.Format(time.DateOnly), e.Window.To.Format(time.DateOnly), e.Window.TimeZone, e.CSVSHA256, e.PDF, e.ID)
	if err := m.SendFiles(ctx, to, "unyo monthly performance report "+e.Month, text, "report-"+e.ID+"-"+t.Run, names, files); err != nil {
		return 1, out.String(), err
	}
	fmt.Fprintf(&out, "mailed to %s (%s)\n", strings.Join(roles, ", "), strings.Join(to, ", "))
	return 0, out.String(), nil
}

// builtins are the node's built-in job kinds.
func (n *Node) builtins() map[string]jobnet.Builtin {
	b := jobnet.Builtins(nil)
	if r, ok := n.reportsView().(*reports); ok && r != nil {
		b[configs.JobKindReport] = r.builtin
	} else {
		b[configs.JobKindReport] = func(context.Context, jobnet.Task) (int, string, error) {
			return 2, "", fmt.Errorf("this node makes no reports (no data_dir)")
		}
	}
	b[configs.JobKindBackup] = n.backupJob
	b[configs.JobKindBackupVerify] = n.backupVerifyJob
	b[configs.JobKindDrill] = n.drillBuiltin
	b[configs.JobKindRotatePassword] = n.rotateBuiltin
	return b
}
