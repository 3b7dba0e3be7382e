package report

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Chromium finds a Chromium or Chrome to print with: the first of
// chromium, chromium-browser, google-chrome, headless-shell on PATH; ""
// when there is none.
func Chromium() string {
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// PDFTimeout bounds one print.
var PDFTimeout = 2 * time.Minute

// PDF prints html on A4 with the browser at execPath (headless, its own
// throwaway profile), honouring the page's print style sheet.
func PDF(ctx context.Context, execPath string, html []byte) ([]byte, error) {
	dir, err := os.MkdirTemp("", "unyo-report-pdf-")
	if err != nil {
		return nil, fmt.Errorf("report: pdf: %w", err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeoutCause(ctx, PDFTimeout, fmt.Errorf("report: pdf: Chromium took longer than %s", PDFTimeout))
	defer cancel()
	ctx, cancel = Browser(ctx, execPath, dir)
	defer cancel()
	return PrintPage(ctx, html, dir)
}

// PrintPage prints html on A4 in the browser of ctx (Browser made it):
// it writes the page as report.html under dir, opens it in the current
// tab and prints it, honouring the page's print style sheet.
func PrintPage(ctx context.Context, html []byte, dir string) ([]byte, error) {
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, html, 0o600); err != nil {
		return nil, fmt.Errorf("report: pdf: %w", err)
	}
	u := url.URL{Scheme: "file", Path: file}
	if err := chromedp.Do(ctx, chromedp.Navigate(u.String())); err != nil {
		return nil, fmt.Errorf("report: pdf: open the page: %w", err)
	}
	b, err := chromedp.Run(ctx, chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperA4), chromedp.PDFPrintBackground(),
		func(p *cdppage.PrintToPDFParams) { t := true; p.PreferCSSPageSize = &t }))
	if err != nil {
		return nil, fmt.Errorf("report: pdf: print: %w", err)
	}
	return b, nil
}

// Browser starts a headless browser at execPath with its profile under
// dir (tests use it to look at a report).
func Browser(ctx context.Context, execPath, dir string) (context.Context, context.CancelFunc) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(execPath), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.UserDataDir(filepath.Join(dir, "profile")))
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	return bctx, func() { cancelB(); cancelA() }
}
