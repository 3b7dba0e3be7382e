package report_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/report"
)

// TestArchiveInLedger: a report saved through the ledger reads back byte
// for byte with its window and CSV checksum; a file over the limit is
// refused naming it; a legacy <data_dir>/reports folder is imported once.
func TestArchiveInLedger(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a := &report.Archive{Store: s}
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	r := &report.Report{Month: "2026-10", Day: "2026-10-15", CSVSHA256: strings.Repeat("c", 64),
		Window: report.Window{From: from, To: from.AddDate(0, 1, 0), TimeZone: "Asia/Tokyo"}}
	files := report.Files{"report.html": []byte("<p>x</p>"), "servers.csv": []byte("a,b\n")}
	e, err := a.Save(ctx, r, files, "se1", from.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != "2026-10_2026-10-15" || e.Files["servers.csv"] != 4 || len(e.SHA256["report.html"]) != 64 || e.Window.TimeZone != "Asia/Tokyo" {
		t.Errorf("entry %+v", e)
	}
	b, made, err := a.Open(ctx, e.ID, "report.html")
	if err != nil || !bytes.Equal(b, files["report.html"]) || !made.Equal(from.AddDate(0, 1, 0)) {
		t.Errorf("open: %q %s %v", b, made, err)
	}
	if _, _, err := a.Open(ctx, e.ID, "../../etc/passwd"); !errors.Is(err, report.ErrNoReport) {
		t.Errorf("bad name: %v", err)
	}
	big := report.Files{"report.html": make([]byte, ledger.MaxReportFile+1)}
	if _, err := a.Save(ctx, &report.Report{Month: "2026-09", Day: "2026-09-01"}, big, "se1", time.Now()); !errors.Is(err, ledger.ErrTooLarge) ||
		!strings.Contains(err.Error(), "report.html") {
		t.Errorf("big: %v", err)
	}

	// A folder an older unyo wrote.
	dir := t.TempDir()
	old := report.Entry{ID: "2026-08_2026-08-03", Month: "2026-08", Day: "2026-08-03", CSVSHA256: strings.Repeat("d", 64),
		Files: map[string]int64{"report.html": 3}, MadeBy: "job:monthly-report/report", MadeAt: from.AddDate(0, -1, 0)}
	os.MkdirAll(filepath.Join(dir, old.ID), 0o750)
	os.WriteFile(filepath.Join(dir, old.ID, "report.html"), []byte("old"), 0o640)
	idx, _ := json.Marshal([]report.Entry{old, e}) // e is in the ledger already
	os.WriteFile(filepath.Join(dir, "index.json"), idx, 0o640)
	n, err := a.ImportDir(ctx, dir)
	if err != nil || n != 1 {
		t.Fatalf("import: %d %v", n, err)
	}
	if n, err := a.ImportDir(ctx, dir); err != nil || n != 0 {
		t.Errorf("import again: %d %v", n, err)
	}
	l, err := a.List(ctx)
	if err != nil || len(l) != 2 || l[1].ID != old.ID || l[1].MadeBy != old.MadeBy {
		t.Errorf("list %+v %v", l, err)
	}
}
