package s3test_test

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/unyo-ops/unyo/internal/s3test"
)

// TestStart: the server takes an object into the bucket (a file of its
// data directory) and gives it back, and is gone once stopped.
func TestStart(t *testing.T) {
	s := s3test.Start(t, "bkt1")
	c, err := s.Client()
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("hello s3")
	if _, err := c.PutObject(t.Context(), "bkt1", "a/b", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(s.Dir, "bkt1", "a", "b")); err != nil || !bytes.Equal(got, data) {
		t.Errorf("backend file: %q %v", got, err)
	}
	o, err := c.GetObject(t.Context(), "bkt1", "a/b", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(o)
	o.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("get: %q %v", got, err)
	}
	s.Stop()
	if conn, err := net.Dial("tcp", s.Endpoint); err == nil {
		conn.Close()
		t.Error("the server still takes connections after Stop")
	}
}
