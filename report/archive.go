package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

// Make builds, renders and (with o.Print or chromium set) prints a
// report. The PDF note in the report says whether it was printed and, if
// not, why.
func Make(ctx context.Context, s ledger.Store, o Options, chromium string) (*Report, Files, error) {
	r, err := Build(ctx, s, o)
	if err != nil {
		return nil, nil, err
	}
	printPDF := o.Print
	if printPDF == nil && chromium != "" {
		printPDF = func(ctx context.Context, html []byte) ([]byte, error) { return PDF(ctx, chromium, html) }
	}
	if printPDF == nil {
		r.PDF = "not printed: no Chromium on the node that made this report (install Debian's chromium for report.pdf)"
		files, err := Render(r)
		return r, files, err
	}
	r.PDF = "report.pdf, printed from this page by headless Chromium"
	files, err := Render(r)
	if err != nil {
		return nil, nil, err
	}
	if o.Progress != nil {
		o.Progress("pdf", len(Stages), len(Stages)+1)
	}
	pdf, perr := printPDF(ctx, files[HTMLFile])
	if perr != nil {
		r.PDF = "not printed: " + perr.Error()
		files, err = Render(r)
		return r, files, err
	}
	files[PDFFile] = pdf
	return r, files, nil
}

// Entry is one stored report.
type Entry struct {
	// ID is YYYY-MM_YYYY-MM-DD (month, picked day).
	ID    string `json:"id"`
	Month string `json:"month"`
	Day   string `json:"day"`
	// Window is the data window (From, To, TimeZone; summary.json has the
	// rest).
	Window    Window            `json:"window"`
	CSVSHA256 string            `json:"csv_sha256"`
	Files     map[string]int64  `json:"files"`            // name → size
	SHA256    map[string]string `json:"sha256,omitempty"` // name → SHA-256 of its bytes
	MadeBy    string            `json:"made_by"`
	MadeAt    time.Time         `json:"made_at"`
	PDF       string            `json:"pdf"`
}

// Archive keeps reports in the ledger (ledger.ReportStore), so every node
// sharing it lists and serves them and a report outlives the node that
// made it. Making the same month and day again replaces it.
type Archive struct {
	Store ledger.ReportStore
}

// ErrNoReport: no stored report or file by that name.
var ErrNoReport = errors.New("no such report")

var (
	idRE   = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}_[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	fileRE = regexp.MustCompile(`^[a-z0-9_]+\.(csv|json|html|pdf)$`)
)

func entryOf(s ledger.StoredReport) Entry {
	e := Entry{ID: s.ID, Month: s.Month, Day: s.Day, Window: Window{From: s.WindowFrom, To: s.WindowTo, TimeZone: s.TimeZone},
		CSVSHA256: s.CSVSHA256, Files: map[string]int64{}, SHA256: map[string]string{}, MadeBy: s.MadeBy, MadeAt: s.MadeAt, PDF: s.PDF}
	for _, f := range s.Files {
		e.Files[f.Name] = f.Size
		e.SHA256[f.Name] = f.SHA256
	}
	return e
}

// Save stores a rendered report in the ledger; a file or report over the
// ledger's limits is refused (ledger.ErrTooLarge) and nothing is stored.
func (a *Archive) Save(ctx context.Context, r *Report, files Files, by string, at time.Time) (Entry, error) {
	s := ledger.StoredReport{ID: r.Month + "_" + r.Day, Month: r.Month, Day: r.Day, WindowFrom: r.Window.From.UTC(),
		WindowTo: r.Window.To.UTC(), TimeZone: r.Window.TimeZone, CSVSHA256: r.CSVSHA256, MadeBy: by, MadeAt: at.UTC(), PDF: r.PDF}
	if !idRE.MatchString(s.ID) {
		return Entry{}, fmt.Errorf("report: id %q", s.ID)
	}
	s, err := a.Store.SaveReport(ctx, s, files)
	if err != nil {
		return Entry{}, fmt.Errorf("report %s: store: %w", s.ID, err)
	}
	return entryOf(s), nil
}

// List returns the stored reports, newest month first.
func (a *Archive) List(ctx context.Context) ([]Entry, error) {
	l, err := a.Store.Reports(ctx)
	if err != nil {
		return nil, fmt.Errorf("report: list: %w", err)
	}
	out := make([]Entry, 0, len(l))
	for _, s := range l {
		out = append(out, entryOf(s))
	}
	return out, nil
}

// Open returns the bytes of one file of a stored report and when the
// report was made, or ErrNoReport.
func (a *Archive) Open(ctx context.Context, id, name string) ([]byte, time.Time, error) {
	if !idRE.MatchString(id) || !fileRE.MatchString(name) {
		return nil, time.Time{}, ErrNoReport
	}
	b, _, err := a.Store.ReportFile(ctx, id, name)
	if errors.Is(err, incident.ErrNotFound) {
		return nil, time.Time{}, ErrNoReport
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	var made time.Time
	if l, err := a.Store.Reports(ctx); err == nil {
		for _, s := range l {
			if s.ID == id {
				made = s.MadeAt
			}
		}
	}
	return b, made, nil
}

// ImportDir moves the reports an older unyo kept under dir (index.json
// and one folder per report) into the ledger, skipping those the ledger
// already holds, and renames index.json to index.json.imported so it is
// done once. It returns how many it imported.
func (a *Archive) ImportDir(ctx context.Context, dir string) (int, error) {
	idxFile := filepath.Join(dir, "index.json")
	b, err := os.ReadFile(idxFile)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("report: import: %w", err)
	}
	var idx []Entry
	if err := json.Unmarshal(b, &idx); err != nil {
		return 0, fmt.Errorf("report: import: %s: %w", idxFile, err)
	}
	have := map[string]bool{}
	l, err := a.Store.Reports(ctx)
	if err != nil {
		return 0, fmt.Errorf("report: import: %w", err)
	}
	for _, s := range l {
		have[s.ID] = true
	}
	n := 0
	for _, e := range idx {
		if have[e.ID] || !idRE.MatchString(e.ID) {
			continue
		}
		files := Files{}
		for name := range e.Files {
			if !fileRE.MatchString(name) {
				continue
			}
			fb, err := os.ReadFile(filepath.Join(dir, e.ID, name))
			if err != nil {
				return n, fmt.Errorf("report: import %s: %w", e.ID, err)
			}
			files[name] = fb
		}
		s := ledger.StoredReport{ID: e.ID, Month: e.Month, Day: e.Day, WindowFrom: e.Window.From.UTC(), WindowTo: e.Window.To.UTC(),
			TimeZone: e.Window.TimeZone, CSVSHA256: e.CSVSHA256, MadeBy: e.MadeBy, MadeAt: e.MadeAt.UTC(), PDF: e.PDF}
		if _, err := a.Store.SaveReport(ctx, s, files); err != nil {
			return n, fmt.Errorf("report: import %s: %w", e.ID, err)
		}
		n++
	}
	if err := os.Rename(idxFile, idxFile+".imported"); err != nil {
		return n, fmt.Errorf("report: import: %w", err)
	}
	return n, nil
}
