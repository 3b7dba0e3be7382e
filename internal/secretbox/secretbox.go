package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of the cluster secret key in bytes.
const KeySize = 32

// Prefix starts every sealed value.
const Prefix = "enc:v1:"

// KeyFile is the key's file name in the cluster data directory.
const KeyFile = "secret.key"

// Errors.
var (
	// ErrNoKey: the key file does not exist.
	ErrNoKey = errors.New("no cluster secret key")
	// ErrBadKey: the key file is not KeySize bytes, or is readable by
	// others than its owner.
	ErrBadKey = errors.New("bad cluster secret key")
	// ErrOpen: a sealed value is malformed, was edited, or was sealed
	// under another key.
	ErrOpen = errors.New("cannot decrypt (another cluster's key, or an edited value)")
)

// additional data bound into every ciphertext: a value sealed for
// something else does not open here.
var aad = []byte("unyo config secret v1")

// LoadKey reads the key at path. It fails with ErrNoKey when the file is
// missing and ErrBadKey when it is not KeySize bytes or its mode lets
// group or others read it.
func LoadKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s does not exist", ErrNoKey, path)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster secret key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cluster secret key: %w", err)
	}
	if fi.Mode()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o, want 0600", ErrBadKey, path, fi.Mode().Perm())
	}
	if fi.Size() != KeySize {
		return nil, fmt.Errorf("%w: %s holds %d bytes, want %d", ErrBadKey, path, fi.Size(), KeySize)
	}
	key := make([]byte, KeySize)
	if _, err := f.ReadAt(key, 0); err != nil {
		return nil, fmt.Errorf("cluster secret key: %w", err)
	}
	return key, nil
}

// LoadOrCreateKey reads the key at path, or writes a new random one there
// (mode 0600, its directory made 0700 if missing) when the file does not
// exist. Two processes racing to create it both end with the one written
// first.
func LoadOrCreateKey(path string) ([]byte, error) {
	key, err := LoadKey(path)
	if !errors.Is(err, ErrNoKey) {
		return key, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("cluster secret key: %w", err)
	}
	key = make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("cluster secret key: %w", err)
	}
	if err := WriteKey(path, key); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadKey(path)
		}
		return nil, err
	}
	return key, nil
}

// WriteKey writes key (KeySize bytes) to path with mode 0600, durably,
// failing with fs.ErrExist if the file exists (a member given the cluster
// key by a join uses it).
func WriteKey(path string, key []byte) error {
	if len(key) != KeySize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadKey, len(key), KeySize)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secret.key-*")
	if err != nil {
		return fmt.Errorf("cluster secret key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("cluster secret key: %w", err)
	}
	if _, err := tmp.Write(key); err != nil {
		tmp.Close()
		return fmt.Errorf("cluster secret key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("cluster secret key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("cluster secret key: %w", err)
	}
	// Link, not rename: it fails instead of replacing an existing key.
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("cluster secret key: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrBadKey, len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts plain under key and returns "enc:v1:<base64url>".
func Seal(key []byte, plain string) (string, error) {
	aead, err := newAEAD(key)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := aead.Seal(nonce, nonce, []byte(plain), aad)
	return Prefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// IsSealed reports whether s is a sealed value (starts with Prefix).
func IsSealed(s string) bool { return strings.HasPrefix(s, Prefix) }

// maxSealed bounds a sealed value (a secret is short; a file: reference
// is the way for anything long).
const maxSealed = 64 << 10

// Open decrypts a value made by Seal. Its errors never include the value.
func Open(key []byte, sealed string) (string, error) {
	if !IsSealed(sealed) {
		return "", fmt.Errorf("%w: does not start with %s", ErrOpen, Prefix)
	}
	if len(sealed) > maxSealed {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrOpen, maxSealed)
	}
	aead, err := newAEAD(key)
	if err != nil {
		return "", err
	}
	raw, err := base64.RawURLEncoding.DecodeString(sealed[len(Prefix):])
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return "", fmt.Errorf("%w: malformed", ErrOpen)
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], aad)
	if err != nil {
		return "", ErrOpen
	}
	return string(plain), nil
}
