package rollout

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"aead.dev/minisign"
)

// ErrSignature is returned for a release binary whose minisign signature
// does not verify against the trusted release key.
var ErrSignature = errors.New("rollout: release signature")

// DefaultMaxBytes is the default limit of a release binary (200 MiB).
const DefaultMaxBytes = 200 << 20

// maxSigBytes bounds a signature file.
const maxSigBytes = 4096

// ReadPublicKey reads a minisign public key file (the .pub minisign -G
// writes: an untrusted comment line and the key).
func ReadPublicKey(path string) (minisign.PublicKey, error) {
	k, err := minisign.PublicKeyFromFile(path)
	if err != nil {
		return k, fmt.Errorf("%w: public key %s: %w", ErrSignature, path, err)
	}
	return k, nil
}

// ParseSignature checks a minisign signature file's text.
func ParseSignature(text string) (minisign.Signature, error) {
	var s minisign.Signature
	if len(text) > maxSigBytes {
		return s, fmt.Errorf("%w: longer than %d bytes", ErrSignature, maxSigBytes)
	}
	if err := s.UnmarshalText([]byte(text)); err != nil {
		return s, fmt.Errorf("%w: %w", ErrSignature, err)
	}
	return s, nil
}

// VerifyFile checks the file at path against the minisign signature
// sigText made by key, streaming it (minisign's prehashed form; the
// legacy form is read whole, up to the size limit), and returns its
// SHA-256 (hex) and size.
func VerifyFile(key minisign.PublicKey, path, sigText string) (string, int64, error) {
	sig, err := ParseSignature(sigText)
	if err != nil {
		return "", 0, err
	}
	if sig.KeyID != key.ID() {
		return "", 0, fmt.Errorf("%w: signed by key %X, the trusted key is %X", ErrSignature, sig.KeyID, key.ID())
	}
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	var ok bool
	var n int64
	if sig.Algorithm == minisign.HashEdDSA {
		r := minisign.NewReader(io.TeeReader(f, h))
		if n, err = io.Copy(io.Discard, r); err != nil {
			return "", 0, err
		}
		ok = r.Verify(key, []byte(sigText))
	} else {
		data, err := io.ReadAll(io.TeeReader(f, h))
		if err != nil {
			return "", 0, err
		}
		n = int64(len(data))
		ok = minisign.Verify(key, data, []byte(sigText))
	}
	if !ok {
		return "", 0, fmt.Errorf("%w: %s does not verify against key %X", ErrSignature, path, key.ID())
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// KeyText is a public key as minisign writes it on its second line, the
// form selfupdate's verifier takes.
func KeyText(k minisign.PublicKey) string {
	b, _ := k.MarshalText()
	return strings.TrimSpace(string(b))
}
