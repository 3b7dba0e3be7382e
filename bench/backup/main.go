// Command backup measures directory backups: backup, restore and verify
// of a generated tree (default 1 GiB: a mix of incompressible and text-like
// files of several sizes) through package backup, side by side with
// `tar -c | zstd -3 -T0` and `zstd -d | tar -x` of the same tree in the
// same run, and prints MB/s (of the tree's bytes) and times. Everything is
// written under a temporary directory that is deleted at the end.
//
// -dest s3 runs the same backup, verify and restore a second time through
// an S3 destination, a versitygw (internal/s3test: $UNYO_TEST_S3_SERVER,
// versitygw on PATH, or built once) on loopback with its POSIX backend in
// the same temporary directory, and prints it beside the dir destination.
//
//	go run ./bench/backup -size 1024
//	go run ./bench/backup -size 1024 -dest s3
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
	"github.com/unyo-ops/unyo/internal/s3test"
)

func main() { os.Exit(run()) }

func run() int {
	sizeMB := flag.Int("size", 1024, "MiB of data in the tree")
	tmp := flag.String("dir", "", "parent of the temporary directory (default the system's)")
	dest := flag.String("dest", "dir", "dir, or s3: the dir destination and an S3 one (versitygw on loopback) side by side")
	flag.Parse()
	if *sizeMB < 1 || *sizeMB > 1<<20 {
		fmt.Fprintln(os.Stderr, "backup: -size 1..1048576")
		return 2
	}
	if *dest != "dir" && *dest != "s3" {
		fmt.Fprintln(os.Stderr, "backup: -dest dir or s3")
		return 2
	}
	base, err := os.MkdirTemp(*tmp, "unyo-bench-backup-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "backup:", err)
		return 1
	}
	defer os.RemoveAll(base)
	if err := bench(base, int64(*sizeMB)<<20, *dest == "s3"); err != nil {
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

// result is one destination's times.
type result struct {
	name                    string
	backup, verify, restore time.Duration
	archive                 int64
}

// measure backs up src through dest, verifies and restores the
// generation, and removes the restored copy.
func measure(ctx context.Context, base, src, name string, dest backup.Destination) (result, error) {
	res := result{name: name}
	store, err := sqlite.Open(ctx, filepath.Join(base, "ledger-"+name+".db"))
	if err != nil {
		return res, err
	}
	defer store.Close()
	m := &backup.Manager{Store: store, ScratchDir: base, Specs: map[string]backup.Spec{
		"bench": {Name: "bench", Source: &backup.DirSource{Paths: []string{src}}, Destination: dest},
	}}
	dropCaches()
	t0 := time.Now()
	b, err := m.Run(ctx, "bench", "bench", nil)
	if err != nil {
		return res, err
	}
	res.backup, res.archive = time.Since(t0), b.Size
	t0 = time.Now()
	if _, err := m.Verify(ctx, b.ID, nil); err != nil {
		return res, err
	}
	res.verify = time.Since(t0)
	to := filepath.Join(base, "restore-"+name)
	t0 = time.Now()
	if err := m.Restore(ctx, b.ID, backup.Target{Path: to}, nil); err != nil {
		return res, err
	}
	res.restore = time.Since(t0)
	return res, os.RemoveAll(to)
}

// s3Destination starts a versitygw on loopback (its data under base) and
// returns a destination on its bucket and the server's stop.
func s3Destination(ctx context.Context, base string) (backup.Destination, func(), error) {
	data := filepath.Join(base, "s3")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, nil, err
	}
	srv, err := s3test.Run(ctx, data, s3test.Options{Buckets: []string{"bench"}})
	if err != nil {
		return nil, nil, err
	}
	d, err := backup.NewS3("s3", backup.S3Options{Endpoint: srv.Endpoint, Bucket: "bench", AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		srv.Stop()
		return nil, nil, err
	}
	return d, srv.Stop, nil
}

func bench(base string, size int64, withS3 bool) error {
	ctx := context.Background()
	src := filepath.Join(base, "src")
	start := time.Now()
	files, err := makeTree(src, size)
	if err != nil {
		return err
	}
	fmt.Printf("tree     %d files, %.0f MiB (made in %s)\n", files, float64(size)/(1<<20), time.Since(start).Round(time.Millisecond))

	// unyo: backup, verify, restore, per destination.
	results := []result{}
	r, err := measure(ctx, base, src, "dir", &backup.Dir{DestName: "local", Root: filepath.Join(base, "dest")})
	if err != nil {
		return err
	}
	results = append(results, r)
	if withS3 {
		d, stop, err := s3Destination(ctx, base)
		if err != nil {
			return err
		}
		r, err := measure(ctx, base, src, "s3", d)
		stop()
		if err != nil {
			return err
		}
		results = append(results, r)
	}

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

	heads := map[string]string{"dir": "unyo, dir (tar+zstd, fsync)", "s3": "unyo, s3 (versitygw, loopback)"}
	row := func(label string, cell func(r result) string, ref string) {
		fmt.Printf("%-16s", label)
		for _, r := range results {
			fmt.Printf(" %-32s", cell(r))
		}
		fmt.Printf(" %s\n", ref)
	}
	row("", func(r result) string { return heads[r.name] }, "tar | zstd -3 -T0")
	row("backup   MB/s", func(r result) string { return fmt.Sprintf("%.1f", mbps(size, r.backup)) }, fmt.Sprintf("%.1f", mbps(size, tTar)))
	row("restore  MB/s", func(r result) string { return fmt.Sprintf("%.1f", mbps(size, r.restore)) }, fmt.Sprintf("%.1f", mbps(size, tUntar)))
	row("verify   MB/s", func(r result) string { return fmt.Sprintf("%.1f", mbps(size, r.verify)) }, "-")
	row("time     backup", func(r result) string { return r.backup.Round(time.Millisecond).String() }, tTar.Round(time.Millisecond).String())
	row("time     restore", func(r result) string { return r.restore.Round(time.Millisecond).String() }, tUntar.Round(time.Millisecond).String())
	row("time     verify", func(r result) string { return r.verify.Round(time.Millisecond).String() }, "-")
	row("archive  MiB", func(r result) string { return fmt.Sprintf("%.1f", float64(r.archive)/(1<<20)) }, fmt.Sprintf("%.1f", float64(refSize)/(1<<20)))
	fmt.Println("verify: restore into scratch + SHA-256 of every file against the manifest")
	return nil
}
