package report_test

import (
	"bytes"
	"context"
	"image/png"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/unyo-ops/unyo/report"
)

// TestReportInChromium opens the rendered page in headless Chromium at a
// phone's and an A4 page's width, checks the charts are drawn and the
// picked-day section is there, and prints the PDF: pdfinfo (or the PDF's
// own page objects) must count the pages it should have.
func TestReportInChromium(t *testing.T) {
	chromium := report.Chromium()
	if chromium == "" {
		t.Skip("no Chromium (scripts/test-deps.sh installs Debian's chromium)")
	}
	t.Parallel()
	f := newFixture(t)
	// One browser prints the PDF (Options.Print) and is then looked at.
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ctx, stop := report.Browser(ctx, chromium, dir)
	defer stop()
	printed := 0
	r, files, err := report.Make(ctx, f.store, report.Options{Month: oct, Day: day15, Targets: f.targets,
		Now: time.Date(2026, 11, 1, 0, 5, 0, 0, time.UTC), Print: func(_ context.Context, html []byte) ([]byte, error) {
			printed++
			return report.PrintPage(ctx, html, dir)
		}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if printed != 1 {
		t.Fatalf("Make printed %d times through Options.Print, want once", printed)
	}
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, files[report.HTMLFile], 0o600); err != nil {
		t.Fatal(err)
	}
	u := url.URL{Scheme: "file", Path: page}
	if err := chromedp.Do(ctx, chromedp.Navigate(u.String())); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		name  string
		width int64
	}{{"phone", 390}, {"a4", 794}} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(w.width, 900)); err != nil {
			t.Fatal(err)
		}
		charts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.chart svg').length`))
		if err != nil {
			t.Fatal(err)
		}
		drawn, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('.chart svg')].filter(s => s.getBoundingClientRect().width > 100 && s.querySelector('path,rect')).length`))
		if err != nil {
			t.Fatal(err)
		}
		// 2 groups × 8 metrics minus loss (a flat 0 is still a chart) = 16
		// daily charts, the top and budget bars, the day's charts.
		if charts < 18 || drawn != charts {
			t.Errorf("%s: %d charts, %d drawn wider than 100px", w.name, charts, drawn)
		}
		overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('.charts').scrollWidth > window.innerWidth`))
		if err != nil || overflow {
			t.Errorf("%s: the charts overflow the page (%v)", w.name, err)
		}
		dayBg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('section.day')).backgroundColor`))
		if err != nil || dayBg == getBody(ctx, t) {
			t.Errorf("%s: the picked day looks like the month (%q, %v)", w.name, dayBg, err)
		}
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil {
			// FullScreenshot gives JPEG for a quality below 100.
			if len(shot) < 10_000 {
				t.Errorf("%s: screenshot of %d bytes", w.name, len(shot))
			}
		} else if img.Bounds().Dx() != int(w.width) {
			t.Errorf("%s: screenshot %d px wide", w.name, img.Bounds().Dx())
		}
		if d := os.Getenv("UNYO_REPORT_SHOTS"); d != "" { // keep the screenshots and the PDF to look at
			_ = os.WriteFile(filepath.Join(d, w.name+".jpg"), shot, 0o600)
			_ = os.WriteFile(filepath.Join(d, "report.pdf"), files[report.PDFFile], 0o600)
			_ = os.WriteFile(filepath.Join(d, "report.html"), files[report.HTMLFile], 0o600)
		}
	}

	pdf := files[report.PDFFile]
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) || r.PDF == "" {
		t.Fatalf("no PDF: %q (%d bytes)", r.PDF, len(pdf))
	}
	pages := len(regexp.MustCompile(`/Type\s*/Page[^s]`).FindAll(pdf, -1))
	if info, err := exec.LookPath("pdfinfo"); err == nil {
		p := filepath.Join(dir, "report.pdf")
		_ = os.WriteFile(p, pdf, 0o600)
		out, err := exec.Command(info, p).Output()
		if err != nil {
			t.Fatalf("pdfinfo: %v", err)
		}
		m := regexp.MustCompile(`Pages:\s+(\d+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("pdfinfo: %s", out)
		}
		pages, _ = strconv.Atoi(string(m[1]))
		sz := regexp.MustCompile(`Page size:\s+([\d.]+) x ([\d.]+)`).FindSubmatch(out)
		if sz == nil {
			t.Fatalf("pdfinfo: %s", out)
		}
		w, _ := strconv.ParseFloat(string(sz[1]), 64)
		h, _ := strconv.ParseFloat(string(sz[2]), 64)
		if math.Abs(w-595.3) > 2 || math.Abs(h-841.9) > 2 {
			t.Errorf("page size %v × %v pt, want A4 (595 × 842)", w, h)
		}
	}
	// Title + groups, servers, top lists, the picked day, availability,
	// incidents, jobs, files: each major section starts a page.
	if pages < 8 || pages > 30 {
		t.Errorf("%d PDF pages, want 8 to 30", pages)
	}
	t.Logf("PDF: %d pages, %d bytes; HTML %d bytes", pages, len(pdf), len(files[report.HTMLFile]))
}

func getBody(ctx context.Context, t *testing.T) string {
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
