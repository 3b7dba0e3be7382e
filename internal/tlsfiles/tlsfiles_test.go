package tlsfiles

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/internal/tlsfiles/tlstest"
)

// TestCertificateReload: a changed pair is served from the next check on;
// a broken pair keeps the previous one.
func TestCertificateReload(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "test")
	certFile, keyFile := ca.Issue(t, "one")
	c, err := LoadCertificate(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cn := c.Leaf().Subject.CommonName; cn != "one" {
		t.Fatalf("CN = %q, want one", cn)
	}
	// Replace the pair by another one's files.
	c2, k2 := ca.Issue(t, "two")
	for _, mv := range [][2]string{{c2, certFile}, {k2, keyFile}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Leaf().Subject.CommonName != "two" {
		if time.Now().After(deadline) {
			t.Fatal("the changed certificate was never loaded")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A broken key keeps "two".
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.checked = time.Time{}
	c.mu.Unlock()
	if cn := c.Leaf().Subject.CommonName; cn != "two" {
		t.Fatalf("after a broken key CN = %q, want two kept", cn)
	}
}

func TestPoolAndClientErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "x.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Pool(notPEM); !errors.Is(err, ErrNoCertificates) {
		t.Errorf("Pool(not PEM) = %v, want ErrNoCertificates", err)
	}
	if _, err := Pool(filepath.Join(dir, "missing.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Pool(missing) = %v, want ErrNotExist", err)
	}
	if _, err := Client("", notPEM, ""); err == nil {
		t.Error("Client with a certificate and no key: no error")
	}
	ca := tlstest.NewCA(t, dir, "t")
	cf, kf := ca.Issue(t, "n")
	tc, _, err := Server(ServerOptions{CertFile: cf, KeyFile: kf, ClientCAFile: ca.File, RequireClientCert: true})
	if err != nil {
		t.Fatal(err)
	}
	if tc.ClientAuth != tls.RequireAndVerifyClientCert || tc.MinVersion != tls.VersionTLS12 {
		t.Errorf("server config: client auth %v, min version %x", tc.ClientAuth, tc.MinVersion)
	}
}
