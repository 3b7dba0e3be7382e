// Package migrate holds what both ledger stores do with their schema
// migrations besides running the SQL: find the numbered files, check their
// order, and pick the ones a database has not applied. Each store keeps its
// own SQL files (the dialects differ) and its own way to apply one in a
// transaction; the test of this package checks that both stores have the
// same migrations, so a schema change cannot land in one only.
package migrate

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// Migration is one numbered schema step, from a file NNNN_name.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load returns the migrations in dir of fsys, in version order, or an error
// naming the first file that is not NNNN_name.sql or not after the one
// before.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, n := range names { // Glob returns names sorted
		base := path.Base(n)
		num, name, ok := strings.Cut(strings.TrimSuffix(base, ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", base)
		}
		if len(ms) > 0 && ms[len(ms)-1].Version >= v {
			return nil, fmt.Errorf("migration %s: version %d not after %d", base, v, ms[len(ms)-1].Version)
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	return ms, nil
}

// Pending returns the migrations of ms whose version is not in applied, in
// order.
func Pending(ms []Migration, applied []int) []Migration {
	done := make(map[int]bool, len(applied))
	for _, v := range applied {
		done[v] = true
	}
	var out []Migration
	for _, m := range ms {
		if !done[m.Version] {
			out = append(out, m)
		}
	}
	return out
}

// Error wraps err of migration m for store ("sqlite ledger").
func Error(store string, m Migration, err error) error {
	return fmt.Errorf("%s: migration %04d_%s: %w", store, m.Version, m.Name, err)
}
