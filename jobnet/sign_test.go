package jobnet

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sampleTask() Task {
	return Task{Run: "r1", Jobnet: "n", Job: "j", Attempt: 1, Kind: "command", Command: "/bin/true",
		Args: []string{"a"}, Env: map[string]string{"K": "V"}, Dir: "/tmp", Timeout: time.Minute}
}

// reseal rewrites the payload of a signed message with f, keeping the
// signature: what an attacker who can publish but not sign could do.
func reseal(t *testing.T, msg []byte, f func(*signedTask)) []byte {
	t.Helper()
	var env taskEnvelope
	if err := json.Unmarshal(msg, &env); err != nil {
		t.Fatal(err)
	}
	var st signedTask
	if err := json.Unmarshal(env.Payload, &st); err != nil {
		t.Fatal(err)
	}
	f(&st)
	env.Payload, _ = json.Marshal(st)
	out, _ := json.Marshal(env)
	return out
}

func TestTaskSigning(t *testing.T) {
	now := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	leader, _ := GenerateSigner("node1")
	leader.Now = func() time.Time { return now }
	attacker, _ := GenerateSigner("mallory")
	v := NewVerifier(leader.PublicKey())
	good, err := leader.Sign("agent:web01", sampleTask())
	if err != nil {
		t.Fatal(err)
	}
	bare, _ := json.Marshal(sampleTask())
	byAttacker, _ := attacker.Sign("agent:web01", sampleTask())
	// The attacker's signature with the leader's key id.
	var forgedID taskEnvelope
	_ = json.Unmarshal(byAttacker, &forgedID)
	forgedID.KeyID = leader.KeyID()
	withLeaderID, _ := json.Marshal(forgedID)
	var unsignedEnv taskEnvelope
	_ = json.Unmarshal(good, &unsignedEnv)
	unsignedEnv.Sig = nil
	unsigned, _ := json.Marshal(unsignedEnv)

	for _, tc := range []struct {
		name   string
		msg    []byte
		at     time.Time
		reason string
	}{
		{"valid", good, now, ""},
		{"valid until its expiry", good, now.Add(DefaultTaskTTL - time.Second), ""},
		{"leader's clock a little ahead", good, now.Add(-MaxClockSkew + time.Second), ""},
		{"expired", good, now.Add(DefaultTaskTTL), RefusedExpired},
		{"issued too far in the future", good, now.Add(-MaxClockSkew - time.Second), RefusedNotYetValid},
		{"bare task", bare, now, RefusedUnsigned},
		{"envelope without signature", unsigned, now, RefusedUnsigned},
		{"untrusted key", byAttacker, now, RefusedUnknownKey},
		{"untrusted signature under the leader's key id", withLeaderID, now, RefusedBadSignature},
		{"command changed", reseal(t, good, func(s *signedTask) { s.Task.Command = "/bin/sh" }), now, RefusedBadSignature},
		{"args changed", reseal(t, good, func(s *signedTask) { s.Task.Args = []string{"-c", "touch /tmp/x"} }), now, RefusedBadSignature},
		{"env changed", reseal(t, good, func(s *signedTask) { s.Task.Env["LD_PRELOAD"] = "/tmp/x.so" }), now, RefusedBadSignature},
		{"target changed", reseal(t, good, func(s *signedTask) { s.Target = "agent:web02" }), now, RefusedBadSignature},
		{"expiry extended", reseal(t, good, func(s *signedTask) { s.Expires = s.Expires.Add(time.Hour) }), now.Add(DefaultTaskTTL), RefusedBadSignature},
		{"not JSON", []byte("rm -rf /"), now, RefusedMalformed},
		{"too large", append(append([]byte(`{"payload":"`), bytes.Repeat([]byte("A"), maxTaskBytes)...), `"}`...), now, RefusedMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := v.open(tc.msg, tc.at)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if o.Target != "agent:web01" || o.By != "node1" || o.keyID != leader.KeyID() || o.Task.Key() != "r1/j/1" ||
					o.Task.Env["K"] != "V" || o.Task.Timeout != time.Minute {
					t.Errorf("opened %+v", o)
				}
				return
			}
			var r *Refusal
			if !errors.As(err, &r) || r.Reason != tc.reason || !errors.Is(err, ErrRefused) {
				t.Fatalf("err = %v, want a refusal %q", err, tc.reason)
			}
		})
	}
}

func TestSigningKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "task-signing.key")
	s1, created, err := LoadOrCreateSigningKey(path, "node1")
	if err != nil || !created {
		t.Fatalf("create: %v, created %v", err, created)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	s2, created, err := LoadOrCreateSigningKey(path, "node1")
	if err != nil || created || s2.KeyID() != s1.KeyID() {
		t.Fatalf("reload: %v, created %v, key %s then %s", err, created, s1.KeyID(), s2.KeyID())
	}
	pub, err := ReadTrustedKeys(PublicKeyPath(path))
	if err != nil || len(pub) != 1 || !pub[0].Equal(s1.PublicKey()) {
		t.Fatalf("public key file: %v %v", pub, err)
	}
	if PublicKeyPath(path) != filepath.Join(dir, "sub", "task-signing.pub") {
		t.Errorf("public key path %s", PublicKeyPath(path))
	}
	// A file holding several nodes' keys.
	other, _ := GenerateSigner("node2")
	both := filepath.Join(dir, "nodes.pub")
	if err := os.WriteFile(both, append(s1.PublicKeyPEM(), other.PublicKeyPEM()...), 0o644); err != nil {
		t.Fatal(err)
	}
	if keys, err := ReadTrustedKeys(both); err != nil || len(keys) != 2 || len(NewVerifier(keys...).KeyIDs()) != 2 {
		t.Fatalf("two keys: %v %v", keys, err)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateSigningKey(path, "node1"); err == nil || !strings.Contains(err.Error(), "readable by others") {
		t.Errorf("key readable by others: err = %v", err)
	}
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateSigningKey(bad, "node1"); !errors.Is(err, ErrSigningKey) {
		t.Errorf("garbage key: err = %v", err)
	}
	for name, data := range map[string][]byte{"empty": nil, "no public key": []byte("hello"), "private key only": mustRead(t, path)} {
		if _, err := ParsePublicKeys(data); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzVerifierOpen: whatever arrives on a task subject, opening it never
// panics and never accepts what the trusted key did not sign.
func FuzzVerifierOpen(f *testing.F) {
	leader, _ := GenerateSigner("node1")
	now := time.Now()
	good, _ := leader.Sign("agent:web01", sampleTask())
	f.Add(good)
	bare, _ := json.Marshal(sampleTask())
	f.Add(bare)
	f.Add([]byte(`{"payload":"e30=","key_id":"x","sig":"AAAA"}`))
	f.Add([]byte(`null`))
	v := NewVerifier(leader.PublicKey())
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := v.open(data, now)
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("error %v is not a refusal", err)
			}
			return
		}
		var env taskEnvelope
		if json.Unmarshal(data, &env) != nil || !ed25519.Verify(leader.PublicKey(), append([]byte(signContext), env.Payload...), env.Sig) {
			t.Fatalf("accepted a message the leader did not sign: %q -> %+v", data, o)
		}
	})
}

// BenchmarkSignOpen: the cost signing adds to a dispatch and verification
// to an agent's take, per task.
func BenchmarkSignOpen(b *testing.B) {
	leader, _ := GenerateSigner("node1")
	v := NewVerifier(leader.PublicKey())
	t := sampleTask()
	b.Run("sign", func(b *testing.B) {
		for b.Loop() {
			if _, err := leader.Sign("agent:web01", t); err != nil {
				b.Fatal(err)
			}
		}
	})
	msg, _ := leader.Sign("agent:web01", t)
	now := time.Now()
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			if _, err := v.open(msg, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
