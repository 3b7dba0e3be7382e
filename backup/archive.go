package backup

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// root is a tree archived under a name: the files of Path go into the
// archive as Name/... (Name is slash separated, relative).
type root struct {
	Path string
	Name string
	// Skip reports whether a path relative to Path is left out.
	Skip func(rel string) bool
}

// treeSize sums the sizes of the regular files under roots (for
// progress).
func treeSize(roots []root) int64 {
	var n int64
	for _, r := range roots {
		filepath.WalkDir(r.Path, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					n += fi.Size()
				}
			}
			return nil
		})
	}
	return n
}

// writeArchive streams roots as a tar compressed with zstd into w, with
// no copy on disk, and records every file (with its SHA-256) in files.
func writeArchive(ctx context.Context, w io.Writer, roots []root, files *[]File, p Progress, stage string) error {
	zw, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	pw := &progressWriter{stage: stage, p: p, total: treeSize(roots)}
	buf := make([]byte, 1<<20)
	for _, r := range roots {
		err := filepath.WalkDir(r.Path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("read %s: %w", p, err)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rel, err := filepath.Rel(r.Path, p)
			if err != nil {
				return err
			}
			rel = filepath.ToSlash(rel)
			if rel != "." && r.Skip != nil && r.Skip(rel) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			name := path.Join(r.Name, rel)
			return addEntry(tw, p, name, d, files, pw, buf)
		})
		if err != nil {
			tw.Close()
			zw.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		zw.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	pw.end()
	return nil
}

func addEntry(tw *tar.Writer, p, name string, d fs.DirEntry, files *[]File, pw *progressWriter, buf []byte) error {
	fi, err := d.Info()
	if err != nil {
		return fmt.Errorf("stat %s: %w", p, err)
	}
	var link string
	switch {
	case d.IsDir(), d.Type().IsRegular():
	case d.Type()&fs.ModeSymlink != 0:
		if link, err = os.Readlink(p); err != nil {
			return fmt.Errorf("readlink %s: %w", p, err)
		}
	default:
		return nil // sockets, pipes, devices: not backed up
	}
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	h.Name, h.Format = name, tar.FormatPAX
	h.Uname, h.Gname = "", ""
	f := File{Path: name, Mode: uint32(fi.Mode().Perm())}
	switch {
	case d.IsDir():
		h.Name += "/"
		f.Type = "dir"
	case link != "":
		f.Type, f.Link = "symlink", link
	default:
		f.Type = "file"
	}
	if f.Type != "file" {
		*files = append(*files, f)
		return tw.WriteHeader(h)
	}
	src, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer src.Close()
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	hs := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(tw, hs, pw), io.LimitReader(src, h.Size), buf)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	if n != h.Size {
		return fmt.Errorf("read %s: shrank from %d to %d bytes while being backed up", p, h.Size, n)
	}
	f.Size, f.SHA256 = n, hex.EncodeToString(hs.Sum(nil))
	*files = append(*files, f)
	return nil
}

// extractArchive restores a tar+zstd stream under dir (which must exist)
// and returns the files restored, with the SHA-256 of the bytes written.
// Names that would leave dir are refused (os.Root).
func extractArchive(ctx context.Context, r io.Reader, dir string, p Progress, stage string, total int64) ([]File, error) {
	zr, err := zstd.NewReader(r)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	rt, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	tr := tar.NewReader(zr)
	pw := &progressWriter{stage: stage, p: p, total: total}
	buf := make([]byte, 1<<20)
	var out []File
	for {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, fmt.Errorf("archive: %w", err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			return out, fmt.Errorf("archive entry %q: not a relative path inside the archive", h.Name)
		}
		local := filepath.FromSlash(name)
		if d := filepath.Dir(local); d != "." {
			if err := rt.MkdirAll(d, 0o750); err != nil {
				return out, fmt.Errorf("restore %s: %w", name, err)
			}
		}
		f := File{Path: name, Mode: uint32(h.FileInfo().Mode().Perm())}
		switch h.Typeflag {
		case tar.TypeDir:
			f.Type = "dir"
			if err := rt.Mkdir(local, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return out, fmt.Errorf("restore %s: %w", name, err)
			}
			if err := rt.Chmod(local, fs.FileMode(f.Mode)); err != nil {
				return out, fmt.Errorf("restore %s: %w", name, err)
			}
		case tar.TypeSymlink:
			f.Type, f.Link = "symlink", h.Linkname
			if err := rt.Symlink(h.Linkname, local); err != nil {
				return out, fmt.Errorf("restore %s: %w", name, err)
			}
		case tar.TypeReg:
			f.Type = "file"
			w, err := rt.OpenFile(local, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fs.FileMode(f.Mode))
			if err != nil {
				return out, fmt.Errorf("restore %s: %w", name, err)
			}
			hs := sha256.New()
			n, err := io.CopyBuffer(io.MultiWriter(w, hs, pw), tr, buf)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return out, fmt.Errorf("restore %s: %w", name, err)
			}
			f.Size, f.SHA256 = n, hex.EncodeToString(hs.Sum(nil))
			if err := rt.Chtimes(local, h.ModTime, h.ModTime); err != nil {
				return out, err
			}
		default:
			return out, fmt.Errorf("archive entry %q: type %q not restored", h.Name, h.Typeflag)
		}
		out = append(out, f)
	}
	if err := drain(zr); err != nil {
		return out, err
	}
	pw.end()
	return out, nil
}

// compareFiles reports how restored differs from the manifest's files.
func compareFiles(want, got []File) error {
	g := make(map[string]File, len(got))
	for _, f := range got {
		g[f.Path] = f
	}
	var errs []error
	for _, w := range want {
		f, ok := g[w.Path]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: missing", w.Path))
		case f.Type != w.Type || f.Size != w.Size || f.SHA256 != w.SHA256 || f.Link != w.Link || f.Mode != w.Mode:
			errs = append(errs, fmt.Errorf("%s: restored %s %d bytes sha256 %.12s, manifest %s %d bytes sha256 %.12s", w.Path, f.Type, f.Size, f.SHA256, w.Type, w.Size, w.SHA256))
		}
		delete(g, w.Path)
		if len(errs) >= 10 {
			break
		}
	}
	for p := range g {
		if len(errs) >= 10 {
			break
		}
		errs = append(errs, fmt.Errorf("%s: not in the manifest", p))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrMismatch, errors.Join(errs...))
	}
	return nil
}
