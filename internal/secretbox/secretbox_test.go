package secretbox

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "raft", KeyFile)
	if _, err := LoadKey(path); !errors.Is(err, ErrNoKey) {
		t.Fatalf("LoadKey of a missing file: %v, want ErrNoKey", err)
	}
	// Racing creators all end with the same key.
	keys := make([][]byte, 4)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := LoadOrCreateKey(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) || len(k) != KeySize {
			t.Fatalf("keys differ: %x %x", k, keys[0])
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v, want 0600", fi.Mode(), err)
	}
	again, err := LoadKey(path)
	if err != nil || !bytes.Equal(again, keys[0]) {
		t.Fatalf("LoadKey: %x %v", again, err)
	}
	if err := WriteKey(path, again); !errors.Is(err, os.ErrExist) {
		t.Errorf("WriteKey over an existing key: %v, want ErrExist", err)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(path); !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), "0644") {
		t.Errorf("LoadKey of a 0644 file: %v", err)
	}
	short := filepath.Join(dir, "short.key")
	if err := os.WriteFile(short, []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(short); !errors.Is(err, ErrBadKey) {
		t.Errorf("LoadOrCreateKey of a 3-byte file: %v", err)
	}
}

func TestSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	other := bytes.Repeat([]byte{8}, KeySize)
	const plain = "s3nt1nel-p@ss"
	a, err := Seal(key, plain)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Seal(key, plain)
	if a == b {
		t.Error("two seals of one value are equal (nonce not random)")
	}
	if !IsSealed(a) || strings.Contains(a, plain) || strings.ContainsAny(a[len(Prefix):], "+/=: ") {
		t.Errorf("sealed value %q", a)
	}
	if got, err := Open(key, a); err != nil || got != plain {
		t.Errorf("Open = %q, %v", got, err)
	}
	if _, err := Open(other, a); !errors.Is(err, ErrOpen) {
		t.Errorf("Open with another key: %v", err)
	}
	edited := []byte(a)
	edited[len(edited)-3] ^= 1
	if _, err := Open(key, string(edited)); !errors.Is(err, ErrOpen) {
		t.Errorf("Open of an edited value: %v", err)
	}
	for _, bad := range []string{"enc:v1:", "enc:v1:!!", "plain", Prefix + strings.Repeat("A", 70000)} {
		if _, err := Open(key, bad); !errors.Is(err, ErrOpen) {
			t.Errorf("Open(%.20q): %v", bad, err)
		}
	}
	if _, err := Seal([]byte("short"), "x"); !errors.Is(err, ErrBadKey) {
		t.Errorf("Seal with a short key: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	key := bytes.Repeat([]byte{1}, KeySize)
	s, _ := Seal(key, "x")
	f.Add(s)
	f.Add("enc:v1:AAAA")
	f.Fuzz(func(t *testing.T, in string) {
		if p, err := Open(key, in); err == nil {
			s2, err := Seal(key, p)
			if err != nil {
				t.Fatal(err)
			}
			if p2, err := Open(key, s2); err != nil || p2 != p {
				t.Fatalf("round trip: %q %v", p2, err)
			}
		}
	})
}
