package node

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/configs"
)

// writePKI writes a CA and a node certificate (IP SAN 127.0.0.1) signed by
// it into dir, and returns the YAML of a cluster.tls section using them.
func writePKI(t *testing.T, dir string) string {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "unyo test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "node"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return fmt.Sprintf("  tls:\n    cert_file: %q\n    key_file: %q\n    ca_file: %q\n",
		write("node.pem", "CERTIFICATE", der), write("node-key.pem", "EC PRIVATE KEY", keyDER), write("ca.pem", "CERTIFICATE", caDER))
}

func startYAML(t *testing.T, name, clusterExtra string) (*Node, error) {
	t.Helper()
	dir := t.TempDir()
	yml := fmt.Sprintf("node:\n  name: %s\n  data_dir: %q\nhttp:\n  listen: 127.0.0.1:0\ncluster:\n  bind: 127.0.0.1:0\n%s", name, dir, clusterExtra)
	cfg, err := configs.Parse(filepath.Join(dir, "unyo.yaml"), []byte(yml))
	if err != nil {
		return nil, err
	}
	o, err := FromConfig(cfg, nil)
	if err != nil {
		return nil, err
	}
	o.Auth.BootstrapToken = testAdminToken
	n, err := New(context.Background(), o)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	return n, n.Start(context.Background())
}

// TestRaftMutualTLS: members configured with cluster.tls form a cluster;
// a member with a certificate from another CA is never added.
func TestRaftMutualTLS(t *testing.T) {
	good := writePKI(t, t.TempDir())
	a, err := startYAML(t, "tls-a", joinYAML("")+good)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "tls-a leads", a.IsLeader)
	b, err := startYAML(t, "tls-b", joinYAML(a.URL())+good)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "tls-b joined over TLS", func() bool { return len(a.Cluster().Members()) == 2 && b.Cluster().InQuorum() })

	other := writePKI(t, t.TempDir()) // a different CA
	c, err := startYAML(t, "tls-c", joinYAML(a.URL())+"  join_timeout: 5s\n"+other)
	if err != nil {
		t.Fatal(err)
	}
	// Through tls-c's join attempts (join_timeout 5s), it is never a
	// member and never leads. The trusted pair may trade leadership under
	// a loaded machine's election timeouts; that is not what is tested.
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if c.Cluster().InQuorum() {
			t.Fatal("a member with an untrusted certificate is in the quorum")
		}
		for _, m := range a.Cluster().Members() {
			if m.ID == "tls-c" {
				t.Fatal("a member with an untrusted certificate was added")
			}
		}
		if l := a.Cluster().Status().Leader; l.ID == "tls-c" {
			t.Fatal("the untrusted member leads")
		}
	}
}
