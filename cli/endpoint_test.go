package cli

import (
	"io"
	"testing"

	"github.com/spf13/pflag"
)

// TestServerFlagEnv: UNYO_SERVER, UNYO_CA_FILE, UNYO_CLIENT_CERT and
// UNYO_CLIENT_KEY are the defaults of the flags, which override them.
func TestServerFlagEnv(t *testing.T) {
	envs := map[string]string{"UNYO_SERVER": "https://n1:9780", "UNYO_CA_FILE": "/etc/unyo/ca.pem",
		"UNYO_CLIENT_CERT": "/c.pem", "UNYO_CLIENT_KEY": "/k.pem"}
	env := &Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(k string) string { return envs[k] }}
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	e := serverFlag(fs, env)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if e.url != "https://n1:9780" || e.tls.CAFile != "/etc/unyo/ca.pem" || e.tls.CertFile != "/c.pem" || e.tls.KeyFile != "/k.pem" {
		t.Fatalf("from the environment: %+v", *e)
	}
	fs = pflag.NewFlagSet("x", pflag.ContinueOnError)
	e = serverFlag(fs, env)
	if err := fs.Parse([]string{"--ca-file", "/other.pem"}); err != nil {
		t.Fatal(err)
	}
	if e.tls.CAFile != "/other.pem" {
		t.Fatalf("--ca-file did not override UNYO_CA_FILE: %q", e.tls.CAFile)
	}
	if _, err := newClient(env, *e); err == nil {
		t.Fatal("a client with a CA file that does not exist: no error")
	}
}
