package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ReadManifest reads the manifest of the generation in directory gen
// (<destination dir>/<source>/<id>), as written beside its objects.
func ReadManifest(gen string) (*Manifest, error) {
	f, err := os.Open(filepath.Join(gen, ManifestFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(f, 64<<20)).Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(gen, ManifestFile), err)
	}
	if m.ID == "" || m.Kind == "" || len(m.Objects) == 0 {
		return nil, fmt.Errorf("%s: not a unyo backup manifest", filepath.Join(gen, ManifestFile))
	}
	return &m, nil
}

// RestoreDir restores the generation in directory gen without the
// catalog (a lost node or cluster): the manifest beside the objects says
// what they must be. A postgres generation needs pg (its connection);
// the others restore into to.Path.
func RestoreDir(ctx context.Context, gen string, to Target, pg *PostgresSource, p Progress) (*Manifest, error) {
	m, err := ReadManifest(gen)
	if err != nil {
		return nil, err
	}
	d := &Dir{DestName: "restore", Root: filepath.Dir(gen)}
	get := getter(d, filepath.Base(gen), m)
	var src Source
	switch m.Kind {
	case KindDir:
		src = &DirSource{}
	case KindSQLite:
		src = &SQLiteSource{}
	case KindSelf:
		src = &SelfSource{}
	case KindPostgres:
		if pg == nil {
			return m, fmt.Errorf("generation %s is a postgres dump: restore it with unyo backup restore --database", m.ID)
		}
		src = pg
	default:
		return m, fmt.Errorf("generation %s: kind %q", m.ID, m.Kind)
	}
	return m, src.Restore(ctx, get, m, to, p)
}
