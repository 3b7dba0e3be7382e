package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/configs"
)

// maxManifest bounds a manifest read from a destination.
const maxManifest = 64 << 20

// ErrNoGeneration: no finished generation (no manifest.json) at the
// place a restore looked.
var ErrNoGeneration = errors.New("generation not found")

// ReadManifest reads the manifest of the generation in directory gen
// (<destination dir>/<source>/<id>), as written beside its objects.
func ReadManifest(gen string) (*Manifest, error) {
	f, err := os.Open(filepath.Join(gen, ManifestFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return decodeManifest(f, filepath.Join(gen, ManifestFile))
}

// decodeManifest reads a manifest from r (at most maxManifest bytes);
// where names it in errors.
func decodeManifest(r io.Reader, where string) (*Manifest, error) {
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(r, maxManifest)).Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if m.ID == "" || m.Kind == "" || len(m.Objects) == 0 {
		return nil, fmt.Errorf("%s: not a unyo backup manifest", where)
	}
	return &m, nil
}

// GenerationPrefix is the key prefix on a destination of generation id
// ("<source>.<n>", as the catalog names it: "data.3", or a self source's
// "self-n1.12"), the way the Manager writes it: "<source>/<id>".
func GenerationPrefix(id string) (string, error) {
	source, _, ok := ledger.ParseBackupID(id)
	if !ok {
		return "", fmt.Errorf("generation %q: want SOURCE.N, as 'unyo backup list' shows it (a self source's: self-NODE.N)", id)
	}
	return prefix(ledger.BackupRecord{Source: source, ID: id}), nil
}

// NewDestination builds the configured destination named name of c (a
// Dir, or an S3 bucket, with the same client Specs builds; no request is
// made yet). An unknown name's error lists the configured ones.
func NewDestination(c configs.BackupConfig, name string) (Destination, error) {
	var names []string
	for _, d := range c.Destinations {
		if d.Name == name {
			return destination(d)
		}
		names = append(names, d.Name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no backup destination %q: the configuration has none (backup.destinations)", name)
	}
	return nil, fmt.Errorf("no backup destination %q: configured are %v", name, names)
}

// RestoreFrom restores the generation under genPrefix ("<source>/<id>",
// see GenerationPrefix) on d without the catalog (a lost node or
// cluster): its manifest.json, read from d, says what the objects must
// be, and each is checked against its SHA-256 as it is read. A postgres
// generation needs pg (its connection); the others restore into to.Path.
func RestoreFrom(ctx context.Context, d Destination, genPrefix string, to Target, pg *PostgresSource, p Progress) (*Manifest, error) {
	key := genPrefix + "/" + ManifestFile
	where := d.Where(key)
	r, err := d.Open(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no %s (destination %s: no such generation, or its backup never finished)",
			ErrNoGeneration, where, d.Name())
	} else if err != nil {
		return nil, err
	}
	m, err := decodeManifest(r, where)
	r.Close()
	if err != nil {
		return nil, err
	}
	get := getter(d, genPrefix, m)
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

// RestoreDir restores the generation in directory gen (a generation's
// directory on a dir destination, <dir>/<source>/<id>): RestoreFrom a
// Dir of its parent directory.
func RestoreDir(ctx context.Context, gen string, to Target, pg *PostgresSource, p Progress) (*Manifest, error) {
	abs, err := filepath.Abs(gen)
	if err != nil {
		return nil, err
	}
	d := &Dir{DestName: "dir", Root: filepath.Dir(abs)}
	return RestoreFrom(ctx, d, path.Base(filepath.ToSlash(abs)), to, pg, p)
}
