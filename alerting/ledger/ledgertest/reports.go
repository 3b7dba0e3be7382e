package ledgertest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

// RunReports checks a ledger.ReportStore: save and read back byte for
// byte, replace whole, newest first, unknown ids and names, bad names and
// the size limits (nothing stored on refusal).
func RunReports(t *testing.T, open func(t *testing.T) ledger.Store) {
	s, ok := open(t).(ledger.ReportStore)
	if !ok {
		t.Fatal("store does not implement ledger.ReportStore")
	}
	ctx := t.Context()
	from := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	meta := func(id string) ledger.StoredReport {
		return ledger.StoredReport{ID: id, Month: id[:7], Day: id[8:], WindowFrom: from, WindowTo: from.AddDate(0, 1, 0),
			TimeZone: "Asia/Tokyo", CSVSHA256: strings.Repeat("ab", 32), MadeBy: "se1", MadeAt: from.AddDate(0, 1, 0).Add(6 * time.Hour),
			PDF: "not printed"}
	}
	bin := []byte{0, 1, 2, 0xff, '\n', 0}
	files := map[string][]byte{"report.html": []byte("<html>é</html>"), "servers.csv": []byte("a,b\n1,2\n"), "report.pdf": bin,
		"summary.json": []byte(`{}`)}
	got, err := s.SaveReport(ctx, meta("2026-10_2026-10-15"), files)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Files) != 4 || got.Files[0].Name != "report.html" || got.Files[1].Name != "report.pdf" || got.Files[1].Size != int64(len(bin)) || len(got.Files[1].SHA256) != 64 {
		t.Fatalf("saved files %+v", got.Files)
	}
	if _, err := s.SaveReport(ctx, meta("2026-09_2026-09-02"), map[string][]byte{"report.html": []byte("sept")}); err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		b, f, err := s.ReportFile(ctx, "2026-10_2026-10-15", name)
		if err != nil || !bytes.Equal(b, want) || f.Size != int64(len(want)) {
			t.Errorf("file %s: %q %+v %v, want %q", name, b, f, err, want)
		}
	}
	l, err := s.Reports(ctx)
	if err != nil || len(l) != 2 || l[0].ID != "2026-10_2026-10-15" || l[1].ID != "2026-09_2026-09-02" {
		t.Fatalf("Reports: %+v, %v", l, err)
	}
	r := l[0]
	if !r.WindowFrom.Equal(from) || !r.WindowTo.Equal(from.AddDate(0, 1, 0)) || r.TimeZone != "Asia/Tokyo" || r.CSVSHA256 != meta("2026-10_2026-10-15").CSVSHA256 ||
		r.MadeBy != "se1" || !r.MadeAt.Equal(meta("2026-10_2026-10-15").MadeAt) || r.PDF != "not printed" || len(r.Files) != 4 || r.Month != "2026-10" || r.Day != "2026-10-15" {
		t.Errorf("listed %+v", r)
	}
	// Made again: replaced whole (the PDF is gone).
	if _, err := s.SaveReport(ctx, meta("2026-10_2026-10-15"), map[string][]byte{"report.html": []byte("again")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ReportFile(ctx, "2026-10_2026-10-15", "report.pdf"); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("old pdf after replace: %v", err)
	}
	if b, _, err := s.ReportFile(ctx, "2026-10_2026-10-15", "report.html"); err != nil || string(b) != "again" {
		t.Errorf("replaced html %q %v", b, err)
	}
	if _, _, err := s.ReportFile(ctx, "2026-01_2026-01-01", "report.html"); !errors.Is(err, incident.ErrNotFound) {
		t.Errorf("unknown report: %v", err)
	}
	// Refusals store nothing.
	big := make([]byte, ledger.MaxReportFile+1)
	if _, err := s.SaveReport(ctx, meta("2026-08_2026-08-01"), map[string][]byte{"report.html": big}); !errors.Is(err, ledger.ErrTooLarge) ||
		!strings.Contains(err.Error(), "report.html") {
		t.Errorf("big file: %v", err)
	}
	var fe *incident.FieldError
	for _, c := range []struct {
		id    string
		files map[string][]byte
	}{
		{"../etc", map[string][]byte{"report.html": nil}},
		{"2026-08_2026-08-01", map[string][]byte{"../x.html": nil}},
		{"2026-08_2026-08-01", map[string][]byte{"report.exe": nil}},
		{"2026-08_2026-08-01", nil},
	} {
		if _, err := s.SaveReport(ctx, meta2(meta, c.id), c.files); !errors.As(err, &fe) {
			t.Errorf("SaveReport(%q, %v): %v, want a field error", c.id, c.files, err)
		}
	}
	if l, _ := s.Reports(ctx); len(l) != 2 {
		t.Errorf("after refusals: %d reports, want 2", len(l))
	}
	// An empty file (nil or not) is stored as no bytes, not refused.
	if _, err := s.SaveReport(ctx, meta("2026-07_2026-07-01"), map[string][]byte{"servers.csv": nil, "report.html": {}}); err != nil {
		t.Fatalf("empty files: %v", err)
	}
	for _, name := range []string{"servers.csv", "report.html"} {
		if b, f, err := s.ReportFile(ctx, "2026-07_2026-07-01", name); err != nil || len(b) != 0 || f.Size != 0 {
			t.Errorf("empty file %s: %q %+v %v", name, b, f, err)
		}
	}
}

// meta2 is meta for ids too short to slice.
func meta2(meta func(string) ledger.StoredReport, id string) ledger.StoredReport {
	if len(id) < 18 {
		return ledger.StoredReport{ID: id}
	}
	return meta(id)
}
