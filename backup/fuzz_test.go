package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// FuzzExtractArchive feeds arbitrary tar streams (compressed) to the
// restore: it must never write outside its directory nor panic.
func FuzzExtractArchive(f *testing.F) {
	mk := func(entries ...tar.Header) []byte {
		var tb bytes.Buffer
		tw := tar.NewWriter(&tb)
		for _, h := range entries {
			h := h
			tw.WriteHeader(&h)
			if h.Typeflag == tar.TypeReg {
				tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
			}
		}
		tw.Close()
		return tb.Bytes()
	}
	f.Add(mk(tar.Header{Name: "a/b", Typeflag: tar.TypeReg, Size: 3, Mode: 0o644}))
	f.Add(mk(tar.Header{Name: "../escape", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}))
	f.Add(mk(tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/etc"}, tar.Header{Name: "l/passwd", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}))
	f.Add(mk(tar.Header{Name: "/abs", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}))
	f.Add(mk(tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755}, tar.Header{Name: "d/f", Typeflag: tar.TypeReg, Size: 2, Mode: 0o600}))
	enc, _ := zstd.NewWriter(nil)
	f.Fuzz(func(t *testing.T, raw []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "in")
		os.Mkdir(dir, 0o755)
		extractArchive(context.Background(), bytes.NewReader(enc.EncodeAll(raw, nil)), dir, nil, "fuzz", 0)
		filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
			if p != parent && p != dir && !strings.HasPrefix(p, dir+string(filepath.Separator)) {
				t.Fatalf("wrote %s outside %s", p, dir)
			}
			return nil
		})
	})
}

// FuzzReadManifest: any manifest file is read or refused, never a panic.
func FuzzReadManifest(f *testing.F) {
	f.Add([]byte(`{"version":1,"id":"s.1","source":"s","kind":"dir","objects":[{"name":"data.tar.zst","size":1,"sha256":"00"}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, ManifestFile), data, 0o600)
		m, err := ReadManifest(dir)
		if err == nil && (m.ID == "" || len(m.Objects) == 0) {
			t.Fatalf("accepted %q", data)
		}
	})
}
