package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"
)

// TestNATSEmbeddedCluster: a valid embedded-cluster section, with its TLS
// files resolved against the config file's directory.
func TestNATSEmbeddedCluster(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "tls"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"node1.pem", "node1-key.pem", "ca.pem"} {
		if err := os.WriteFile(filepath.Join(dir, "tls", f), []byte("pem"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Parse(filepath.Join(dir, "unyo.yaml"), []byte(`
node:
  name: node1
nats:
  embedded:
    cluster:
      name: dc1
      listen: 0.0.0.0:6222
      routes: [nats-route://10.0.0.1:6222, 10.0.0.2:6222, "node3.example:6222"]
      tls:
        cert_file: tls/node1.pem
        key_file: tls/node1-key.pem
        ca_file: tls/ca.pem
  stream:
    replicas: 3
`))
	if err != nil {
		t.Fatal(err)
	}
	cl := c.NATS.Embedded.Cluster
	want := NATSClusterConfig{
		Name:   "dc1",
		Listen: "0.0.0.0:6222",
		Routes: []string{"nats-route://10.0.0.1:6222", "10.0.0.2:6222", "node3.example:6222"},
		TLS: NATSClusterTLSConfig{
			CertFile: filepath.Join(dir, "tls/node1.pem"),
			KeyFile:  filepath.Join(dir, "tls/node1-key.pem"),
			CAFile:   filepath.Join(dir, "tls/ca.pem"),
		},
	}
	if !reflect.DeepEqual(cl, want) {
		t.Errorf("cluster\n got %+v\nwant %+v", cl, want)
	}
	if !c.NATS.EmbeddedCluster() || !cl.TLS.Enabled() || c.NATS.Stream.Replicas != 3 {
		t.Errorf("EmbeddedCluster %v, TLS %v, replicas %d", c.NATS.EmbeddedCluster(), cl.TLS.Enabled(), c.NATS.Stream.Replicas)
	}

	// The default: no cluster, name "unyo", routes nil.
	d := Default()
	if d.NATS.EmbeddedCluster() || d.NATS.Embedded.Cluster.Name != "unyo" || d.NATS.Embedded.Cluster.Routes != nil || d.NATS.Embedded.Cluster.TLS.Enabled() {
		t.Errorf("default cluster section %+v", d.NATS.Embedded.Cluster)
	}

	// With nats.url set, the embedded cluster is not used.
	c, err = Parse(filepath.Join(dir, "ext.yaml"), []byte(`
nats:
  url: nats://10.0.0.1:4222
  embedded:
    cluster:
      listen: 127.0.0.1:6222
      routes: [127.0.0.1:6222]
  stream:
    replicas: 3
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.NATS.EmbeddedCluster() {
		t.Error("EmbeddedCluster with nats.url set")
	}
}

// TestNATSAuthCallout: the issuer seed is read from its file reference,
// checked, and never printed; agents.enabled with nats.url takes it.
func TestNATSAuthCallout(t *testing.T) {
	dir := t.TempDir()
	kp, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	if err := os.WriteFile(filepath.Join(dir, "issuer.nk"), append(seed, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse(filepath.Join(dir, "unyo.yaml"), []byte(`
nats:
  url: nats://unyo:node-secret@nats1:4222
  auth_callout:
    issuer_seed: file:issuer.nk
    account: UNYO
    ttl: 1h
agents:
  enabled: true
`))
	if err != nil {
		t.Fatal(err)
	}
	ac := c.NATS.AuthCallout
	if string(ac.IssuerSeed) != string(seed) || ac.Account != "UNYO" || ac.TTL != time.Hour || !ac.Enabled() {
		t.Errorf("auth_callout = account %q ttl %s enabled %v, seed read %v", ac.Account, ac.TTL, ac.Enabled(), string(ac.IssuerSeed) == string(seed))
	}
	for _, out := range []string{c.String(), fmt.Sprintf("%v %+v %#v", ac, ac, ac)} {
		if strings.Contains(out, string(seed)) || strings.Contains(out, "node-secret") {
			t.Errorf("a secret printed:\n%s", out)
		}
	}
}
