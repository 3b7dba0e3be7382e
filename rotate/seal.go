package rotate

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nkeys"
)

// Sealing a password for the cluster. An agent that rotates a password
// never sends it in clear: it seals it to the cluster's curve key (an
// X25519 "xkey" of nkeys, NaCl box) with a key pair of its own made for
// that one password, and only a node (which holds the cluster secret
// key) opens it. The node then seals it again under the cluster secret
// key (internal/secretbox) for the ledger. The public curve key reaches
// the agent inside the signed task (jobnet.Task.SealTo), so a forged key
// cannot be slipped in on the bus.

// curveInfo separates the curve key from every other use of the
// cluster secret key.
const curveInfo = "unyo rotate-password curve key v1"

// Errors of sealing.
var (
	// ErrSeal: the cluster's public curve key is unusable.
	ErrSeal = errors.New("rotate: cannot seal the password for the cluster")
	// ErrUnseal: a sealed password does not open with the cluster's key,
	// or was sealed for another account.
	ErrUnseal = errors.New("rotate: the sealed password does not open")
)

// ClusterCurveKey derives the cluster's curve key pair from the cluster
// secret key (secretbox, 32 bytes): every node of the cluster derives
// the same one, and nothing new is kept on disk.
func ClusterCurveKey(secret []byte) (nkeys.KeyPair, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("rotate: cluster secret key of %d bytes, want 32", len(secret))
	}
	seed, err := hkdf.Key(sha256.New, secret, nil, curveInfo, 32)
	if err != nil {
		return nil, err
	}
	return nkeys.CreateCurveKeysWithRand(bytes.NewReader(seed))
}

// ClusterCurvePublic is the public key of ClusterCurveKey ("X…").
func ClusterCurvePublic(secret []byte) (string, error) {
	kp, err := ClusterCurveKey(secret)
	if err != nil {
		return "", err
	}
	defer kp.Wipe()
	return kp.PublicKey()
}

// SealFor seals account's password pw to the cluster's public curve key
// to: it returns the sealed bytes and the public key of the one-time
// sender key pair (Open needs both). The account is sealed with it, so
// a sealed password cannot be passed off as another account's.
func SealFor(to, account, pw string) (sealed []byte, sender string, err error) {
	if !nkeys.IsValidPublicCurveKey(to) {
		return nil, "", fmt.Errorf("%w: %q is not a public curve key (X…)", ErrSeal, to)
	}
	kp, err := nkeys.CreateCurveKeys()
	if err != nil {
		return nil, "", err
	}
	defer kp.Wipe()
	if sender, err = kp.PublicKey(); err != nil {
		return nil, "", err
	}
	sealed, err = kp.Seal([]byte(account+"\x00"+pw), to)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrSeal, err)
	}
	return sealed, sender, nil
}

// OpenFor opens what SealFor sealed for account, with the cluster's key
// pair.
func OpenFor(kp nkeys.KeyPair, account string, sealed []byte, sender string) (string, error) {
	if !nkeys.IsValidPublicCurveKey(sender) {
		return "", fmt.Errorf("%w: sender %q is not a public curve key", ErrUnseal, sender)
	}
	b, err := kp.Open(sealed, sender)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnseal, err)
	}
	acct, pw, ok := strings.Cut(string(b), "\x00")
	if !ok || acct != account {
		return "", fmt.Errorf("%w: sealed for another account", ErrUnseal)
	}
	return pw, nil
}
