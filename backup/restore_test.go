package backup_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/unyo-ops/unyo/backup"
	"github.com/unyo-ops/unyo/configs"
)

func TestGenerationPrefix(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]string{
		"data.3":             "data/data.3",
		"self-n1.12":         "self-n1/self-n1.12",
		"self-db_example.1":  "self-db_example/self-db_example.1",
		"my.source.name.7":   "", // a source name has no '.'
		"data":               "",
		"data.0":             "",
		"../x.1":             "",
		"self-n1/self-n1.12": "",
	} {
		got, err := backup.GenerationPrefix(id)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("GenerationPrefix(%q) = %q, %v; want %q", id, got, err, want)
		}
	}
}

// TestRestoreFromS3 restores generations the Manager wrote to an S3
// destination (versitygw) straight from the bucket, without the
// catalog: a self generation and a dir generation come back byte for
// byte; an object overwritten on the store fails the SHA-256 check and
// leaves the data directory empty; a generation that is not there says
// where it was looked for.
func TestRestoreFromS3(t *testing.T) {
	t.Parallel()
	d, c, _ := newS3(t, "site-a/unyo", 0)
	// A restore makes the data directory 0750 (its contents come back
	// as they were).
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o750); err != nil {
		t.Fatal(err)
	}
	makeTree(t, data)
	cfgFile := filepath.Join(t.TempDir(), "unyo.yaml")
	if err := os.WriteFile(cfgFile, []byte("node: {name: n1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	etc := filepath.Join(t.TempDir(), "etc")
	makeTree(t, etc)
	f := newFixture(t,
		backup.Spec{Name: "self", Source: &backup.SelfSource{Node: "n1", DataDir: data, ConfigFile: cfgFile}, Destination: d},
		backup.Spec{Name: "etc", Source: &backup.DirSource{Paths: []string{etc}}, Destination: d})
	self, err := f.m.Run(t.Context(), "self", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := f.m.Run(t.Context(), "etc", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if self.ID != "self-n1.1" || dir.ID != "etc.1" {
		t.Fatalf("generations %s and %s", self.ID, dir.ID)
	}

	// Self: the data directory and the configuration beside it.
	pfx, err := backup.GenerationPrefix(self.ID)
	if err != nil {
		t.Fatal(err)
	}
	to := filepath.Join(t.TempDir(), "restored")
	var stages []string
	m, err := backup.RestoreFrom(t.Context(), d, pfx, backup.Target{Path: to}, nil,
		func(stage string, done, total int64) { stages = append(stages, stage) })
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != self.ID || m.Kind != backup.KindSelf || m.Node != "n1" || len(stages) == 0 {
		t.Fatalf("manifest %+v, stages %v", m, stages)
	}
	sameTree(t, data, to)
	if b, err := os.ReadFile(to + ".config.yaml"); err != nil || string(b) != "node: {name: n1}\n" {
		t.Errorf("restored configuration: %q %v", b, err)
	}

	// Dir: under the target by absolute path, as Manager.Restore does.
	pfx, _ = backup.GenerationPrefix(dir.ID)
	to2 := filepath.Join(t.TempDir(), "restored")
	if _, err := backup.RestoreFrom(t.Context(), d, pfx, backup.Target{Path: to2}, nil, nil); err != nil {
		t.Fatal(err)
	}
	sameTree(t, etc, filepath.Join(to2, strings.TrimPrefix(etc, "/")))

	// A missing generation names the place it was looked for.
	_, err = backup.RestoreFrom(t.Context(), d, "self-n1/self-n1.9", backup.Target{Path: filepath.Join(t.TempDir(), "x")}, nil, nil)
	if !errors.Is(err, backup.ErrNoGeneration) || !strings.Contains(err.Error(), "s3://"+testBucket+"/site-a/unyo/self-n1/self-n1.9") {
		t.Errorf("restore of a missing generation: %v", err)
	}

	// Tampered on the store: one byte of the archive flipped, the object
	// rewritten in place (same size).
	pfx, _ = backup.GenerationPrefix(self.ID)
	obj := "site-a/unyo/" + pfx + "/" + backup.ArchiveFile
	o, err := c.GetObject(t.Context(), testBucket, obj, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	arch, err := io.ReadAll(o)
	o.Close()
	if err != nil {
		t.Fatal(err)
	}
	arch[len(arch)/2] ^= 0xff
	if _, err := c.PutObject(t.Context(), testBucket, obj, bytes.NewReader(arch), int64(len(arch)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	to3 := filepath.Join(t.TempDir(), "restored")
	_, err = backup.RestoreFrom(t.Context(), d, pfx, backup.Target{Path: to3}, nil, nil)
	if !errors.Is(err, backup.ErrChecksum) || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("restore of a tampered archive: %v, want the SHA-256 mismatch", err)
	}
	t.Logf("tampered: %v", err)
	if ents, err := os.ReadDir(to3); err != nil || len(ents) != 0 {
		t.Errorf("data directory after a failed restore: %v %v, want it empty", ents, err)
	}
	if _, err := os.Stat(to3 + ".config.yaml"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("configuration written by a failed restore: %v", err)
	}
}

// TestNewDestination builds a configured destination by name (the same
// S3 client Specs builds) and refuses an unknown name, listing the
// configured ones.
func TestNewDestination(t *testing.T) {
	t.Parallel()
	no := false
	c := configs.BackupConfig{Destinations: []configs.BackupDestination{
		{Name: "local", Dir: "/srv/backups"},
		{Name: "offsite", S3: &configs.BackupS3{Endpoint: "127.0.0.1:1", Bucket: "b", Prefix: "p", TLS: &no}},
	}}
	d, err := backup.NewDestination(c, "local")
	if dir, ok := d.(*backup.Dir); err != nil || !ok || dir.Root != "/srv/backups" {
		t.Fatalf("local: %#v %v", d, err)
	}
	if w := d.Where("self-n1/self-n1.2"); w != "/srv/backups/self-n1/self-n1.2" {
		t.Errorf("where on a dir: %s", w)
	}
	d, err = backup.NewDestination(c, "offsite")
	if err != nil {
		t.Fatal(err)
	}
	if w := d.Where("self-n1/self-n1.2"); w != "s3://b/p/self-n1/self-n1.2" {
		t.Errorf("where on s3: %s", w)
	}
	specs, err := backup.Specs(configs.BackupConfig{Destinations: c.Destinations,
		Sources: []configs.BackupSource{{Name: "etc", Kind: configs.BackupKindDir, Paths: []string{"/etc"}, Destination: "offsite"}}}, backup.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if specs["etc"].Destination != d {
		t.Errorf("NewDestination and Specs built different S3 clients")
	}
	if _, err := backup.NewDestination(c, "nope"); err == nil || !strings.Contains(err.Error(), "[local offsite]") {
		t.Errorf("unknown destination: %v", err)
	}
}
