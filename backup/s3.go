package backup

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// DefaultS3PartSize is the part size of an S3 destination's multipart
// uploads: an object is streamed in parts of this size, so one upload
// holds at most one part in memory.
const DefaultS3PartSize = 16 << 20

// minS3PartSize is S3's smallest part (but the last).
const minS3PartSize = 5 << 20

// S3Options are how NewS3 reaches a bucket of an S3-compatible store.
type S3Options struct {
	// Endpoint is host:port (no scheme).
	Endpoint string
	Bucket   string
	// Prefix is put before every key ("unyo/backups": objects are
	// unyo/backups/<source>/<id>/<name>); "" for none.
	Prefix string
	// Region is the bucket's region ("": the store's default).
	Region string
	// AccessKey and SecretKey are the credentials (both empty:
	// anonymous). SecretKey is never printed, logged or put in an error.
	AccessKey string
	SecretKey string
	// TLS dials https (else http); CAFile, if set, is a PEM file of the
	// CA certificates to trust instead of the system's.
	TLS    bool
	CAFile string
	// PartSize is the multipart part size (0: DefaultS3PartSize; at least
	// 5 MiB).
	PartSize uint64
}

// S3 is a destination in a bucket of an S3-compatible store (minio-go).
// An object is streamed to a multipart upload, which makes it visible
// only when the upload completes (Commit); Abort aborts the upload, so an
// object is never half written.
type S3 struct {
	DestName string
	Client   *minio.Client
	Bucket   string
	// Prefix is put before every key, joined with "/" ("": none).
	Prefix string
	// PartSize is the multipart part size (0: DefaultS3PartSize).
	PartSize uint64
}

// NewS3 returns the destination name for the bucket opts names. It does
// not contact the store.
func NewS3(name string, opts S3Options) (*S3, error) {
	if opts.PartSize != 0 && opts.PartSize < minS3PartSize {
		return nil, fmt.Errorf("destination %s: part size %d: want at least %d", name, opts.PartSize, minS3PartSize)
	}
	tr, err := minio.DefaultTransport(opts.TLS)
	if err != nil {
		return nil, fmt.Errorf("destination %s: %w", name, err)
	}
	if opts.CAFile != "" {
		if !opts.TLS {
			return nil, fmt.Errorf("destination %s: a CA file is only for TLS", name)
		}
		pool, err := loadCAs(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("destination %s: %w", name, err)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	var creds *credentials.Credentials
	if opts.AccessKey != "" || opts.SecretKey != "" {
		creds = credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, "")
	} else {
		creds = credentials.New(&credentials.Static{}) // anonymous
	}
	c, err := minio.New(opts.Endpoint, &minio.Options{Creds: creds, Secure: opts.TLS, Region: opts.Region, Transport: tr})
	if err != nil {
		// minio-go's errors name the endpoint, never the credentials.
		return nil, fmt.Errorf("destination %s: endpoint %s: %w", name, opts.Endpoint, err)
	}
	return &S3{DestName: name, Client: c, Bucket: opts.Bucket, Prefix: strings.Trim(opts.Prefix, "/"), PartSize: opts.PartSize}, nil
}

// loadCAs reads a PEM file of CA certificates.
func loadCAs(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", path)
	}
	return pool, nil
}

// Name implements Destination.
func (s *S3) Name() string { return s.DestName }

// object returns the object name of key (the prefix put before it).
func (s *S3) object(key string) (string, error) {
	if err := checkKey(s.DestName, key); err != nil {
		return "", err
	}
	if s.Prefix == "" {
		return key, nil
	}
	return s.Prefix + "/" + key, nil
}

// url names an object in errors: s3://bucket/name.
func (s *S3) url(name string) string { return "s3://" + s.Bucket + "/" + name }

// Where implements Destination: s3://bucket/object.
func (s *S3) Where(key string) string {
	if name, err := s.object(key); err == nil {
		return s.url(name)
	}
	return s.DestName + ":" + key
}

func (s *S3) partSize() uint64 {
	if s.PartSize == 0 {
		return DefaultS3PartSize
	}
	return s.PartSize
}

// errS3Aborted ends an upload the writer aborted.
var errS3Aborted = errors.New("upload aborted")

// s3Writer streams an object through a pipe to PutObject, which runs in
// its own goroutine until the pipe is closed.
type s3Writer struct {
	s      *S3
	name   string
	pw     *io.PipeWriter
	cancel context.CancelFunc
	done   chan struct{}
	err    error // PutObject's, read after done
	once   sync.Once
	final  error
}

// Create implements Destination: the object is a multipart upload
// (parts of PartSize) completed by Commit.
func (s *S3) Create(ctx context.Context, key string) (ObjectWriter, error) {
	name, err := s.object(key)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	w := &s3Writer{s: s, name: name, pw: pw, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		_, w.err = s.Client.PutObject(ctx, s.Bucket, name, pr, -1, minio.PutObjectOptions{
			PartSize: s.partSize(), ContentType: "application/octet-stream"})
		// A writer still writing gets the upload's error.
		if w.err != nil {
			pr.CloseWithError(s.objectErr("upload", name, w.err))
		}
	}()
	return w, nil
}

// Write implements io.Writer; it fails with the upload's error when the
// upload ended early.
func (w *s3Writer) Write(p []byte) (int, error) {
	n, err := w.pw.Write(p)
	if errors.Is(err, io.ErrClosedPipe) {
		return n, fmt.Errorf("destination %s: write %s: object already committed or aborted", w.s.DestName, w.s.url(w.name))
	}
	return n, err
}

// Commit implements ObjectWriter: it ends the stream and waits for the
// upload to complete.
func (w *s3Writer) Commit() error {
	committed := false
	w.once.Do(func() {
		committed = true
		w.pw.Close()
		<-w.done
		w.cancel()
		if w.err != nil {
			w.final = w.s.objectErr("upload", w.name, w.err)
		}
	})
	if !committed {
		return errors.New("object already committed or aborted")
	}
	return w.final
}

// Abort implements ObjectWriter: the upload is cancelled and its parts
// dropped (minio-go aborts the multipart upload).
func (w *s3Writer) Abort() {
	w.once.Do(func() {
		w.pw.CloseWithError(errS3Aborted)
		w.cancel()
		<-w.done
	})
}

// Open implements Destination. A missing object's error wraps
// fs.ErrNotExist.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	name, err := s.object(key)
	if err != nil {
		return nil, err
	}
	obj, err := s.Client.GetObject(ctx, s.Bucket, name, minio.GetObjectOptions{})
	if err == nil {
		// GetObject is lazy: Stat makes the request, so a missing object
		// fails here rather than at the first Read.
		_, err = obj.Stat()
	}
	if err != nil {
		if obj != nil {
			obj.Close()
		}
		return nil, s.objectErr("open", name, err)
	}
	return obj, nil
}

// objectErr wraps err of op on the object name; NoSuchKey and
// NoSuchBucket also wrap fs.ErrNotExist, and a refusal of the
// credentials says which settings to check (never their values).
func (s *S3) objectErr(op, name string, err error) error {
	switch minio.ToErrorResponse(err).Code {
	case minio.NoSuchKey, minio.NoSuchBucket:
		return fmt.Errorf("destination %s: %s %s: %w (%w)", s.DestName, op, s.url(name), fs.ErrNotExist, err)
	case "SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "InvalidToken", "ExpiredToken":
		return fmt.Errorf("destination %s: %s %s: %w (check the destination's access_key and secret_key)", s.DestName, op, s.url(name), err)
	}
	return fmt.Errorf("destination %s: %s %s: %w", s.DestName, op, s.url(name), err)
}

// Delete implements Destination: every object under prefix/ (and one
// named prefix itself) is removed; each object that could not be is
// reported.
func (s *S3) Delete(ctx context.Context, prefix string) error {
	name, err := s.object(prefix)
	if err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	objs := make(chan minio.ObjectInfo)
	listed := make(chan error, 1)
	go func() { listed <- s.list(lctx, name, objs) }()
	var errs []error
	for e := range s.Client.RemoveObjects(lctx, s.Bucket, objs, minio.RemoveObjectsOptions{}) {
		errs = append(errs, s.objectErr("remove", e.ObjectName, e.Err))
	}
	// RemoveObjects drains objs unless it stopped early (then with an
	// error already): the lister ends either way.
	cancel()
	if err := <-listed; err != nil {
		errs = append(errs, s.objectErr("list", name+"/", err))
	}
	if len(errs) == 0 {
		errs = s.abortUploads(ctx, name)
	}
	if len(errs) > 0 {
		return fmt.Errorf("delete %s: %w", s.url(name+"/"), errors.Join(errs...))
	}
	return nil
}

// list sends every object under name/ to objs, then name itself (Dir
// removes a file named as the prefix too; removing a missing object is
// no error in S3), and closes objs.
func (s *S3) list(ctx context.Context, name string, objs chan<- minio.ObjectInfo) error {
	defer close(objs)
	send := func(o minio.ObjectInfo) bool {
		select {
		case objs <- o:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for o := range s.Client.ListObjects(ctx, s.Bucket, minio.ListObjectsOptions{Prefix: name + "/", Recursive: true}) {
		if o.Err != nil {
			return o.Err
		}
		if !send(o) {
			return ctx.Err()
		}
	}
	send(minio.ObjectInfo{Key: name})
	return nil
}

// abortUploads aborts the multipart uploads left under name/ (by a
// process that died while writing the generation), whose parts a store
// keeps, unlisted, until they are aborted.
func (s *S3) abortUploads(ctx context.Context, name string) []error {
	var errs []error
	aborted := map[string]bool{}
	for u := range s.Client.ListIncompleteUploads(ctx, s.Bucket, name+"/", true) {
		switch {
		case u.Err != nil:
			return append(errs, s.objectErr("list uploads", name+"/", u.Err))
		case aborted[u.Key]:
		default:
			aborted[u.Key] = true
			if err := s.Client.RemoveIncompleteUpload(ctx, s.Bucket, u.Key); err != nil {
				errs = append(errs, s.objectErr("abort upload", u.Key, err))
			}
		}
	}
	return errs
}
