// Command report measures the monthly performance report on a month of
// -servers servers × -metrics metrics sampled every minute, in the
// embedded (SQLite) ledger, and the samples API over that month at a
// 1-hour step.
//
// Writing 2,000 × 20 × 44,640 raw samples (1.8 billion rows) is not
// possible on a test machine, and the report never reads raw samples: it
// reads the 1-day rollups, the monthly sketches and, for the picked day,
// the 1-minute rollups of a few series. So the bench writes those rows
// directly (what AddSamples would have folded from one sample a minute:
// count 1,440 a day, sketches of 44,640 samples spread over ~40 buckets),
// plus 1-hour rollups of the CPU series (for the API) and the picked day's
// 1-minute rollups of -minute-series series. It then times report.Build,
// report.Render and (with Chromium) the PDF, and GET
// /api/v1/targets/{name}/samples for a month at step 1h.
//
//	go run ./bench/report                      # 2,000 servers × 20 metrics
//	go run ./bench/report -servers 200 -pdf    # smaller, with the PDF
//	go run ./bench/report -store postgres      # the same rows in PostgreSQL
//
// With -store postgres the same rows are written with COPY into a new
// database on -pg-url, which the run drops at its end.
// Each round also times storing the report's files in the ledger
// (report.Archive, ledger.ReportStore).
//
// Writes only under -dir (default: a temporary directory, removed) and,
// with -store postgres, its own database.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/auth/authtest"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/report"

	"github.com/unyo-ops/unyo/auth"
)

func main() { os.Exit(run()) }

func run() int {
	servers := flag.Int("servers", 2000, "servers")
	metrics := flag.Int("metrics", 20, "metrics per server (the report reads its 8)")
	minuteSeries := flag.Int("minute-series", 1000, "series with 1-minute rollups on the picked day")
	pdf := flag.Bool("pdf", false, "also print the PDF with headless Chromium")
	apiRuns := flag.Int("api-runs", 50, "samples API requests to time")
	dir := flag.String("dir", "", "directory for the ledger (default: a temporary one)")
	reuse := flag.Bool("reuse", false, "use the ledger already in -dir (seeded by an earlier run with the same sizes)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the report's making to this file")
	storeKind := flag.String("store", "sqlite", "ledger store: sqlite or postgres")
	pgURL := flag.String("pg-url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server (-store postgres): a database is made on it and dropped")
	flag.Parse()
	if *storeKind != "sqlite" && *storeKind != "postgres" {
		fmt.Fprintf(os.Stderr, "-store %q: want sqlite or postgres\n", *storeKind)
		return 2
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "unyo-bench-report-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	ctx := context.Background()
	path := filepath.Join(*dir, "ledger.db")
	month := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	g := gen{month: month, servers: *servers, metrics: *metrics, minuteSeries: *minuteSeries}
	start := time.Now()
	var s ledger.Store
	if *storeKind == "postgres" {
		ps, rows, drop, err := seedPostgres(ctx, g, *pgURL)
		if err != nil {
			fmt.Fprintln(os.Stderr, "postgres:", err)
			return 1
		}
		defer drop()
		fmt.Printf("seeded %d rows (%d servers × %d metrics, a month at 1-minute samples as rollups and sketches) into PostgreSQL with COPY in %s\n",
			rows, *servers, *metrics, time.Since(start).Round(time.Millisecond))
		s = ps
	} else {
		var rows int64
		if !*reuse {
			var err error
			if rows, err = seedSQLite(ctx, path, g); err != nil {
				fmt.Fprintln(os.Stderr, "seed:", err)
				return 1
			}
		}
		fi, err := os.Stat(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("seeded %d rows (%d servers × %d metrics, a month at 1-minute samples as rollups and sketches) in %s; ledger %.0f MB\n",
			rows, *servers, *metrics, time.Since(start).Round(time.Millisecond), float64(fi.Size())/1e6)
		ss, err := sqlite.Open(ctx, path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		s = ss
	}
	defer s.Close()
	fmt.Printf("store: %s\n", *storeKind)
	chromium := ""
	if *pdf {
		if chromium = report.Chromium(); chromium == "" {
			fmt.Println("no Chromium: PDF not measured")
		}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	for round := 1; round <= 2; round++ {
		t0, cpu0 := time.Now(), cpuTime()
		last, stages := time.Now(), ""
		r, err := report.Build(ctx, s, report.Options{Month: month, Day: month.AddDate(0, 0, 14), Now: month.AddDate(0, 1, 0),
			Progress: func(stage string, done, total int) {
				stages += fmt.Sprintf(" %s@%s", stage, time.Since(last).Round(time.Millisecond))
			}})
		fmt.Println("stages (time since start):" + stages)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		built := time.Since(t0)
		t1 := time.Now()
		files, err := report.Render(r)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		rendered := time.Since(t1)
		cpu := cpuTime() - cpu0
		var csvBytes int
		for n, b := range files {
			if filepath.Ext(n) == ".csv" {
				csvBytes += len(b)
			}
		}
		fmt.Printf("round %d: CPU %s (user+sys of this process); wall: build %s, render %s, total %s; report.html %.2f MB, summary.json %.2f MB, %d CSV files %.2f MB; %d servers, %d series\n",
			round, cpu.Round(time.Millisecond), built.Round(time.Millisecond), rendered.Round(time.Millisecond), (built + rendered).Round(time.Millisecond),
			float64(len(files[report.HTMLFile]))/1e6, float64(len(files[report.JSONFile]))/1e6, len(files)-2, float64(csvBytes)/1e6,
			len(r.Servers), len(r.Series))
		t3 := time.Now()
		if _, err := (&report.Archive{Store: s.(ledger.ReportStore)}).Save(ctx, r, files, "bench", time.Now()); err != nil {
			fmt.Println("store in the ledger:", err)
		} else {
			fmt.Printf("round %d: stored in the ledger (%s) in %s\n", round, *storeKind, time.Since(t3).Round(time.Millisecond))
		}
		if chromium != "" && round == 2 {
			t2 := time.Now()
			b, err := report.PDF(ctx, chromium, files[report.HTMLFile])
			if err != nil {
				fmt.Println("pdf:", err)
			} else {
				fmt.Printf("pdf: %s, %.2f MB\n", time.Since(t2).Round(time.Millisecond), float64(len(b))/1e6)
			}
		}
	}

	srv := httptest.NewServer(console.Handler(authtest.Guard(), console.Deps{Store: s, Now: func() time.Time { return month.AddDate(0, 1, 0) }}))
	defer srv.Close()
	u := srv.URL + "/api/v1/targets/" + name(7) + "/samples?metric=snmp_cpu_load_avg_percent&from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z&step=1h"
	var ds []time.Duration
	for range *apiRuns {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+authtest.Token(auth.RoleViewer, "bench"))
		t0 := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		n, _ := resp.Body.Read(make([]byte, 1))
		for {
			b := make([]byte, 64<<10)
			k, err := resp.Body.Read(b)
			n += k
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		ds = append(ds, time.Since(t0))
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintln(os.Stderr, "samples API:", resp.Status)
			return 1
		}
		_ = n
	}
	slices.Sort(ds)
	fmt.Printf("samples API, a month at step 1h (744 points), %d requests: median %s, p95 %s, max %s\n", len(ds),
		ds[len(ds)/2].Round(time.Microsecond), ds[int(math.Ceil(0.95*float64(len(ds))))-1].Round(time.Microsecond), ds[len(ds)-1].Round(time.Microsecond))
	return 0
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// seedSQLite writes g's rows through SQL on the store's own schema
// (sqlite.Open made it), in one transaction.
func seedSQLite(ctx context.Context, path string, g gen) (int64, error) {
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		return 0, err
	}
	s.Close()
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var rows int64
	for _, tb := range g.tables() {
		q := "INSERT INTO " + tb.name + " (" + strings.Join(tb.cols, ", ") + ") VALUES (?" + strings.Repeat(", ?", len(tb.cols)-1) + ")"
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return rows, err
		}
		for row := range tb.rows {
			if _, err := st.ExecContext(ctx, row...); err != nil {
				return rows, fmt.Errorf("%s: %w", tb.name, err)
			}
			rows++
		}
		st.Close()
	}
	return rows, tx.Commit()
}
