package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/internal/tlsfiles/tlstest"
)

// startHTTPS starts a node from YAML whose http section is httpYAML (the
// listen address is 127.0.0.1:0) and cluster section clusterYAML.
func startHTTPS(t *testing.T, name, httpYAML, clusterYAML string) *Node {
	t.Helper()
	dir := t.TempDir()
	yml := fmt.Sprintf("node:\n  name: %s\n  data_dir: %q\nhttp:\n  listen: 127.0.0.1:0\n%scluster:\n  bind: 127.0.0.1:0\n%s", name, dir, httpYAML, clusterYAML)
	cfg, err := configs.Parse(filepath.Join(dir, "unyo.yaml"), []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	o, err := FromConfig(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return n
}

func httpTLSYAML(ca *tlstest.CA, cert, key string, clientCA bool) string {
	s := fmt.Sprintf("  tls:\n    cert_file: %q\n    key_file: %q\n    ca_file: %q\n", cert, key, ca.File)
	if clientCA {
		s += fmt.Sprintf("    client_ca_file: %q\n", ca.File)
	}
	return s
}

// TestHTTPSListener: a node with http.tls answers HTTPS over HTTP/2; the
// client trusting its CA gets answers, a client that does not gets an
// error saying to give --ca-file, and a plain http:// request is refused.
func TestHTTPSListener(t *testing.T) {
	ca := tlstest.NewCA(t, t.TempDir(), "unyo")
	cert, key := ca.Issue(t, "tls1")
	n := startHTTPS(t, "tls1", httpTLSYAML(ca, cert, key, false), "")
	if !strings.HasPrefix(n.URL(), "https://") {
		t.Fatalf("URL() = %s, want https://", n.URL())
	}

	hc, err := client.HTTPClient(client.TLSFiles{CAFile: ca.File}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(n.URL() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || resp.TLS == nil || resp.TLS.NegotiatedProtocol != "h2" {
		t.Fatalf("GET /healthz: %s %s, ALPN %v; want 200 over HTTP/2", resp.Proto, resp.Status, resp.TLS)
	}

	ctx := context.Background()
	c, err := client.NewTLS(n.URL(), client.TLSFiles{CAFile: ca.File})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the node is ready over HTTPS", func() bool { return c.Ready(ctx) == nil })
	// An API route answers (it wants an identity: the TLS layer let the
	// request through to it).
	_, err = c.Incidents(ctx, client.ListOptions{})
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Fatalf("incidents over HTTPS without a token: %v, want the API's 401", err)
	}

	plain, err := client.New(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	err = plain.Ready(ctx)
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") || !strings.Contains(err.Error(), "--ca-file") {
		t.Fatalf("without the CA: error %v, want unknown authority and a hint at --ca-file", err)
	}

	httpURL := "http://" + n.Addr()
	overHTTP, _ := client.New(httpURL)
	err = overHTTP.Ready(ctx)
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Fatalf("http:// to the HTTPS listener: %v, want HTTP 400", err)
	}
}

// TestHTTPSClientCertificates: with http.tls.client_ca_file a client
// without a certificate is refused at the handshake, one with a
// certificate from the CA gets in, one from another CA does not.
func TestHTTPSClientCertificates(t *testing.T) {
	ca := tlstest.NewCA(t, t.TempDir(), "unyo")
	cert, key := ca.Issue(t, "mtls1")
	n := startHTTPS(t, "mtls1", httpTLSYAML(ca, cert, key, true), "")
	opCert, opKey := ca.Issue(t, "operator")
	other := tlstest.NewCA(t, t.TempDir(), "other")
	otherCert, otherKey := other.Issue(t, "intruder")
	for _, tc := range []struct {
		name string
		f    client.TLSFiles
		ok   bool
	}{
		{"no certificate", client.TLSFiles{CAFile: ca.File}, false},
		{"certificate of another CA", client.TLSFiles{CAFile: ca.File, CertFile: otherCert, KeyFile: otherKey}, false},
		{"certificate of the CA", client.TLSFiles{CAFile: ca.File, CertFile: opCert, KeyFile: opKey}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc, err := client.HTTPClient(tc.f, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := hc.Get(n.URL() + "/healthz")
			if err == nil {
				resp.Body.Close()
			}
			if tc.ok && (err != nil || resp.StatusCode != http.StatusOK) {
				t.Fatalf("GET /healthz: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("GET /healthz answered %s, want a refused handshake", resp.Status)
			}
		})
	}
}

// TestClusterOverTLS: two members with HTTPS listeners that require
// client certificates, and mutual TLS on Raft: the second joins over
// https://, and a command applied on the follower is forwarded to the
// leader over HTTPS with the member's certificate.
func TestClusterOverTLS(t *testing.T) {
	ca := tlstest.NewCA(t, t.TempDir(), "unyo")
	raftTLS := func(name string) string {
		c, k := ca.Issue(t, name+"-raft")
		return fmt.Sprintf("  tls:\n    cert_file: %q\n    key_file: %q\n    ca_file: %q\n", c, k, ca.File)
	}
	c1, k1 := ca.Issue(t, "ctls1")
	a := startHTTPS(t, "ctls1", httpTLSYAML(ca, c1, k1, true), joinYAML("")+raftTLS("ctls1"))
	waitUntil(t, "ctls1 leads", a.IsLeader)
	c2, k2 := ca.Issue(t, "ctls2")
	b := startHTTPS(t, "ctls2", httpTLSYAML(ca, c2, k2, true), joinYAML(a.URL())+raftTLS("ctls2"))
	waitUntil(t, "ctls2 joined over HTTPS with its join token and holds its credential", func() bool {
		return len(a.Cluster().Members()) == 2 && b.Cluster().InQuorum() && b.Cluster().MemberCredential() != "" &&
			a.Cluster().State().Creds["ctls2"] == cluster.HashCredential(b.Cluster().MemberCredential())
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.Cluster().CreateJoinToken(ctx, time.Minute, "test"); err != nil {
		t.Fatalf("a request on the follower, forwarded over HTTPS with its member credential: %v", err)
	}
	waitUntil(t, "the leader has the forwarded token", func() bool { return len(a.Cluster().JoinTokens()) == 2 })
	if a.opts.TLS.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Fatalf("client auth %v, want the member certificate required", a.opts.TLS.ClientAuth)
	}
}
