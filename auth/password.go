package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the Argon2id cost parameters of new password hashes.
// Stored hashes carry their own parameters (PHC string), so raising these
// rehashes nobody until they next set a password.
type Argon2Params struct {
	MemoryKiB uint32 // m
	Time      uint32 // t (passes)
	Threads   uint8  // p
}

// DefaultArgon2 is OWASP's minimum for Argon2id: m=19 MiB, t=2, p=1.
var DefaultArgon2 = Argon2Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1}

func (p Argon2Params) validate() error {
	if p.MemoryKiB < DefaultArgon2.MemoryKiB || p.Time < DefaultArgon2.Time || p.Threads < 1 {
		return fmt.Errorf("argon2id m=%d t=%d p=%d: below the minimum m=%d t=%d p=1",
			p.MemoryKiB, p.Time, p.Threads, DefaultArgon2.MemoryKiB, DefaultArgon2.Time)
	}
	return nil
}

// Password limits.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 1024
)

// ErrBadPassword: a password too short or too long to be set.
var ErrBadPassword = errors.New("password")

// CheckPassword tells why a new password is not acceptable (nil if it is).
func CheckPassword(pw string) error {
	switch {
	case len(pw) < MinPasswordLen:
		return fmt.Errorf("%w: at least %d characters", ErrBadPassword, MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return fmt.Errorf("%w: at most %d bytes", ErrBadPassword, MaxPasswordLen)
	}
	return nil
}

const saltLen, keyLen = 16, 32

var b64 = base64.RawStdEncoding

// HashPassword returns the PHC string of pw with p:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func HashPassword(pw string, p Argon2Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches the PHC string phc.
func VerifyPassword(pw, phc string) (bool, error) {
	p, salt, key, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// limits on stored parameters, so a tampered hash cannot make a login
// take gigabytes or minutes.
const maxMemoryKiB, maxTime = 1 << 20, 64

func parsePHC(s string) (p Argon2Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("password hash: not an argon2id PHC string")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, fmt.Errorf("password hash: version %q: want v=%d", parts[2], argon2.Version)
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, fmt.Errorf("password hash: parameters %q: %v", parts[3], err)
	}
	if p.MemoryKiB == 0 || p.MemoryKiB > maxMemoryKiB || p.Time == 0 || p.Time > maxTime || p.Threads == 0 {
		return p, nil, nil, fmt.Errorf("password hash: parameters %q out of range", parts[3])
	}
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, errors.New("password hash: bad salt")
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errors.New("password hash: bad key")
	}
	return p, salt, key, nil
}

// hasher runs Argon2id with at most n at once, so concurrent logins
// cannot take more than n × m of memory or every core of the node.
type hasher struct {
	p   Argon2Params
	sem chan struct{}
}

func newHasher(p Argon2Params, n int) *hasher {
	return &hasher{p: p, sem: make(chan struct{}, max(1, n))}
}

// ErrBusy: too many logins at once; try again.
var ErrBusy = errors.New("too many logins at once; try again")

// do runs f holding a slot; it waits at most until ctx ends.
func (h *hasher) do(ctx context.Context, f func()) error {
	select {
	case h.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w (%v)", ErrBusy, context.Cause(ctx))
	}
	defer func() { <-h.sem }()
	f()
	return nil
}
