package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"net/http/httptest"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/auth/authtest"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/report"
)

// openPTY opens a pseudo-terminal: the master to read what is written to
// the slave, a real terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	// A terminal has a size (mpb draws nothing in 0 columns).
	if err := unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 100}); err != nil {
		t.Fatal(err)
	}
	return m, s
}

// TestIsTerminal: a pseudo-terminal is a terminal; /dev/null (a
// character device), a pipe and a file are not.
func TestIsTerminal(t *testing.T) {
	_, pts := openPTY(t)
	if !isTerminal(pts) {
		t.Errorf("%s: not a terminal", pts.Name())
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, f := range []*os.File{null, w, f} {
		if isTerminal(f) {
			t.Errorf("%s: a terminal", f.Name())
		}
	}
}

// archiveReports makes reports with package report and keeps them in the
// ledger, as a node does.
type archiveReports struct {
	s *sqlite.Store
	a *report.Archive
	// shown, when set, is called before each stage after the first with
	// the stage before it.
	shown func(stage string)
}

func (r archiveReports) Make(ctx context.Context, month, day, by string, progress func(string, int, int)) (report.Entry, error) {
	m, err := time.Parse("2006-01", month)
	if err != nil {
		return report.Entry{}, err
	}
	rep, files, err := report.Make(ctx, r.s, report.Options{Month: m, Progress: func(stage string, done, total int) {
		if r.shown != nil && done > 0 && done <= len(report.Stages) {
			r.shown(report.Stages[done-1])
		}
		progress(stage, done, total)
	}}, "")
	if err != nil {
		return report.Entry{}, err
	}
	return r.a.Save(ctx, rep, files, by, time.Now())
}

func (r archiveReports) List(ctx context.Context) ([]report.Entry, error) { return r.a.List(ctx) }
func (r archiveReports) Open(ctx context.Context, id, name string) ([]byte, time.Time, error) {
	return r.a.Open(ctx, id, name)
}

// TestReportMonthlyBarOnATerminal: with stderr a terminal, `unyo report
// monthly` draws the progress bar, each stage as the node reaches it (the
// stage is written by the request and read by the bar's goroutine: run
// with -race), and prints no log lines.
func TestReportMonthlyBarOnATerminal(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	oct := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	var xs []ledger.Sample
	for h := 0; h < 31*24; h += 6 {
		xs = append(xs, ledger.Sample{Target: "web01", Name: "snmp_cpu_load_avg_percent", Value: float64(h % 50), Time: oct.Add(time.Duration(h) * time.Hour)})
	}
	if err := s.AddSamples(ctx, xs); err != nil {
		t.Fatal(err)
	}
	ptm, pts := openPTY(t)
	var (
		mu  sync.Mutex
		raw []byte
	)
	done := make(chan struct{})
	go func() { // read the terminal until its slave is closed
		defer close(done)
		b := make([]byte, 4096)
		for {
			n, err := ptm.Read(b)
			mu.Lock()
			raw = append(raw, b[:n]...)
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	screen := func() string {
		mu.Lock()
		defer mu.Unlock()
		return string(raw)
	}
	// Each stage starts once the bar has shown the one before: the node
	// streams its progress lines as they come (flushed through the auth
	// middleware's writer), and the bar's goroutine has read the stage
	// when the CLI writes the next one.
	shown := func(stage string) {
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(screen(), stage); {
			if time.Now().After(deadline) {
				t.Errorf("the bar never showed %q", stage)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	srv := httptest.NewServer(console.Handler(authtest.Guard(), console.Deps{Store: s,
		Reports: archiveReports{s: s, a: &report.Archive{Store: s}, shown: shown}}))
	t.Cleanup(srv.Close)

	var out bytes.Buffer
	code := Main(ctx, []string{"report", "monthly", "--server=" + srv.URL, "--month", "2026-10", "--out", filepath.Join(t.TempDir(), "r")},
		&Env{Stdout: &out, Stderr: pts, Getenv: func(k string) string {
			if k == "UNYO_TOKEN" {
				return authtest.Token(auth.RoleOpsSE, "se1")
			}
			return ""
		}})
	pts.Close()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the terminal's output did not end")
	}
	term := screen()
	if code != 0 || !strings.Contains(out.String(), "2026-10_") {
		t.Fatalf("exit %d\nstdout %s\nterminal %q", code, out.String(), term)
	}
	if !strings.Contains(term, "report 2026-10 ") || strings.Contains(term, "asking the node") || strings.Contains(term, "made in") {
		t.Errorf("want the bar and no log lines on a terminal: %q", term)
	}
}
