package jobnet

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/configs"
)

// Builtins returns the built-in job kinds. db runs SQL on the PostgreSQL
// ledger (nil: db-maintenance fails with a clear message, as on SQLite).
func Builtins(db func(ctx context.Context, sql string) error) map[string]Builtin {
	return map[string]Builtin{
		configs.JobKindCleanup:       Cleanup,
		configs.JobKindDBMaintenance: DBMaintenance(db),
	}
}

// Cleanup deletes the regular files matching the task's globs that were
// last modified more than OlderThanDays days ago. It ends 0 when all went,
// 1 when some could not be deleted.
func Cleanup(ctx context.Context, t Task) (int, string, error) {
	cutoff := time.Now().Add(-time.Duration(t.Cleanup.OlderThanDays) * 24 * time.Hour)
	var out strings.Builder
	deleted, failed := 0, 0
	for _, g := range t.Cleanup.Paths {
		matches, err := filepath.Glob(g)
		if err != nil {
			return 2, out.String(), fmt.Errorf("glob %q: %w", g, err)
		}
		for _, m := range matches {
			if ctx.Err() != nil {
				return 1, out.String(), ctx.Err()
			}
			fi, err := os.Lstat(m)
			if err != nil || !fi.Mode().IsRegular() || !fi.ModTime().Before(cutoff) {
				continue
			}
			if err := os.Remove(m); err != nil {
				failed++
				fmt.Fprintf(&out, "cannot delete %s: %v\n", m, err)
				continue
			}
			deleted++
			fmt.Fprintf(&out, "deleted %s\n", m)
		}
	}
	fmt.Fprintf(&out, "%d deleted, %d failed\n", deleted, failed)
	if failed > 0 {
		return 1, out.String(), nil
	}
	return 0, out.String(), nil
}

// LedgerTables are the tables db-maintenance works on by default.
var LedgerTables = []string{"incidents", "timeline", "events", "job_runs", "job_run_jobs"}

// DBMaintenance returns the db-maintenance job: VACUUM, ANALYZE and
// REINDEX of ledger tables, run through db.
func DBMaintenance(db func(ctx context.Context, sql string) error) Builtin {
	return func(ctx context.Context, t Task) (int, string, error) {
		if db == nil {
			return 2, "", fmt.Errorf("db-maintenance needs the PostgreSQL ledger (ledger.driver: postgres)")
		}
		tables := t.DBMaint.Tables
		if len(tables) == 0 {
			tables = LedgerTables
		}
		var out strings.Builder
		for _, op := range t.DBMaint.Operations {
			for _, tb := range tables {
				var sql string
				switch op {
				case "vacuum":
					sql = "VACUUM " + tb
				case "analyze":
					sql = "ANALYZE " + tb
				case "reindex":
					sql = "REINDEX TABLE " + tb
				default:
					return 2, out.String(), fmt.Errorf("operation %q", op)
				}
				start := time.Now()
				if err := db(ctx, sql); err != nil {
					fmt.Fprintf(&out, "%s: %v\n", sql, err)
					return 1, out.String(), err
				}
				fmt.Fprintf(&out, "%s: ok (%s)\n", sql, time.Since(start).Round(time.Millisecond))
			}
		}
		return 0, out.String(), nil
	}
}
