package report

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
)

// Make builds, renders and (with chromium set) prints a report. The PDF
// note in the report says whether it was printed and, if not, why.
func Make(ctx context.Context, s ledger.Store, o Options, chromium string) (*Report, Files, error) {
	r, err := Build(ctx, s, o)
	if err != nil {
		return nil, nil, err
	}
	if chromium == "" {
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
	pdf, perr := PDF(ctx, chromium, files[HTMLFile])
	if perr != nil {
		r.PDF = "not printed: " + perr.Error()
		files, err = Render(r)
		return r, files, err
	}
	files[PDFFile] = pdf
	return r, files, nil
}

// Entry is one stored report in the index.
type Entry struct {
	// ID is the report's folder: YYYY-MM_YYYY-MM-DD (month, picked day).
	ID        string            `json:"id"`
	Month     string            `json:"month"`
	Day       string            `json:"day"`
	Window    Window            `json:"window"`
	CSVSHA256 string            `json:"csv_sha256"`
	Files     map[string]int64  `json:"files"` // name → size
	SHA256    map[string]string `json:"sha256,omitempty"`
	MadeBy    string            `json:"made_by"`
	MadeAt    time.Time         `json:"made_at"`
	PDF       string            `json:"pdf"`
}

// Archive keeps reports under a directory: one folder per report (ID)
// holding its files, and index.json listing them. Making the same month
// and day again replaces the folder.
type Archive struct {
	Dir string
	mu  sync.Mutex
}

// ErrNoReport: no stored report or file by that name.
var ErrNoReport = errors.New("no such report")

var (
	idRE   = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}_[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	fileRE = regexp.MustCompile(`^[a-z0-9_]+\.(csv|json|html|pdf)$`)
)

// Save stores a rendered report and adds it to the index.
func (a *Archive) Save(r *Report, files Files, by string, at time.Time) (Entry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := Entry{ID: r.Month + "_" + r.Day, Month: r.Month, Day: r.Day, Window: r.Window, CSVSHA256: r.CSVSHA256,
		Files: map[string]int64{}, SHA256: r.CSVFiles, MadeBy: by, MadeAt: at.UTC(), PDF: r.PDF}
	if !idRE.MatchString(e.ID) {
		return Entry{}, fmt.Errorf("report: id %q", e.ID)
	}
	tmp, err := os.MkdirTemp(a.Dir, ".new-")
	if err != nil {
		if err := os.MkdirAll(a.Dir, 0o750); err != nil {
			return Entry{}, fmt.Errorf("report: archive: %w", err)
		}
		if tmp, err = os.MkdirTemp(a.Dir, ".new-"); err != nil {
			return Entry{}, fmt.Errorf("report: archive: %w", err)
		}
	}
	for _, n := range files.Names() {
		if !fileRE.MatchString(n) {
			os.RemoveAll(tmp)
			return Entry{}, fmt.Errorf("report: file name %q", n)
		}
		if err := os.WriteFile(filepath.Join(tmp, n), files[n], 0o640); err != nil {
			os.RemoveAll(tmp)
			return Entry{}, fmt.Errorf("report: archive: %w", err)
		}
		e.Files[n] = int64(len(files[n]))
	}
	dst := filepath.Join(a.Dir, e.ID)
	if err := os.RemoveAll(dst); err != nil {
		return Entry{}, fmt.Errorf("report: archive: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return Entry{}, fmt.Errorf("report: archive: %w", err)
	}
	idx, err := a.load()
	if err != nil {
		return Entry{}, err
	}
	idx = slices.DeleteFunc(idx, func(x Entry) bool { return x.ID == e.ID })
	idx = append(idx, e)
	slices.SortFunc(idx, func(x, y Entry) int { return cmp.Compare(y.ID, x.ID) })
	b, _ := json.MarshalIndent(idx, "", "  ")
	f := filepath.Join(a.Dir, "index.json")
	if err := os.WriteFile(f+".tmp", b, 0o640); err != nil {
		return Entry{}, fmt.Errorf("report: index: %w", err)
	}
	if err := os.Rename(f+".tmp", f); err != nil {
		return Entry{}, fmt.Errorf("report: index: %w", err)
	}
	return e, nil
}

// List returns the stored reports, newest month first.
func (a *Archive) List() ([]Entry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.load()
}

func (a *Archive) load() ([]Entry, error) {
	b, err := os.ReadFile(filepath.Join(a.Dir, "index.json"))
	if errors.Is(err, os.ErrNotExist) {
		return []Entry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("report: index: %w", err)
	}
	var idx []Entry
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("report: %s: %w", filepath.Join(a.Dir, "index.json"), err)
	}
	return idx, nil
}

// Open returns the path of one file of a stored report.
func (a *Archive) Open(id, name string) (string, error) {
	if !idRE.MatchString(id) || !fileRE.MatchString(name) {
		return "", ErrNoReport
	}
	p := filepath.Join(a.Dir, id, name)
	if _, err := os.Stat(p); err != nil {
		return "", ErrNoReport
	}
	return p, nil
}
