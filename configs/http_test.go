package configs

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/internal/tlsfiles/tlstest"
)

// TestHTTPInsecureRule: plain HTTP is refused on every address that is not
// loopback unless http.insecure is true; TLS or loopback needs nothing.
func TestHTTPInsecureRule(t *testing.T) {
	dir := t.TempDir()
	cert, key := tlstest.NewCA(t, dir, "ca").Issue(t, "node")
	tls := "  tls:\n    cert_file: " + cert + "\n    key_file: " + key + "\n"
	for _, tc := range []struct {
		listen, extra string
		ok            bool
		external      string
	}{
		{"127.0.0.1:9780", "", true, "http://127.0.0.1:9780"},
		{"127.0.0.2:0", "", true, "http://127.0.0.2:0"},
		{"localhost:9780", "", true, "http://localhost:9780"},
		{"[::1]:9780", "", true, "http://[::1]:9780"},
		{":9780", "", false, ""},
		{"0.0.0.0:9780", "", false, ""},
		{"[::]:9780", "", false, ""},
		{"10.0.0.1:9780", "", false, ""},
		{"unyo1:9780", "", false, ""},
		{"0.0.0.0:9780", "  insecure: true\n", true, "http://localhost:9780"},
		{"10.0.0.1:9780", "  insecure: true\n", true, "http://10.0.0.1:9780"},
		{"0.0.0.0:9780", tls, true, "https://localhost:9780"},
		{"127.0.0.1:9443", tls, true, "https://127.0.0.1:9443"},
	} {
		t.Run(tc.listen+strings.ReplaceAll(tc.extra, "\n", " "), func(t *testing.T) {
			c, err := Parse(filepath.Join(dir, "unyo.yaml"), []byte("http:\n  listen: \""+tc.listen+"\"\n"+tc.extra))
			if !tc.ok {
				if err == nil || !strings.Contains(err.Error(), "http.listen: ") || !strings.Contains(err.Error(), "http.tls") || !strings.Contains(err.Error(), "http.insecure: true") {
					t.Fatalf("error = %v, want one naming http.listen, http.tls and http.insecure", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.HTTP.ExternalURL != tc.external {
				t.Errorf("external_url = %q, want %q", c.HTTP.ExternalURL, tc.external)
			}
		})
	}
}

// TestJobnetParamsForms: the older mapping form declares each key with the
// default pattern; the printed configuration (the list form) loads back
// to the same declarations.
func TestJobnetParamsForms(t *testing.T) {
	c, err := Parse("p.yaml", []byte("jobnets:\n  - name: n\n    params: {keep_days: \"30\", 7: x}\n    jobs: [{name: a, command: /bin/echo, args: [\"${keep_days}\", \"${7}\"]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := JobnetParams{{Name: "keep_days", Default: "30"}, {Name: "7", Default: "x"}}
	if got := c.Jobnets[0].Params; !reflect.DeepEqual(got, want) {
		t.Fatalf("params = %+v, want %+v", got, want)
	}
	c2, err := Parse("p2.yaml", []byte(c.String()))
	if err != nil {
		t.Fatalf("printed config does not load: %v\n%s", err, c)
	}
	if !reflect.DeepEqual(c2.Jobnets[0].Params, want) {
		t.Fatalf("after a round trip: %+v", c2.Jobnets[0].Params)
	}
	re, _ := want[0].Regexp()
	for v, ok := range map[string]bool{"30": true, "": true, "a b": false, "x;y": false, "../x": false, "30\n": false} {
		if re.MatchString(v) != ok {
			t.Errorf("default pattern on %q: %v, want %v", v, !ok, ok)
		}
	}
}

// TestHTTPTLSFilesLoad: config validation loads the pair and the CA
// bundles, so `config check` reports a key that does not belong to the
// certificate, or a CA file without a certificate.
func TestHTTPTLSFilesLoad(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	cert, _ := ca.Issue(t, "a")
	_, otherKey := ca.Issue(t, "b")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	yml := "http:\n  tls:\n    cert_file: " + cert + "\n    key_file: " + otherKey + "\n    ca_file: " + notPEM + "\n"
	_, err := Parse(filepath.Join(dir, "u.yaml"), []byte(yml))
	for _, want := range []string{"u.yaml:3: http.tls.cert_file: ", "private key does not match public key", "u.yaml:5: http.tls.ca_file: ", "no PEM certificate"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}
