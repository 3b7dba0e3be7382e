package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"time"
)

// Errors.
var (
	// ErrChecksum: an object read back does not have the SHA-256 or size
	// of the manifest.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrMismatch: what a restore gave back differs from the manifest.
	ErrMismatch = errors.New("restored content differs from the manifest")
	// ErrNoSource: no source of that name is configured.
	ErrNoSource = errors.New("no such backup source")
	// ErrExists: a restore target that already exists.
	ErrExists = errors.New("restore target exists")
)

// Source kinds.
const (
	KindDir      = "dir"
	KindPostgres = "postgres"
	KindSQLite   = "sqlite"
	KindSelf     = "self"
)

// ManifestFile is the object every generation writes last, beside its
// data: the manifest, so a generation can be restored without the
// catalog (a lost cluster).
const ManifestFile = "manifest.json"

// Manifest describes one generation: what was written to the destination
// (Objects) and what was archived (Files), each with its SHA-256.
type Manifest struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
	Source  string `json:"source"`
	Kind    string `json:"kind"`
	// Objects are the files written to the destination.
	Objects []Object `json:"objects"`
	// Files are the files inside the archive (dir, self, sqlite).
	Files []File `json:"files,omitempty"`
	// Database and Tables: a postgres source's database and the tables
	// (schema.name) it had when dumped.
	Database string   `json:"database,omitempty"`
	Tables   []string `json:"tables,omitempty"`
	// Node: a self backup's node name and data directory.
	Node    string `json:"node,omitempty"`
	DataDir string `json:"data_dir,omitempty"`
	// RaftDir and RaftSnapshot: a self backup's Raft directory (inside
	// the data directory, slash separated) and the id of the Raft
	// snapshot it holds, taken for the backup.
	RaftDir      string `json:"raft_dir,omitempty"`
	RaftSnapshot string `json:"raft_snapshot,omitempty"`
	// Started and Written: when the backup began and when its data was
	// written (before the manifest).
	Started time.Time `json:"started,omitzero"`
	Written time.Time `json:"written,omitzero"`
}

// Object is one file written to the destination.
type Object struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// File is one archived file (a directory or a link has no hash).
type File struct {
	Path   string `json:"path"`
	Type   string `json:"type"` // file, dir, symlink
	Mode   uint32 `json:"mode"`
	Size   int64  `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Link   string `json:"link,omitempty"`
}

// Object returns the manifest's object of that name.
func (m *Manifest) Object(name string) (Object, bool) {
	for _, o := range m.Objects {
		if o.Name == name {
			return o, true
		}
	}
	return Object{}, false
}

// Size is the bytes of all objects.
func (m *Manifest) Size() int64 {
	var n int64
	for _, o := range m.Objects {
		n += o.Size
	}
	return n
}

// Progress is told how far a long operation is: bytes done of total
// (total 0: unknown) in a stage.
type Progress func(stage string, done, total int64)

func (p Progress) tell(stage string, done, total int64) {
	if p != nil {
		p(stage, done, total)
	}
}

// Target is where Restore puts a generation: a path (dir, sqlite, self)
// or a database name (postgres).
type Target struct {
	Path     string `json:"path,omitempty"`
	Database string `json:"database,omitempty"`
}

// Source backs up one kind of thing and restores it.
type Source interface {
	Kind() string
	// Backup writes the generation's objects with put, filling m.
	Backup(ctx context.Context, put PutFunc, m *Manifest, p Progress) error
	// Restore restores the generation (objects read with get) into to.
	Restore(ctx context.Context, get GetFunc, m *Manifest, to Target, p Progress) error
	// Verify restores into a scratch place and compares with m.
	Verify(ctx context.Context, get GetFunc, m *Manifest, scratch string, p Progress) error
}

// PutFunc writes an object: fn writes its bytes; the object's size and
// SHA-256 go into the manifest.
type PutFunc func(ctx context.Context, name string, fn func(w io.Writer) error) error

// GetFunc opens an object for reading; reading it to the end fails with
// ErrChecksum when its bytes are not the manifest's.
type GetFunc func(ctx context.Context, name string) (io.ReadCloser, error)

// hashingWriter counts and hashes what passes.
type hashingWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func newHashingWriter(w io.Writer) *hashingWriter { return &hashingWriter{w: w, h: sha256.New()} }

func (hw *hashingWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}

func (hw *hashingWriter) sum() string { return hex.EncodeToString(hw.h.Sum(nil)) }

// checkedReader reads an object and checks its size and SHA-256 at EOF.
type checkedReader struct {
	rc   io.ReadCloser
	h    hash.Hash
	n    int64
	want Object
}

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if c.n > c.want.Size {
		return n, fmt.Errorf("object %s: longer than its %d bytes: %w", c.want.Name, c.want.Size, ErrChecksum)
	}
	if err == io.EOF {
		if c.n != c.want.Size {
			return n, fmt.Errorf("object %s: %d bytes, manifest says %d: %w", c.want.Name, c.n, c.want.Size, ErrChecksum)
		}
		if got := hex.EncodeToString(c.h.Sum(nil)); got != c.want.SHA256 {
			return n, fmt.Errorf("object %s: sha256 %s, manifest says %s: %w", c.want.Name, got, c.want.SHA256, ErrChecksum)
		}
	}
	return n, err
}

func (c *checkedReader) Close() error { return c.rc.Close() }

// drain reads r to its end, so a checked object's hash is checked even
// when the consumer stopped early (a tar's trailing padding).
func drain(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// readErr is the error of reading object r that failed with err: when a
// decoder gave up on bytes damaged on the destination (zstd's CRC, a
// broken tar), the rest of r is read so that its size and SHA-256 are
// checked, and a mismatch with the manifest, the cause, is what is
// reported. Errors of the local filesystem (a full disk) and a cancelled
// ctx are returned as they are, without reading on.
func readErr(ctx context.Context, r io.Reader, err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	if err == nil || errors.Is(err, ErrChecksum) || ctx.Err() != nil || errors.As(err, &pe) || errors.As(err, &le) {
		return err
	}
	if derr := drain(r); errors.Is(derr, ErrChecksum) {
		return fmt.Errorf("%w (read: %v)", derr, err)
	}
	return err
}

// progressWriter tells p every 4 MiB written.
type progressWriter struct {
	stage       string
	p           Progress
	done, total int64
	last        int64
}

func (pw *progressWriter) add(n int64) {
	pw.done += n
	if pw.done-pw.last >= 4<<20 {
		pw.last = pw.done
		pw.p.tell(pw.stage, pw.done, pw.total)
	}
}

func (pw *progressWriter) Write(b []byte) (int, error) {
	pw.add(int64(len(b)))
	return len(b), nil
}

func (pw *progressWriter) end() { pw.p.tell(pw.stage, pw.done, max(pw.total, pw.done)) }
