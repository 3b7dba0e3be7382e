package jobnet

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Signed tasks. The leader signs every task it dispatches with ed25519; an
// agent runs a task only if it carries a valid signature by a key it
// trusts, is addressed to it, is within its validity and has not been run
// before. NATS access alone (publishing on unyo.job.task.*) never runs a
// command.
//
// On the wire a task is a taskEnvelope: the signed bytes (the JSON of a
// signedTask: target, signer, issued, expires and the whole Task), the
// signer's key id and the signature over signContext + payload. The agent
// verifies the bytes it received before it decodes them.

// Reasons an agent refuses a task; they are also the "reason" label of
// the refusal metrics.
const (
	RefusedMalformed    = "malformed"     // not a task envelope, or too large
	RefusedUnsigned     = "unsigned"      // no signature
	RefusedUnknownKey   = "unknown_key"   // signed by a key the agent does not trust
	RefusedBadSignature = "bad_signature" // the signature does not verify
	RefusedExpired      = "expired"       // past its expiry
	RefusedNotYetValid  = "not_yet_valid" // issued in the future beyond MaxClockSkew
	RefusedMisaddressed = "misaddressed"  // signed for another agent, tag or node
	RefusedReplayed     = "replayed"      // this agent already took the same signed attempt
	RefusedOverloaded   = "overloaded"    // too many live tasks remembered against replays
)

// Errors of signing and verification.
var (
	// ErrRefused wraps every reason an agent refuses a task (a Refusal).
	ErrRefused = errors.New("task refused")
	// ErrSigningKey is returned for an unusable key or key file.
	ErrSigningKey = errors.New("jobnet: task-signing key")
)

// Refusal is why an agent refused a task; errors.Is(r, ErrRefused).
type Refusal struct {
	Reason string // one of the Refused* constants
	Detail string
}

func (r *Refusal) Error() string {
	if r.Detail == "" {
		return "task refused: " + r.Reason
	}
	return "task refused: " + r.Reason + ": " + r.Detail
}

// Is makes errors.Is(r, ErrRefused) true.
func (r *Refusal) Is(target error) bool { return target == ErrRefused }

func refuse(reason, format string, args ...any) *Refusal {
	return &Refusal{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

const (
	// signContext is prefixed to the payload before signing, so a
	// signature over a task can never be taken for one over anything else.
	signContext = "unyo-task-v1\x00"
	// DefaultTaskTTL is how long a signed task stays valid: the task
	// stream's duplicate window, so that a task replayed once its message
	// id is forgotten has expired too.
	DefaultTaskTTL = 10 * time.Minute
	// MaxClockSkew is how far in the future a task's issue time may be
	// (the leader's clock ahead of the agent's).
	MaxClockSkew = 2 * time.Minute
	// maxTaskBytes bounds a task message an agent decodes.
	maxTaskBytes = 1 << 20
	// maxSeen bounds the tasks an agent remembers against replays.
	maxSeen = 100_000
)

type taskEnvelope struct {
	Payload []byte `json:"payload"`
	KeyID   string `json:"key_id,omitempty"`
	Sig     []byte `json:"sig,omitempty"`
}

type signedTask struct {
	// Target is where the task was dispatched: agent:NAME, tag:TAG or
	// node:NAME.
	Target string `json:"target"`
	// By is the name of the node that signed it.
	By      string    `json:"by"`
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires"`
	Task    Task      `json:"task"`
}

// KeyID is the id of a public key: the hex of the first 8 bytes of its
// SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// Signer signs tasks with a node's private key.
type Signer struct {
	// By names the signing node in the tasks (and the agents' logs).
	By string
	// TTL is how long a task stays valid (default DefaultTaskTTL).
	TTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time

	key ed25519.PrivateKey
	id  string
}

// NewSigner returns a signer with key.
func NewSigner(key ed25519.PrivateKey, by string) *Signer {
	return &Signer{By: by, key: key, id: KeyID(key.Public().(ed25519.PublicKey))}
}

// GenerateSigner makes a signer with a new random key (tests, tools).
func GenerateSigner(by string) (*Signer, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSigningKey, err)
	}
	return NewSigner(key, by), nil
}

// PublicKey is the signer's public key.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// KeyID is the id of the signer's public key.
func (s *Signer) KeyID() string { return s.id }

// PublicKeyPEM is the signer's public key as a PEM "PUBLIC KEY" block
// (PKIX), the format of the files agents trust.
func (s *Signer) PublicKeyPEM() []byte { return publicKeyPEM(s.PublicKey()) }

func publicKeyPEM(pub ed25519.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub) // cannot fail for ed25519
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"Key-Id": KeyID(pub)}, Bytes: der})
}

// Sign returns the message that carries t to target.
func (s *Signer) Sign(target string, t Task) ([]byte, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = DefaultTaskTTL
	}
	issued := now().UTC()
	payload, err := json.Marshal(signedTask{Target: target, By: s.By, Issued: issued, Expires: issued.Add(ttl), Task: t})
	if err != nil {
		return nil, fmt.Errorf("jobnet: encode task: %w", err)
	}
	sig := ed25519.Sign(s.key, append([]byte(signContext), payload...))
	return json.Marshal(taskEnvelope{Payload: payload, KeyID: s.id, Sig: sig})
}

// Verifier checks tasks against the public keys an agent trusts.
type Verifier struct {
	keys map[string]ed25519.PublicKey
}

// NewVerifier trusts keys.
func NewVerifier(keys ...ed25519.PublicKey) *Verifier {
	v := &Verifier{keys: map[string]ed25519.PublicKey{}}
	for _, k := range keys {
		v.keys[KeyID(k)] = k
	}
	return v
}

// KeyIDs are the ids of the trusted keys.
func (v *Verifier) KeyIDs() []string {
	out := make([]string, 0, len(v.keys))
	for id := range v.keys {
		out = append(out, id)
	}
	return out
}

// opened is a verified task.
type opened struct {
	signedTask
	keyID string
}

// open verifies data and returns the task it carries. The error is a
// *Refusal; the task it returns with a refusal (unverified, possibly
// empty) serves only to report the refusal for its key.
func (v *Verifier) open(data []byte, now time.Time) (opened, error) {
	var o opened
	if len(data) > maxTaskBytes {
		return o, refuse(RefusedMalformed, "%d bytes, more than %d", len(data), maxTaskBytes)
	}
	var env taskEnvelope
	if err := json.Unmarshal(data, &env); err != nil || len(env.Payload) == 0 {
		// Not an envelope: maybe a bare Task, as published before tasks
		// were signed (or by someone who can publish but cannot sign).
		if json.Unmarshal(data, &o.Task) == nil && o.Task.Run != "" {
			return o, refuse(RefusedUnsigned, "no signature")
		}
		return o, refuse(RefusedMalformed, "not a task")
	}
	if err := json.Unmarshal(env.Payload, &o.signedTask); err != nil {
		o.signedTask = signedTask{}
		return o, refuse(RefusedMalformed, "payload: %v", err)
	}
	o.keyID = env.KeyID
	if len(env.Sig) == 0 {
		return o, refuse(RefusedUnsigned, "no signature")
	}
	key, ok := v.keys[env.KeyID]
	if !ok {
		return o, refuse(RefusedUnknownKey, "key %q is not trusted", env.KeyID)
	}
	if !ed25519.Verify(key, append([]byte(signContext), env.Payload...), env.Sig) {
		return o, refuse(RefusedBadSignature, "signature by key %s does not verify", env.KeyID)
	}
	switch {
	case !now.Before(o.Expires):
		return o, refuse(RefusedExpired, "expired at %s (issued %s by %s)", o.Expires.Format(time.RFC3339), o.Issued.Format(time.RFC3339), o.By)
	case o.Issued.After(now.Add(MaxClockSkew)):
		return o, refuse(RefusedNotYetValid, "issued at %s, ahead of this agent's clock by more than %s", o.Issued.Format(time.RFC3339), MaxClockSkew)
	}
	return o, nil
}

// ParsePublicKeys reads every PEM "PUBLIC KEY" block (PKIX ed25519) in
// data. Other blocks and text between blocks are ignored; no key at all is
// an error.
func ParsePublicKeys(data []byte) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "PUBLIC KEY" {
			continue
		}
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSigningKey, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("%w: a %T, want ed25519", ErrSigningKey, k)
		}
		out = append(out, pub)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no PEM PUBLIC KEY block", ErrSigningKey)
	}
	return out, nil
}

// ReadTrustedKeys reads the public keys in files (each may hold several).
func ReadTrustedKeys(files ...string) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for _, f := range files {
		data, err := readSmall(f, 64<<10)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSigningKey, err)
		}
		keys, err := ParsePublicKeys(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, keys...)
	}
	return out, nil
}

func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return data, nil
}

// LoadOrCreateSigningKey reads the node's private task-signing key from
// path (PEM, PKCS#8 ed25519), creating it (mode 0600) with a new random
// key when the file does not exist. It (re)writes the public key next to
// it, path with ".pub" for ".key", mode 0644: the file agents trust
// (`unyo agent --trust-key`). A key file readable by group or others is
// refused.
func LoadOrCreateSigningKey(path, by string) (s *Signer, created bool, err error) {
	data, err := readSmall(path, 64<<10)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s, err = GenerateSigner(by)
		if err != nil {
			return nil, false, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(s.key)
		if err != nil {
			return nil, false, fmt.Errorf("%w: %w", ErrSigningKey, err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, false, fmt.Errorf("%w: %w", ErrSigningKey, err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("%w: %w", ErrSigningKey, err)
		}
		_, werr := f.Write(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			_ = os.Remove(path)
			return nil, false, fmt.Errorf("%w: write %s: %w", ErrSigningKey, path, err)
		}
		created = true
	case err != nil:
		return nil, false, fmt.Errorf("%w: %w", ErrSigningKey, err)
	default:
		fi, err := os.Stat(path)
		if err != nil {
			return nil, false, fmt.Errorf("%w: %w", ErrSigningKey, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, false, fmt.Errorf("%w: %s: mode %04o: readable by others, want 0600 (chmod 600 %s)", ErrSigningKey, path, fi.Mode().Perm(), path)
		}
		b, _ := pem.Decode(data)
		if b == nil || b.Type != "PRIVATE KEY" {
			return nil, false, fmt.Errorf("%w: %s: no PEM PRIVATE KEY block", ErrSigningKey, path)
		}
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, false, fmt.Errorf("%w: %s: %w", ErrSigningKey, path, err)
		}
		key, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, false, fmt.Errorf("%w: %s: a %T, want ed25519", ErrSigningKey, path, k)
		}
		s = NewSigner(key, by)
	}
	pub := PublicKeyPath(path)
	if err := os.WriteFile(pub, s.PublicKeyPEM(), 0o644); err != nil {
		return nil, false, fmt.Errorf("%w: write %s: %w", ErrSigningKey, pub, err)
	}
	return s, created, nil
}

// PublicKeyPath is where LoadOrCreateSigningKey writes the public key of
// the private key at path: ".key" replaced by ".pub" (or ".pub" added).
func PublicKeyPath(path string) string { return strings.TrimSuffix(path, ".key") + ".pub" }

// SignBytes signs payload under domain, a separator of its own (never
// the tasks' context), for other signed messages from the leader to
// agents (remote operations). It returns the key id and the signature.
func (s *Signer) SignBytes(domain string, payload []byte) (string, []byte) {
	return s.id, ed25519.Sign(s.key, append([]byte("unyo-"+domain+"-v1\x00"), payload...))
}

// VerifyBytes checks a SignBytes signature by a trusted key.
func (v *Verifier) VerifyBytes(domain, keyID string, payload, sig []byte) error {
	key, ok := v.keys[keyID]
	if !ok {
		return refuse(RefusedUnknownKey, "key %q is not trusted", keyID)
	}
	if !ed25519.Verify(key, append([]byte("unyo-"+domain+"-v1\x00"), payload...), sig) {
		return refuse(RefusedBadSignature, "signature by key %s does not verify", keyID)
	}
	return nil
}

// EncodePublicKey is pub as a PEM "PUBLIC KEY" block, the format of the
// files agents trust.
func EncodePublicKey(pub ed25519.PublicKey) []byte { return publicKeyPEM(pub) }
