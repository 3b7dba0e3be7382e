// Command backup measures directory backups: backup, restore and verify
// of a generated tree (default 1 GiB: a mix of incompressible and text-like
// files of several sizes) through package backup, side by side with
// `tar -c | zstd -3 -T0` and `zstd -d | tar -x` of the same tree in the
// same run, and prints MB/s (of the tree's bytes) and times. Everything is
// written under a temporary directory that is deleted at the end.
//
//	go run ./bench/backup -size 1024
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/backup"
)

func main() { os.Exit(run()) }

func run() int {
	sizeMB := flag.Int("size", 1024, "MiB of data in the tree")
	tmp := flag.String("dir", "", "parent of the temporary directory (default the system's)")
	flag.Parse()
	if *sizeMB < 1 || *sizeMB > 1<<20 {
		fmt.Fprintln(os.Stderr, "backup: -size 1..1048576")
		return 2
	}
	base, err := os.MkdirTemp(*tmp, "unyo-bench-backup-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "backup:", err)
		return 1
	}
	defer os.RemoveAll(base)
	if err := bench(base, int64(*sizeMB)<<20); err != nil {
		fmt.Fprintln(os.Stderr, "backup:", err)
		return 1
	}
	return 0
}

// makeTree writes about size bytes under dir: per 64 MiB, one 32 MiB
// random file, 24 MiB of 1 MiB text-like files and 8 MiB of 8 KiB ones.
func makeTree(dir string, size int64) (files int, err error) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"incident ", "target ", "db01 ", "ping ", "ok ", "critical ", "2026-12-02T10:00:00Z ", "unyo ", "backup ", "\n"}
	text := func(n int) []byte {
		b := make([]byte, 0, n+16)
		for len(b) < n {
			b = append(b, words[rng.IntN(len(words))]...)
		}
		return b[:n]
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := 0; i+8 <= n; i += 8 {
			v := rng.Uint64()
			for k := range 8 {
				b[i+k] = byte(v >> (8 * k))
			}
		}
		return b
	}
	var written int64
	for chunk := 0; written < size; chunk++ {
		d := filepath.Join(dir, fmt.Sprintf("c%03d", chunk), "sub")
		if err := os.MkdirAll(d, 0o755); err != nil {
			return files, err
		}
		write := func(name string, b []byte) error {
			files++
			written += int64(len(b))
			return os.WriteFile(filepath.Join(d, name), b, 0o644)
		}
		if err := write("blob.bin", random(min(32<<20, int(size-written)))); err != nil {
			return files, err
		}
		for i := 0; i < 24 && written < size; i++ {
			if err := write(fmt.Sprintf("log%02d.txt", i), text(min(1<<20, int(size-written)))); err != nil {
				return files, err
			}
		}
		for i := 0; i < 1024 && written < size; i++ {
			if err := write(fmt.Sprintf("s%04d.txt", i), text(min(8<<10, int(size-written)))); err != nil {
				return files, err
			}
		}
	}
	return files, nil
}

func mbps(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }

func dirSize(p string) int64 {
	var n int64
	filepath.Walk(p, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func sh(script string) (time.Duration, error) {
	start := time.Now()
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s: %v\n%s", script, err, out)
	}
	return time.Since(start), nil
}

func dropCaches() { exec.Command("sync").Run() }

func bench(base string, size int64) error {
	ctx := context.Background()
	src := filepath.Join(base, "src")
	start := time.Now()
	files, err := makeTree(src, size)
	if err != nil {
		return err
	}
	fmt.Printf("tree     %d files, %.0f MiB (made in %s)\n", files, float64(size)/(1<<20), time.Since(start).Round(time.Millisecond))

	store, err := sqlite.Open(ctx, filepath.Join(base, "ledger.db"))
	if err != nil {
		return err
	}
	defer store.Close()
	m := &backup.Manager{Store: store, ScratchDir: base, Specs: map[string]backup.Spec{
		"bench": {Name: "bench", Source: &backup.DirSource{Paths: []string{src}}, Destination: &backup.Dir{DestName: "local", Root: filepath.Join(base, "dest")}},
	}}

	// unyo: backup, verify, restore.
	dropCaches()
	t0 := time.Now()
	b, err := m.Run(ctx, "bench", "bench", nil)
	if err != nil {
		return err
	}
	tBackup := time.Since(t0)
	t0 = time.Now()
	if _, err := m.Verify(ctx, b.ID, nil); err != nil {
		return err
	}
	tVerify := time.Since(t0)
	t0 = time.Now()
	if err := m.Restore(ctx, b.ID, backup.Target{Path: filepath.Join(base, "restore-unyo")}, nil); err != nil {
		return err
	}
	tRestore := time.Since(t0)
	os.RemoveAll(filepath.Join(base, "restore-unyo"))

	// tar | zstd of the same tree.
	arch := filepath.Join(base, "ref.tar.zst")
	dropCaches()
	tTar, err := sh(fmt.Sprintf("tar -cf - -C %q . | zstd -q -3 -T0 -o %q && sync %q", src, arch, arch))
	if err != nil {
		return err
	}
	refSize := dirSize(arch)
	out := filepath.Join(base, "restore-ref")
	os.MkdirAll(out, 0o755)
	tUntar, err := sh(fmt.Sprintf("zstd -q -d -c %q | tar -xf - -C %q && sync", arch, out))
	if err != nil {
		return err
	}

	fmt.Printf("                 %-28s %s\n", "unyo backup (tar+zstd, fsync)", "tar | zstd -3 -T0")
	fmt.Printf("backup   MB/s    %-28.1f %.1f\n", mbps(size, tBackup), mbps(size, tTar))
	fmt.Printf("restore  MB/s    %-28.1f %.1f\n", mbps(size, tRestore), mbps(size, tUntar))
	fmt.Printf("time     backup  %-28s %s\n", tBackup.Round(time.Millisecond), tTar.Round(time.Millisecond))
	fmt.Printf("time     restore %-28s %s\n", tRestore.Round(time.Millisecond), tUntar.Round(time.Millisecond))
	fmt.Printf("archive  MiB     %-28.1f %.1f\n", float64(b.Size)/(1<<20), float64(refSize)/(1<<20))
	fmt.Printf("verify   %s (restore into scratch + SHA-256 of every file against the manifest; %.1f MB/s)\n",
		tVerify.Round(time.Millisecond), mbps(size, tVerify))
	return nil
}
