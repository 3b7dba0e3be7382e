package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// Token secrets are a prefix and 32 random bytes in base64url: the
// prefix tells what a leaked string is (secret scanners can match it)
// and which authenticator it is for.
const (
	TokenPrefix  = "unyo_"  // users' API and session tokens
	MemberPrefix = "unyom_" // cluster member credentials
	JoinPrefix   = "unyoj_" // cluster join tokens
)

// NewSecret returns prefix + base64url(32 random bytes).
func NewSecret(prefix string) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand: " + err.Error())
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// HashSecret is the hex SHA-256 of a token secret, the only form stored.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CheckSecret tells whether s looks like a secret with prefix (right
// prefix, 43 base64url characters after it).
func CheckSecret(s, prefix string) error {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return errors.New("token: want one starting with " + prefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(b) != 32 {
		return errors.New("token: want " + prefix + " and 43 base64url characters")
	}
	return nil
}

func newTokenID() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand: " + err.Error())
	}
	return "tok_" + hex.EncodeToString(b)
}
