package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/bus"
)

// TestAgentUsage: `unyo agent` refuses to start without what it needs,
// and never with a credential on the command line.
func TestAgentUsage(t *testing.T) {
	dir := t.TempDir()
	trust := filepath.Join(dir, "node.pub")
	if err := os.WriteFile(trust, []byte("not a key"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"agent", "--name", "web01", "--nats", "nats://127.0.0.1:1"}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no trusted key", base, 2, "--trust-key: required"},
		{"bad name", []string{"agent", "--name", "web.01", "--nats", "nats://127.0.0.1:1", "--trust-key", trust}, 2, "--name"},
		{"bad tag", append(append([]string{}, base...), "--trust-key", trust, "--tag", "a.b"), 2, "--tag"},
		{"two credentials", append(append([]string{}, base...), "--trust-key", trust, "--password-file", trust, "--nkey", trust), 2, "give one"},
		{"cert without key", append(append([]string{}, base...), "--trust-key", trust, "--tls-cert", trust), 2, "--tls-key"},
		{"a password on the command line", append(append([]string{}, base...), "--trust-key", trust, "--password", "x"), 2, "unknown flag: --password"},
		{"unreadable trusted key", append(append([]string{}, base...), "--trust-key", trust), 1, "no PEM PUBLIC KEY"},
		{"nkey without a file", []string{"agent", "nkey"}, 2, "usage: unyo agent nkey FILE"},
		{"trust-key without a config", []string{"agent", "trust-key"}, 2, "--config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(context.Background(), tc.args, &Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }})
			if code != tc.code || !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errOut.String(), tc.code, tc.want)
			}
		})
	}
}

func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		data, want string
		ok         bool
	}{
		"trailing newline": {"s3cret-password\n", "s3cret-password", true},
		"crlf":             {"s3cret-password\r\n", "s3cret-password", true},
		"empty":            {"\n", "", false},
		"too long":         {strings.Repeat("x", 5000), "", false},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(p, []byte(tc.data), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := readSecretFile(p)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s: %q, %v", name, got, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: the error shows the secret: %v", name, err)
		}
	}
}

// TestAgentNKeyAccount: `unyo agent nkey --account FILE` makes the auth
// callout's issuer: an account seed (0600) whose public key it prints, as
// nats.auth_callout.issuer_seed reads it.
func TestAgentNKeyAccount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "issuer.nk")
	var out, errOut bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &errOut, Getenv: func(string) string { return "" }}
	if code := Main(context.Background(), []string{"agent", "nkey", "--account", path}, env); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	seed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	kp, err := bus.CalloutIssuer(string(seed))
	if err != nil {
		t.Fatalf("the seed is not a callout issuer: %v", err)
	}
	pub, _ := kp.PublicKey()
	if got := strings.TrimSpace(out.String()); got != pub || strings.Contains(out.String(), string(seed[:10])) {
		t.Errorf("printed %q, want the public key %s and never the seed", got, pub)
	}
	if code := Main(context.Background(), []string{"agent", "nkey", "--account", path}, env); code == 0 {
		t.Error("an existing seed file was overwritten")
	}
}
