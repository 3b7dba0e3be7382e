package auth

import (
	"strings"
	"testing"
)

func TestHashPasswordIsArgon2idPHC(t *testing.T) {
	h, err := HashPassword("correct horse battery", DefaultArgon2)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q: want an argon2id PHC string with m=19456,t=2,p=1", h)
	}
	h2, _ := HashPassword("correct horse battery", DefaultArgon2)
	if h == h2 {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false} {
		ok, err := VerifyPassword(pw, h)
		if err != nil || ok != want {
			t.Errorf("verify %q: %v, %v; want %v", pw, ok, err, want)
		}
	}
}

func TestParamsBelowMinimumRefused(t *testing.T) {
	for _, p := range []Argon2Params{{MemoryKiB: 8192, Time: 2, Threads: 1}, {MemoryKiB: 19456, Time: 1, Threads: 1}, {MemoryKiB: 19456, Time: 2}} {
		if err := p.validate(); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
	if err := DefaultArgon2.validate(); err != nil {
		t.Error(err)
	}
}

func TestVerifyRefusesBadHashes(t *testing.T) {
	for _, h := range []string{
		"", "plain", "$2a$10$bcrypt", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=16$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=99999999,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", // a tampered cost
		"$argon2id$v=19$m=19456,t=0,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=19456,t=2,p=1$!!$a2V5a2V5a2V5a2V5a2V5",
	} {
		if ok, err := VerifyPassword("x", h); ok || err == nil {
			t.Errorf("%q: %v, %v; want an error", h, ok, err)
		}
	}
}

func FuzzParsePHC(f *testing.F) {
	h, _ := HashPassword("seed password!", DefaultArgon2)
	f.Add(h)
	f.Add("$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := parsePHC(s)
		if err != nil {
			return
		}
		if p.MemoryKiB == 0 || p.MemoryKiB > maxMemoryKiB || p.Time == 0 || p.Time > maxTime || len(salt) < 8 || len(key) < 16 {
			t.Fatalf("%q parsed to out-of-range %+v salt %d key %d", s, p, len(salt), len(key))
		}
	})
}

func TestCheckSecret(t *testing.T) {
	s := NewSecret(TokenPrefix)
	if err := CheckSecret(s, TokenPrefix); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "unyo_", "unyo_short", s + "x", "unyom_" + s[5:], strings.Replace(s, "_", "-", 1)} {
		if CheckSecret(bad, TokenPrefix) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if HashSecret(s) == HashSecret(NewSecret(TokenPrefix)) || len(HashSecret(s)) != 64 {
		t.Error("secrets are not random or the hash is not hex SHA-256")
	}
}
