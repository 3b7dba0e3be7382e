package cluster_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/cluster/clustertest"
)

// testCA issues certificates for 127.0.0.1 valid as server and client.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "unyo test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// mutualTLS returns a config for a node: its certificate from ca, and ca
// as the only trusted root for peers in both directions.
func (ca *testCA) mutualTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "unyo node"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		RootCAs:      ca.pool,
		ClientCAs:    ca.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
}

// Raft over mutual TLS: the cluster forms and fails over; a client with a
// certificate from another CA, or none, is refused.
func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	conf := ca.mutualTLS(t)
	c := clustertest.Start(t, 3, clustertest.TCP(), clustertest.WithOptions(func(id string, o *cluster.Options) {
		o.TLS = conf
	}))
	if _, err := c.Node(c.Followers()[0]).SetConfig(ctxT(t, 10*time.Second), 1, []byte("tls")); err != nil {
		t.Fatal(err)
	}
	c.WaitConverged()
	leader := c.WaitLeader()
	addr := c.Node(leader).Addr()

	// The client trusts the server; the server must refuse the client.
	otherCA := newTestCA(t).mutualTLS(t)
	otherCA.RootCAs = ca.pool
	for name, cfg := range map[string]*tls.Config{
		"client cert from other CA": otherCA,
		"no client cert":            {RootCAs: ca.pool},
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, cfg)
			if err == nil {
				// TLS 1.3 reports a rejected client certificate on the
				// first read.
				_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
				_, err = conn.Read(make([]byte, 1))
				conn.Close()
			}
			var ne net.Error
			if err == nil || errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("untrusted peer not refused: %v", err)
			}
			t.Logf("refused: %v", err)
		})
	}

	c.Kill(leader)
	c.WaitLeader()
	c.Restart(leader)
	c.WaitConverged()
}
