package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Destination keeps objects by key ("<source>/<id>/<name>", slash
// separated). Implementations: Dir (a local or mounted directory) and S3
// (a bucket of an S3-compatible store).
type Destination interface {
	Name() string
	// Create starts writing an object; it appears under key only when
	// Commit returns nil (atomic), never half written.
	Create(ctx context.Context, key string) (ObjectWriter, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes every object under prefix (a generation).
	Delete(ctx context.Context, prefix string) error
	// Where names the place of key for people (a path, s3://bucket/object).
	Where(key string) string
}

// ObjectWriter is an object being written.
type ObjectWriter interface {
	io.Writer
	// Commit makes the object durable and visible under its key.
	Commit() error
	// Abort drops it (after Commit, a no-op).
	Abort()
}

// Dir is a destination in a local or mounted directory: each object is
// written to a temporary file, fsync'd, renamed into place and its
// directory fsync'd.
type Dir struct {
	DestName string
	Root     string
}

// Name implements Destination.
func (d *Dir) Name() string { return d.DestName }

// Where implements Destination: the path of key.
func (d *Dir) Where(key string) string {
	if p, err := d.path(key); err == nil {
		return p
	}
	return d.DestName + ":" + key
}

// checkKey refuses a key that is not a clean relative slash-separated
// path (every destination's rule, so a key means the same everywhere).
func checkKey(dest, key string) error {
	clean := path.Clean(key)
	if key == "" || clean != key || path.IsAbs(key) || strings.HasPrefix(clean, "../") || clean == ".." || strings.Contains(key, "\\") {
		return fmt.Errorf("destination %s: bad key %q", dest, key)
	}
	return nil
}

func (d *Dir) path(key string) (string, error) {
	if err := checkKey(d.DestName, key); err != nil {
		return "", err
	}
	return filepath.Join(d.Root, filepath.FromSlash(key)), nil
}

type dirWriter struct {
	f     *os.File
	final string
	done  bool
}

// Create implements Destination.
func (d *Dir) Create(_ context.Context, key string) (ObjectWriter, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return nil, fmt.Errorf("destination %s: %w", d.DestName, err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("destination %s: %w", d.DestName, err)
	}
	return &dirWriter{f: f, final: p}, nil
}

func (w *dirWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

func (w *dirWriter) Commit() error {
	if w.done {
		return errors.New("object already committed or aborted")
	}
	w.done = true
	err := w.f.Sync()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.f.Name(), w.final)
	}
	if err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("write %s: %w", w.final, err)
	}
	return syncDir(filepath.Dir(w.final))
}

func (w *dirWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.f.Name())
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// Open implements Destination.
func (d *Dir) Open(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("destination %s: %w", d.DestName, err)
	}
	return f, nil
}

// Delete implements Destination.
func (d *Dir) Delete(_ context.Context, prefix string) error {
	p, err := d.path(prefix)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("destination %s: %w", d.DestName, err)
	}
	return syncDir(filepath.Dir(p))
}
