package backup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/backup"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/internal/s3test"
	"github.com/unyo-ops/unyo/internal/tlsfiles/tlstest"
)

const testBucket = "unyo-backups"

// newS3 starts a versitygw and returns a destination on its bucket under
// prefix, and a raw client of the bucket.
func newS3(t *testing.T, prefix string, partSize uint64) (*backup.S3, *minio.Client, *s3test.Server) {
	t.Helper()
	srv := s3test.Start(t, testBucket)
	d, err := backup.NewS3("offsite", backup.S3Options{Endpoint: srv.Endpoint, Bucket: testBucket, Prefix: prefix,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, PartSize: partSize})
	if err != nil {
		t.Fatal(err)
	}
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	return d, c, srv
}

// s3Lister lists the bucket's objects under prefix, as keys (the prefix
// taken off).
func s3Lister(c *minio.Client, prefix string) lister {
	return func(t *testing.T) []string {
		t.Helper()
		var keys []string
		for o := range c.ListObjects(t.Context(), testBucket, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			if prefix == "" {
				keys = append(keys, o.Key)
			} else if k, ok := strings.CutPrefix(o.Key, prefix+"/"); ok {
				keys = append(keys, k)
			} else {
				t.Errorf("object %s outside the prefix %s", o.Key, prefix)
			}
		}
		return keys
	}
}

// noUploads fails if a multipart upload is left in the bucket.
func noUploads(t *testing.T, c *minio.Client) {
	t.Helper()
	for u := range c.ListIncompleteUploads(t.Context(), testBucket, "", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		t.Errorf("multipart upload of %s left (id %s)", u.Key, u.UploadID)
	}
}

func TestS3DestinationConformance(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "site-a/unyo"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			d, c, _ := newS3(t, prefix, 0)
			testDestination(t, d, s3Lister(c, prefix))
			noUploads(t, c)
		})
	}
}

// TestS3MultipartObject streams objects of several parts (5 MiB parts,
// the smallest S3 takes, and the default 16 MiB) and aborts another after
// parts went up: neither a half object nor its parts stay.
func TestS3MultipartObject(t *testing.T) {
	t.Parallel()
	for _, part := range []int{5 << 20, backup.DefaultS3PartSize} {
		t.Run(fmt.Sprintf("part=%dMiB", part>>20), func(t *testing.T) {
			t.Parallel()
			testMultipart(t, part)
		})
	}
}

// testMultipart writes 3.x parts of part bytes through a destination of
// that part size (PartSize 0 for the default).
func testMultipart(t *testing.T, part int) {
	ps := uint64(part)
	if part == backup.DefaultS3PartSize {
		ps = 0
	}
	d, c, _ := newS3(t, "mp", ps)
	list := s3Lister(c, "mp")
	data := randomBytes(3*part + 12345) // 4 parts
	w, err := d.Create(t.Context(), "big/big.1/data")
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += 1 << 20 {
		if _, err := w.Write(data[off:min(off+1<<20, len(data))]); err != nil {
			t.Fatal(err)
		}
		if off == 2*part {
			absent(t, d, list, "big/big.1/data") // parts up, not complete
		}
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	readBack(t, d, "big/big.1/data", data)
	st, err := c.StatObject(t.Context(), testBucket, "mp/big/big.1/data", minio.StatObjectOptions{})
	if err != nil || st.Size != int64(len(data)) {
		t.Fatalf("stat: %+v %v", st, err)
	}
	// The ETag of a multipart object ends in -<parts>.
	if !strings.HasSuffix(strings.Trim(st.ETag, `"`), "-4") {
		t.Errorf("ETag %s: not a 4-part upload", st.ETag)
	}

	w, err = d.Create(t.Context(), "big/big.2/data")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[:2*part+1]); err != nil { // two parts read, a third begun
		t.Fatal(err)
	}
	w.Abort()
	absent(t, d, list, "big/big.2/data")
	noUploads(t, c)
}

// TestS3BackupVerifyRestorePrune runs the Manager through an S3
// destination: a dir source backed up, verified, restored byte for byte,
// and pruned (old generations' objects gone from the bucket).
func TestS3BackupVerifyRestorePrune(t *testing.T) {
	t.Parallel()
	d, c, _ := newS3(t, "unyo", 0)
	src := filepath.Join(t.TempDir(), "srv", "data")
	makeTree(t, src)
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f := newFixture(t, backup.Spec{Name: "data", Source: &backup.DirSource{Paths: []string{src}}, Destination: d, Policy: backup.Policy{Last: 1}})
	f.m.Now = func() time.Time { return now }
	b, err := f.m.Run(t.Context(), "data", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Result != ledger.BackupOK || b.ID != "data.1" || b.Destination != "offsite" {
		t.Fatalf("record %+v", b)
	}
	keys := s3Lister(c, "unyo")(t)
	if !slices.Equal(keys, []string{"data/data.1/data.tar.zst", "data/data.1/manifest.json"}) {
		t.Errorf("bucket holds %v", keys)
	}
	if v, err := f.m.Verify(t.Context(), b.ID, nil); err != nil || !v.Verified() {
		t.Fatalf("verify: %+v %v", v, err)
	}
	to := filepath.Join(t.TempDir(), "restored")
	if err := f.m.Restore(t.Context(), b.ID, backup.Target{Path: to}, nil); err != nil {
		t.Fatal(err)
	}
	sameTree(t, src, filepath.Join(to, strings.TrimPrefix(src, "/")))

	// Two more generations; with the newest verified, keep last 1
	// deletes data.1 and data.2, objects and records.
	for range 2 {
		now = now.Add(time.Hour)
		if b, err = f.m.Run(t.Context(), "data", "test", nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.m.Verify(t.Context(), b.ID, nil); err != nil {
		t.Fatal(err)
	}
	res, err := f.m.Prune(t.Context(), "data", false)
	if err != nil || strings.Join(res.Deleted, ",") != "data.2,data.1" {
		t.Fatalf("prune: %+v %v", res, err)
	}
	keys = s3Lister(c, "unyo")(t)
	if !slices.Equal(keys, []string{"data/data.3/data.tar.zst", "data/data.3/manifest.json"}) {
		t.Errorf("after prune the bucket holds %v", keys)
	}
	noUploads(t, c)

	// A generation whose object went missing fails verification, naming
	// the object.
	if err := c.RemoveObject(t.Context(), testBucket, "unyo/data/data.3/data.tar.zst", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = f.m.Verify(t.Context(), b.ID, nil)
	if err == nil || !strings.Contains(err.Error(), "s3://"+testBucket+"/unyo/data/data.3/data.tar.zst") {
		t.Errorf("verify with the archive gone: %v", err)
	}
}

// TestS3WrongCredentials: a wrong secret key fails clearly (the store's
// refusal, the bucket and key named) and the secret appears in no error,
// nor in the catalog's record.
func TestS3WrongCredentials(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t, testBucket)
	const secret = "wrong-secret-Zq8x3KpL"
	d, err := backup.NewS3("offsite", backup.S3Options{Endpoint: srv.Endpoint, Bucket: testBucket,
		AccessKey: srv.AccessKey, SecretKey: secret})
	if err != nil {
		t.Fatal(err)
	}
	var errs []error
	w, err := d.Create(t.Context(), "s/s.1/data")
	if err == nil {
		w.Write([]byte("x"))
		err = w.Commit()
	}
	errs = append(errs, err)
	_, err = d.Open(t.Context(), "s/s.1/data")
	errs = append(errs, err)
	errs = append(errs, d.Delete(t.Context(), "s/s.1"))
	for i, err := range errs {
		switch {
		case err == nil:
			t.Errorf("op %d passed with a wrong secret", i)
		case strings.Contains(err.Error(), secret):
			t.Errorf("op %d: error quotes the secret: %v", i, err)
		case !strings.Contains(err.Error(), "signature") || !strings.Contains(err.Error(), "check the destination's access_key and secret_key"):
			t.Errorf("op %d: %v: does not say the credentials are wrong", i, err)
		case i < 2 && !strings.Contains(err.Error(), "s3://"+testBucket+"/s/s.1/data"):
			t.Errorf("op %d: %v: does not name the object", i, err)
		}
		t.Logf("op %d: %v", i, err)
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o600)
	f := newFixture(t, backup.Spec{Name: "s", Source: &backup.DirSource{Paths: []string{src}}, Destination: d})
	b, err := f.m.Run(t.Context(), "s", "test", nil)
	if err == nil || b.Result != ledger.BackupFailed || strings.Contains(err.Error(), secret) || strings.Contains(b.Error, secret) ||
		!strings.Contains(b.Error, "check the destination's access_key and secret_key") {
		t.Errorf("backup with a wrong secret: %+v %v", b, err)
	}
	t.Logf("backup: %v", err)
}

// TestS3Unreachable: a store that does not answer fails the open with the
// endpoint named, promptly (ctx bounds it).
func TestS3Unreachable(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t, testBucket)
	d, err := backup.NewS3("offsite", backup.S3Options{Endpoint: srv.Endpoint, Bucket: testBucket,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	put(t, d, "s/s.1/data", []byte("x"))
	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	r, err := d.Open(ctx, "s/s.1/data")
	if err == nil {
		_, err = io.ReadAll(r)
		r.Close()
	}
	if err == nil || errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "s3://"+testBucket+"/s/s.1/data") {
		t.Errorf("open with the store down: %v", err)
	}
}

// TestS3SpecsTLSWithCAFile: a configured s3 destination (backup.Specs)
// reaches a store serving https with a certificate of a private CA
// through ca_file, and backs up and verifies through it; without ca_file
// the store's certificate is refused.
func TestS3SpecsTLSWithCAFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "s3")
	cert, key := ca.Issue(t, "s3")
	srv := s3test.StartWith(t, s3test.Options{Buckets: []string{testBucket}, CertFile: cert, KeyFile: key, CAFile: ca.File})
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("over tls"), 0o600)
	conf := func(caFile string) configs.BackupConfig {
		yes := true
		return configs.BackupConfig{
			Destinations: []configs.BackupDestination{{Name: "offsite", S3: &configs.BackupS3{Endpoint: srv.Endpoint, Bucket: testBucket,
				Prefix: "n1", AccessKey: srv.AccessKey, SecretKey: configs.Secret(srv.SecretKey), TLS: &yes, CAFile: caFile}}},
			Sources: []configs.BackupSource{{Name: "etc", Kind: configs.BackupKindDir, Paths: []string{src}, Destination: "offsite"}},
		}
	}
	specs, err := backup.Specs(conf(ca.File), backup.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := specs["etc"].Destination.(*backup.S3); !ok || d.Bucket != testBucket || d.Prefix != "n1" || d.Name() != "offsite" {
		t.Fatalf("destination %#v", specs["etc"].Destination)
	}
	// Specs again with the same settings (every job and API call) keeps
	// the destination and its client.
	if again, err := backup.Specs(conf(ca.File), backup.Env{}); err != nil || again["etc"].Destination != specs["etc"].Destination {
		t.Errorf("Specs again: a new destination (%v)", err)
	}
	f := newFixture(t, specs["etc"])
	b, err := f.m.Run(t.Context(), "etc", "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := f.m.Verify(t.Context(), b.ID, nil); err != nil || !v.Verified() {
		t.Fatalf("verify: %+v %v", v, err)
	}
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	if keys := s3Lister(c, "n1")(t); !slices.Equal(keys, []string{"etc/etc.1/data.tar.zst", "etc/etc.1/manifest.json"}) {
		t.Errorf("bucket holds %v", keys)
	}

	specs, err = backup.Specs(conf(""), backup.Env{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = specs["etc"].Destination.Open(t.Context(), "etc/etc.1/manifest.json")
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("open without the CA: %v, want a certificate error", err)
	}
	// A ca_file that is not PEM is refused when the destination is built.
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("nope"), 0o600)
	if _, err := backup.Specs(conf(notPEM), backup.Env{}); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("Specs with a ca_file without a certificate: %v", err)
	}
}

// TestS3DeleteAbortsLeftUploads: the multipart uploads a dead process
// left under a generation are aborted when the generation is deleted;
// another generation's stay.
func TestS3DeleteAbortsLeftUploads(t *testing.T) {
	t.Parallel()
	d, c, _ := newS3(t, "p", 0)
	core := &minio.Core{Client: c}
	for _, name := range []string{"p/s/s.1/data.tar.zst", "p/s/s.10/data.tar.zst"} {
		id, err := core.NewMultipartUpload(t.Context(), testBucket, name, minio.PutObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		part := randomBytes(1 << 20)
		if _, err := core.PutObjectPart(t.Context(), testBucket, name, id, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put(t, d, "s/s.1/manifest.json", []byte("{}"))
	if err := d.Delete(t.Context(), "s/s.1"); err != nil {
		t.Fatal(err)
	}
	var left []string
	for u := range c.ListIncompleteUploads(t.Context(), testBucket, "", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		left = append(left, u.Key)
	}
	if !slices.Equal(left, []string{"p/s/s.10/data.tar.zst"}) {
		t.Errorf("uploads left: %v, want only s.10's", left)
	}
	absent(t, d, s3Lister(c, "p"), "s/s.1/manifest.json")
}

// TestNewS3Refuses: options NewS3 cannot work with fail when it is
// called, not at the first backup.
func TestNewS3Refuses(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]backup.S3Options{
		"small part":      {Endpoint: "127.0.0.1:9", Bucket: testBucket, PartSize: 1 << 20},
		"ca without tls":  {Endpoint: "127.0.0.1:9", Bucket: testBucket, CAFile: "/nonexistent.pem"},
		"missing ca file": {Endpoint: "127.0.0.1:9", Bucket: testBucket, TLS: true, CAFile: "/nonexistent.pem"},
		"no endpoint":     {Bucket: testBucket},
	} {
		if _, err := backup.NewS3("offsite", o); err == nil {
			t.Errorf("%s: NewS3 passed", name)
		}
	}
}
