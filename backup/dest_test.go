package backup_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/unyo-ops/unyo/backup"
)

// lister returns every key a destination holds (committed objects as
// its store shows them: files of a Dir, objects of a bucket).
type lister func(t *testing.T) []string

// dirLister lists the files under a Dir's root, temporary ones included.
func dirLister(root string) lister {
	return func(t *testing.T) []string {
		t.Helper()
		var keys []string
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) && p == root {
					return nil
				}
				return err
			}
			if !d.IsDir() {
				rel, _ := filepath.Rel(root, p)
				keys = append(keys, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
}

func TestDirDestinationConformance(t *testing.T) {
	t.Parallel()
	root := filepath.Join(t.TempDir(), "dest")
	testDestination(t, &backup.Dir{DestName: "local", Root: root}, dirLister(root))
}

// put writes an object and commits it.
func put(t *testing.T, d backup.Destination, key string, data []byte) {
	t.Helper()
	w, err := d.Create(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("commit %s: %v", key, err)
	}
}

// readBack fails unless key reads back as want.
func readBack(t *testing.T, d backup.Destination, key string, want []byte) {
	t.Helper()
	r, err := d.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("open %s: %v", key, err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: read back %d bytes, want %d (or the bytes differ)", key, len(got), len(want))
	}
}

// absent fails unless key can neither be opened (an error wrapping
// fs.ErrNotExist) nor be listed.
func absent(t *testing.T, d backup.Destination, list lister, key string) {
	t.Helper()
	if r, err := d.Open(t.Context(), key); !errors.Is(err, fs.ErrNotExist) {
		if r != nil {
			r.Close()
		}
		t.Errorf("open %s: %v, want an error wrapping fs.ErrNotExist", key, err)
	}
	if slices.Contains(list(t), key) {
		t.Errorf("%s is listed", key)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// testDestination checks the Destination contract every implementation
// keeps: atomic create (nothing visible before Commit, nor after Abort),
// exact read back, Delete of a generation prefix removing that generation
// only, and bad keys refused.
func testDestination(t *testing.T, d backup.Destination, list lister) {
	t.Run("commit", func(t *testing.T) {
		data := randomBytes(1<<20 + 13)
		w, err := d.Create(t.Context(), "c/c.1/data")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data[:1000]); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data[1000:]); err != nil {
			t.Fatal(err)
		}
		absent(t, d, list, "c/c.1/data") // written, not committed
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		readBack(t, d, "c/c.1/data", data)
		if !slices.Contains(list(t), "c/c.1/data") {
			t.Errorf("committed object not listed: %v", list(t))
		}
		if err := w.Commit(); err == nil {
			t.Error("a second commit passed")
		}
		w.Abort() // after Commit: a no-op
		readBack(t, d, "c/c.1/data", data)
		put(t, d, "c/c.1/empty", nil)
		readBack(t, d, "c/c.1/empty", nil)
		// A new object under a key replaces the old one whole.
		put(t, d, "c/c.1/data", []byte("second"))
		readBack(t, d, "c/c.1/data", []byte("second"))
	})
	t.Run("abort", func(t *testing.T) {
		w, err := d.Create(t.Context(), "a/a.1/data")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(randomBytes(64 << 10)); err != nil {
			t.Fatal(err)
		}
		w.Abort()
		w.Abort()
		absent(t, d, list, "a/a.1/data")
		if err := w.Commit(); err == nil {
			t.Error("commit after abort passed")
		}
		absent(t, d, list, "a/a.1/data")
		// Aborting a new object under a key leaves the old one.
		put(t, d, "a/a.1/data", []byte("kept"))
		w, err = d.Create(t.Context(), "a/a.1/data")
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("dropped"))
		w.Abort()
		readBack(t, d, "a/a.1/data", []byte("kept"))
	})
	t.Run("missing", func(t *testing.T) {
		absent(t, d, list, "m/m.1/nothing")
	})
	t.Run("delete", func(t *testing.T) {
		for _, k := range []string{"s/s.1/data.tar.zst", "s/s.1/manifest.json", "s/s.1/sub/x",
			"s/s.10/data.tar.zst", "s/s.2/data.tar.zst", "t/s.1/data.tar.zst", "s/s.1x"} {
			put(t, d, k, []byte(k))
		}
		if err := d.Delete(t.Context(), "s/s.1"); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"s/s.1/data.tar.zst", "s/s.1/manifest.json", "s/s.1/sub/x"} {
			absent(t, d, list, k)
		}
		for _, k := range []string{"s/s.10/data.tar.zst", "s/s.2/data.tar.zst", "t/s.1/data.tar.zst", "s/s.1x"} {
			readBack(t, d, k, []byte(k))
		}
		// A prefix with nothing under it is no error.
		if err := d.Delete(t.Context(), "s/s.99"); err != nil {
			t.Errorf("delete of an empty prefix: %v", err)
		}
	})
	t.Run("bad keys", func(t *testing.T) {
		for _, k := range []string{"", "/abs", "../up", "a/../../b", "a//b", "a/./b", "a\\b", ".."} {
			if w, err := d.Create(t.Context(), k); err == nil {
				w.Abort()
				t.Errorf("create %q passed", k)
			}
			if r, err := d.Open(t.Context(), k); err == nil {
				r.Close()
				t.Errorf("open %q passed", k)
			}
			if err := d.Delete(t.Context(), k); err == nil {
				t.Errorf("delete %q passed", k)
			}
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		w, err := d.Create(ctx, "x/x.1/data")
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("partial"))
		cancel()
		// Dir ignores the context; S3's upload ends with it. Either way
		// no partial object is visible.
		if err := w.Commit(); err != nil {
			absent(t, d, list, "x/x.1/data")
		} else {
			readBack(t, d, "x/x.1/data", []byte("partial"))
		}
	})
}
