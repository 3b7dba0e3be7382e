package backup

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ArchiveFile is the object of a dir or self backup: a tar stream
// compressed with zstd.
const ArchiveFile = "data.tar.zst"

// DirSource backs up directories and files: each path goes into the
// archive under its absolute path without the leading slash
// (/etc/unyo → etc/unyo/...), and a restore puts it under the target
// path the same way.
type DirSource struct {
	Paths []string
}

// Kind implements Source.
func (s *DirSource) Kind() string { return KindDir }

func (s *DirSource) roots() []root {
	var out []root
	for _, p := range s.Paths {
		out = append(out, root{Path: p, Name: strings.TrimPrefix(filepath.ToSlash(filepath.Clean(p)), "/")})
	}
	return out
}

// Backup implements Source.
func (s *DirSource) Backup(ctx context.Context, put PutFunc, m *Manifest, p Progress) error {
	for _, r := range s.Paths {
		if _, err := os.Lstat(r); err != nil {
			return fmt.Errorf("path %s: %w", r, err)
		}
	}
	return put(ctx, ArchiveFile, func(w io.Writer) error {
		return writeArchive(ctx, w, s.roots(), &m.Files, p, "backup")
	})
}

// Restore implements Source.
func (s *DirSource) Restore(ctx context.Context, get GetFunc, m *Manifest, to Target, p Progress) error {
	return restoreArchive(ctx, get, m, to, p)
}

// Verify implements Source.
func (s *DirSource) Verify(ctx context.Context, get GetFunc, m *Manifest, scratch string, p Progress) error {
	return verifyArchive(ctx, get, m, scratch, p)
}

// restoreArchive extracts ArchiveFile into to.Path, which must not exist
// or be an empty directory.
func restoreArchive(ctx context.Context, get GetFunc, m *Manifest, to Target, p Progress) error {
	if to.Path == "" {
		return fmt.Errorf("restore of a %s backup needs a path", m.Kind)
	}
	if err := emptyDir(to.Path); err != nil {
		return err
	}
	r, err := get(ctx, ArchiveFile)
	if err != nil {
		return err
	}
	defer r.Close()
	got, err := extractArchive(ctx, r, to.Path, p, "restore", filesSize(m.Files))
	if err == nil {
		err = drain(r)
	}
	if err != nil {
		return readErr(ctx, r, err)
	}
	return compareFiles(m.Files, got)
}

// verifyArchive restores into scratch and compares with the manifest.
func verifyArchive(ctx context.Context, get GetFunc, m *Manifest, scratch string, p Progress) error {
	r, err := get(ctx, ArchiveFile)
	if err != nil {
		return err
	}
	defer r.Close()
	got, err := extractArchive(ctx, r, scratch, p, "verify", filesSize(m.Files))
	if err == nil {
		err = drain(r)
	}
	if err != nil {
		return readErr(ctx, r, err)
	}
	return compareFiles(m.Files, got)
}

func filesSize(fs []File) int64 {
	var n int64
	for _, f := range fs {
		n += f.Size
	}
	return n
}

// emptyDir makes dir, or accepts it when it exists and is empty.
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	switch {
	case os.IsNotExist(err):
		return os.MkdirAll(dir, 0o750)
	case err != nil:
		return err
	case len(ents) > 0:
		return fmt.Errorf("%s is not empty: %w", dir, ErrExists)
	}
	return nil
}
