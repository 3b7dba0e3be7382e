package configs

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/unyo-ops/unyo/internal/secretbox"
)

// sentinel returns a distinct random string to plant as a secret.
func sentinel(t testing.TB, what string) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "S3nt" + what + hex.EncodeToString(b)
}

func TestSecretReferences(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "unyo.yaml")
	write := func(rel, content string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	pw := sentinel(t, "pw")
	write("smtp.pass", pw+"\n", 0o600)
	write("empty.pass", "\n", 0o600)
	write("big.pass", strings.Repeat("x", maxSecretFile+1), 0o600)
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o700); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOOK_URL": "https://hooks.example/x?token=" + pw, "EMPTY": ""}
	opts := ParseOptions{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}

	head := "alerting:\n  smtp: {host: mail, from: unyo@example.com, username: unyo, "
	t.Run("resolved", func(t *testing.T) {
		c, err := ParseWith(name, []byte(head+"password: file:smtp.pass}\n  webhook: {url: '${env:HOOK_URL}'}\n"), opts)
		if err != nil {
			t.Fatal(err)
		}
		if string(c.Alerting.SMTP.Password) != pw || string(c.Alerting.Webhook.URL) != env["HOOK_URL"] {
			t.Errorf("resolved to %q, %q", string(c.Alerting.SMTP.Password), string(c.Alerting.Webhook.URL))
		}
		if strings.Contains(c.String(), pw) {
			t.Errorf("printed config shows the resolved secret:\n%s", c)
		}
	})
	t.Run("dir", func(t *testing.T) {
		// A posted config resolves file: next to the node's own file.
		o := opts
		o.Dir = dir
		c, err := ParseWith("posted.yaml", []byte(head+"password: file:smtp.pass}\n"), o)
		if err != nil || string(c.Alerting.SMTP.Password) != pw {
			t.Errorf("Dir: %v", err)
		}
	})
	abs := filepath.Join(dir, "smtp.pass")
	for _, tc := range []struct{ pass, want string }{
		{"'${env:NOPE}'", "2: alerting.smtp.password: environment variable NOPE is not set"},
		{"'${env:EMPTY}'", "2: alerting.smtp.password: environment variable EMPTY is empty"},
		{"'${env:BAD-NAME}'", `2: alerting.smtp.password: a reference must be ${env:NAME} with NAME of A-Z, a-z, 0-9, '_' (write a value starting with "${" in a file: reference)`},
		{"file:nope.pass", "2: alerting.smtp.password: file:" + filepath.Join(dir, "nope.pass") + ": no such file"},
		{"'file:'", "2: alerting.smtp.password: file: wants a path, e.g. file:/etc/unyo/smtp.pass"},
		{"file:empty.pass", "2: alerting.smtp.password: file:" + filepath.Join(dir, "empty.pass") + ": empty"},
		{"file:big.pass", "2: alerting.smtp.password: file:" + filepath.Join(dir, "big.pass") + ": larger than 65536 bytes"},
		{"file:adir", "2: alerting.smtp.password: file:" + filepath.Join(dir, "adir") + ": a directory, want a file"},
		{"file:/dev/null", "2: alerting.smtp.password: file:/dev/null: not a regular file"},
		{"'enc:v1:AAAA'", "2: alerting.smtp.password: a sealed value (enc:v1:) opens only with the cluster secret key, in the cluster's replicated configuration; write the value, ${env:NAME} or file:PATH here"},
		{"{a: b}", "2: alerting.smtp.password: want a string, got a mapping"},
	} {
		t.Run(tc.pass, func(t *testing.T) {
			_, err := ParseWith(name, []byte(head+"password: "+tc.pass+"}\n"), opts)
			if err == nil || err.Error() != name+":"+tc.want {
				t.Errorf("got  %v\nwant %s", err, name+":"+tc.want)
			}
		})
	}
	_ = abs

	// A sealed value opens with the right key only.
	key := bytes.Repeat([]byte{1}, secretbox.KeySize)
	sealed, _ := secretbox.Seal(key, pw)
	yml := []byte(head + "password: " + sealed + "}\n")
	c, err := ParseWith(name, yml, ParseOptions{SecretKey: func() ([]byte, error) { return key, nil }})
	if err != nil || string(c.Alerting.SMTP.Password) != pw {
		t.Errorf("sealed: %v", err)
	}
	other := bytes.Repeat([]byte{2}, secretbox.KeySize)
	_, err = ParseWith(name, yml, ParseOptions{SecretKey: func() ([]byte, error) { return other, nil }})
	if want := name + ":2: alerting.smtp.password: sealed value: cannot decrypt (another cluster's key, or an edited value)"; err == nil || err.Error() != want {
		t.Errorf("wrong key: %v\nwant %s", err, want)
	}
	_, err = ParseWith(name, yml, ParseOptions{SecretKey: func() ([]byte, error) { return nil, secretbox.ErrNoKey }})
	if err == nil || !errors.Is(errors.Unwrap(err), nil) && !strings.Contains(err.Error(), "no cluster secret key") {
		t.Errorf("no key: %v", err)
	}
}

// sentinelConfig is a configuration with a distinct sentinel in every
// secret-bearing field, in the styles YAML allows (plain, quoted, flow,
// anchors and merges); it returns the YAML and the sentinels.
func sentinelConfig(t testing.TB) (string, []string) {
	var all []string
	s := func(what string) string {
		v := sentinel(t, what)
		all = append(all, v)
		return v
	}
	yml := fmt.Sprintf(`# a comment that stays
node:
  name: n1
nats:
  url: nats://unyo:%s@127.0.0.1:4222
ledger:
  driver: postgres
  postgres:
    url: "postgres://unyo:%s@127.0.0.1:5432/unyo"
alerting:
  smtp:
    host: 127.0.0.1
    from: unyo@example.com
    username: unyo
    password: '%s'
  webhook: {url: "https://hooks.example/notify?token=%s&x=1"}
  contacts:
    - {name: desk, webhook: https://hooks.example/services/T0/B0/%s}
backup:
  destinations:
    - name: offsite
      s3: {endpoint: "s3.example.net:443", bucket: unyo-backups, access_key: AKIAEXAMPLE, secret_key: %s}
monitor:
  traps:
    listen: 127.0.0.1:0
    communities: [%s, "%s"]
    users:
      - {name: trapper, auth_protocol: SHA, auth_passphrase: %s, priv_protocol: AES, priv_passphrase: %s}
  targets:
    - name: sw1
      address: 127.0.0.1
      snmp: &v3 {version: v3, user: unyo, auth_password: %s, priv_password: %s}
    - name: sw2
      address: 127.0.0.2
      snmp:
        <<: *v3
    - name: sw3
      address: 127.0.0.3
      snmp: {community: %s}
    - name: web1
      address: 127.0.0.1
      services:
        - {type: http, url: "http://mon:%s@127.0.0.1:1/health?token=%s"}
        - {type: postgres, dsn: "host=127.0.0.1 port=1 user=u password=%s dbname=x"}
        - type: postgres
          name: pg-url
          dsn: >-
            postgres://u:%s@127.0.0.1:1/x
`, s("nats"), s("ledger"), s("smtp"), s("hook"), s("contact"), s("s3secret"), s("comm1"), s("comm2"), s("trapauth"), s("trappriv"),
		s("snmpauth"), s("snmppriv"), s("comm3"), s("svcpw"), s("svctoken"), s("dsnpw"), s("dsnurl"))
	return yml, all
}

func TestSealShared(t *testing.T) {
	yml, sentinels := sentinelConfig(t)
	dir := t.TempDir()
	name := filepath.Join(dir, "unyo.yaml")
	key := bytes.Repeat([]byte{9}, secretbox.KeySize)
	keyFn := func() ([]byte, error) { return key, nil }
	orig, err := Parse(name, []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	secretValues(reflect.ValueOf(orig).Elem(), "", func(path, val string) {
		for _, s := range sentinels {
			if strings.Contains(val, s) {
				found++
			}
		}
	})
	if found < len(sentinels) {
		t.Fatalf("the walker found %d of %d sentinels", found, len(sentinels))
	}
	for _, out := range []string{orig.String()} {
		for _, s := range sentinels {
			if strings.Contains(out, s) {
				t.Errorf("printed config shows %s", s)
			}
		}
	}

	sealed, err := SealShared(name, []byte(yml), ParseOptions{SecretKey: keyFn})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sentinels {
		if bytes.Contains(sealed, []byte(s)) {
			t.Errorf("sealed config holds %s:\n%s", s, sealed)
		}
	}
	if bytes.Contains(sealed, []byte("node:")) || bytes.Contains(sealed, []byte("ledger:")) {
		t.Errorf("local sections replicated:\n%s", sealed)
	}
	if got, want := bytes.Count(sealed, []byte("\n")), bytes.Count([]byte(yml), []byte("\n")); got != want {
		t.Errorf("sealed config has %d lines, want %d", got, want)
	}
	back, err := ParseWith(name, sealed, ParseOptions{SecretKey: keyFn})
	if err != nil {
		t.Fatal(err)
	}
	if !sameShared(back, orig) {
		t.Errorf("sealed config parses to other shared sections")
	}
	// Sealing is idempotent: nothing written in clear is left.
	again, err := SealShared(name, sealed, ParseOptions{SecretKey: keyFn})
	if err != nil || !bytes.Equal(again, sealed) {
		t.Errorf("sealing again changed the file (%v)", err)
	}
	// Without the key, the replicated config does not load, and says why.
	if _, err := Parse(name, sealed); err == nil || !strings.Contains(err.Error(), "unyo.yaml:15: alerting.smtp.password: a sealed value") {
		t.Errorf("without a key: %v", err)
	}

	// References stay as written; a config with no secret needs no key.
	ref := []byte("alerting:\n  smtp: {host: h, username: u, password: '${env:HOME}', from: a@example.com}\nmonitor:\n  targets: [{name: a, address: 127.0.0.1}]\n")
	out, err := SealShared(name, ref, ParseOptions{SecretKey: func() ([]byte, error) { return nil, errors.New("no key wanted") }})
	if err != nil || !bytes.Equal(out, ref) {
		t.Errorf("references: %v\n%s", err, out)
	}
	// A secret in a flow-style top level: the whole document is sealed.
	flow := []byte("{node: {name: n}, alerting: {smtp: {host: h, from: a@example.com, username: u, password: " + sentinels[2] + "}}}\n")
	out, err = SealShared(name, flow, ParseOptions{SecretKey: keyFn})
	if err != nil || bytes.Contains(out, []byte(sentinels[2])) || !bytes.Contains(out, []byte("node")) {
		t.Errorf("flow: %v\n%s", err, out)
	}
}

// FuzzSealShared: a config that parses seals to one that holds none of
// its secrets in clear and parses, with the key, to the same shared
// sections.
func FuzzSealShared(f *testing.F) {
	yml, _ := sentinelConfig(f)
	f.Add([]byte(yml))
	f.Add([]byte("alerting: {smtp: {host: h, username: u, password: \"p\\\"w\"}}\n"))
	f.Add([]byte("monitor:\n  traps: {listen: ':0', communities: [a, 'b''c', \"d\"]}\n"))
	f.Add([]byte("alerting:\n  smtp:\n    host: h\n    username: u\n    password: |\n      multi\n"))
	key := bytes.Repeat([]byte{3}, secretbox.KeySize)
	keyFn := func() ([]byte, error) { return key, nil }
	f.Fuzz(func(t *testing.T, data []byte) {
		if bytes.Contains(data, []byte("file:")) || bytes.Contains(data, []byte("${")) {
			return // references read the machine's files and environment
		}
		orig, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		sealed, err := SealShared("fuzz.yaml", data, ParseOptions{SecretKey: keyFn})
		if err != nil {
			t.Fatalf("seal: %v\n%s", err, data)
		}
		back, err := ParseWith("fuzz.yaml", sealed, ParseOptions{SecretKey: keyFn})
		if err != nil || !sameShared(back, orig) {
			t.Fatalf("sealed config: %v\n%s", err, sealed)
		}
		// No secret is left in clear: every one parses as a sealed value.
		root, _ := parseYAML("fuzz.yaml", sealed)
		d := &decoder{file: "fuzz.yaml", lines: map[string]int{}, collect: func(n *yamlNode, path string) {
			if n.Value != "" && !IsSecretReference(n.Value) {
				t.Errorf("%s left in clear in\n%s", path, sealed)
			}
		}}
		c := &Config{}
		if root != nil {
			d.decodeRoot(root, reflect.ValueOf(c).Elem())
		}
	})
}

type yamlNode = yaml.Node

// FuzzResolveSecret: resolving never panics; a value written out is
// itself; an error never quotes what a reference stands for.
func FuzzResolveSecret(f *testing.F) {
	for _, s := range []string{"plain", "${env:PW}", "${env:}", "${env:NOPE}", "file:pw", "file:", "file:../x", "enc:v1:AAAA", "enc:v1:", "${"} {
		f.Add(s)
	}
	dir := f.TempDir()
	const secret = "Fuzz3dS3cret"
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte(secret+"\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	key := bytes.Repeat([]byte{5}, secretbox.KeySize)
	d := &decoder{dir: dir, opts: ParseOptions{
		LookupEnv: func(k string) (string, bool) { return secret, k == "PW" },
		SecretKey: func() ([]byte, error) { return key, nil },
	}}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.HasPrefix(s, "file:") && !strings.HasPrefix(s, "file:pw") {
			return // other files of this machine
		}
		got, err := d.resolveSecret(s)
		switch {
		case err != nil:
			if strings.Contains(err.Error(), secret) {
				t.Errorf("resolve %q: error %q quotes the secret", s, err)
			}
		case !IsSecretReference(s) && got != s:
			t.Errorf("resolve %q = %q, want the value itself", s, got)
		}
	})
}
