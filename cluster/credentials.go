package cluster

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/auth"
)

// Credentials of the cluster. Nobody acts on a member without one:
//
//   - A join token (JoinTokenPrefix + base64url of 32 random bytes) lets a
//     new node ask to join, nothing else. An admin makes one with
//     CreateJoinToken (`unyo cluster token create`); the leader commits
//     only its SHA-256, id, expiry and creator, and the token itself is
//     shown once. A token may be used until it expires or is revoked (so
//     one token can add the two followers of a three-node cluster).
//     Expired tokens are dropped from the state by the next token command
//     (by the time that command carries: Apply stays deterministic).
//   - A member credential (MemberCredPrefix + 32 random bytes) is minted by
//     the leader when it adds a member, committed as a hash with the
//     membership change and returned once in the join answer; the member
//     keeps it in DataDir/member.cred (0600) and sends it on every
//     member→member call. The bootstrapping node mints its own and
//     commits it once it leads. Removing a member drops its credential.
//
// Node.Authenticator turns either into an auth.Identity.

// Credential prefixes; a bearer token of another form is not the
// cluster's (the user-token authenticator is asked next).
const (
	JoinTokenPrefix  = auth.JoinPrefix
	MemberCredPrefix = auth.MemberPrefix
)

// Files in Options.DataDir.
const (
	// MemberCredFile holds this node's member credential (0600).
	MemberCredFile = "member.cred"
	// SecretKeyFile holds the cluster's 32-byte secret key (0600), made by
	// the bootstrapping node and handed to each joiner in the join answer;
	// secrets in the replicated configuration are encrypted under it.
	SecretKeyFile = "secret.key"
)

// SecretKeySize is the length of the cluster secret key in bytes.
const SecretKeySize = 32

// Limits on the credential state.
const (
	// MaxJoinTokens bounds the live join tokens (token.create beyond it
	// is refused until some expire or are revoked).
	MaxJoinTokens = 256
	// MaxJoinTokenTTL bounds a join token's lifetime.
	MaxJoinTokenTTL = 30 * 24 * time.Hour
)

// Command types of the credential state.
const (
	// CmdTokenCreate records a join token. Payload: JoinToken.
	CmdTokenCreate = "token.create"
	// CmdTokenRevoke forgets a join token. Payload: TokenRevoke.
	CmdTokenRevoke = "token.revoke"
	// CmdMemberCred records a member's credential hash. Payload: MemberCred.
	CmdMemberCred = "member.cred"
)

// JoinToken is a join token as the state holds it: never the token, only
// its hash.
type JoinToken struct {
	ID      string    `json:"id"`
	Hash    string    `json:"hash,omitempty"`
	Expires time.Time `json:"expires"`
	By      string    `json:"by,omitempty"`
	Created time.Time `json:"created,omitzero"`
}

// TokenRevoke is the payload of CmdTokenRevoke.
type TokenRevoke struct {
	ID string `json:"id"`
}

// MemberCred is the payload of CmdMemberCred.
type MemberCred struct {
	ID   string `json:"id"`
	Hash string `json:"hash"`
}

// memberUpsert is the payload of CmdMemberUpsert: the member record and,
// from a join, the hash of the credential minted for it.
type memberUpsert struct {
	Member
	CredHash string `json:"cred_hash,omitempty"`
}

// ErrBadCredential is the answer to a cluster credential that is unknown,
// expired or revoked.
var ErrBadCredential = errors.New("cluster: credential not valid (unknown, expired or revoked)")

// newSecret returns prefix + base64url(32 random bytes).
func newSecret(prefix string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("cluster: random: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// GenerateJoinToken returns a new join token, for a node's
// cluster.bootstrap_join_token (`unyo cluster token generate`).
func GenerateJoinToken() (string, error) { return newSecret(JoinTokenPrefix) }

// HashCredential is the hash the state records for a token or credential:
// the hex SHA-256 of its text.
func HashCredential(s string) string { return auth.HashSecret(s) }

func validHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

func hashEqual(a, b string) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// --- FSM handlers ----------------------------------------------------------

// pruneTokens drops the tokens expired at at (the command's time).
func pruneTokens(st *State, at time.Time) {
	for id, t := range st.JoinTokens {
		if !t.Expires.After(at) {
			delete(st.JoinTokens, id)
		}
	}
}

func applyTokenCreate(st *State, at time.Time, p json.RawMessage) error {
	var t JoinToken
	if err := decodePayload(p, &t); err != nil {
		return err
	}
	switch {
	case t.ID == "" || len(t.ID) > 64:
		return fmt.Errorf("%w: join token id: want 1 to 64 characters", ErrBadCommand)
	case !validHash(t.Hash):
		return fmt.Errorf("%w: join token hash: want 64 hex digits", ErrBadCommand)
	case !t.Expires.After(at):
		return fmt.Errorf("%w: join token %s expires before it is made", ErrBadCommand, t.ID)
	case t.Expires.Sub(at) > MaxJoinTokenTTL+time.Minute:
		return fmt.Errorf("%w: join token %s lives longer than %s", ErrBadCommand, t.ID, MaxJoinTokenTTL)
	}
	if old, ok := st.JoinTokens[t.ID]; ok {
		if old.Hash == t.Hash {
			return nil // a retried proposal
		}
		return fmt.Errorf("%w: join token id %s is taken", ErrBadCommand, t.ID)
	}
	pruneTokens(st, at)
	if len(st.JoinTokens) >= MaxJoinTokens {
		return fmt.Errorf("%w: %d join tokens live already (revoke some)", ErrBadCommand, len(st.JoinTokens))
	}
	if st.JoinTokens == nil {
		st.JoinTokens = map[string]JoinToken{}
	}
	t.Created = at
	st.JoinTokens[t.ID] = t
	return nil
}

func applyTokenRevoke(st *State, at time.Time, p json.RawMessage) error {
	var r TokenRevoke
	if err := decodePayload(p, &r); err != nil {
		return err
	}
	if r.ID == "" {
		return fmt.Errorf("%w: revoke: no token id", ErrBadCommand)
	}
	pruneTokens(st, at)
	delete(st.JoinTokens, r.ID)
	return nil
}

func applyMemberCred(st *State, _ time.Time, p json.RawMessage) error {
	var c MemberCred
	if err := decodePayload(p, &c); err != nil {
		return err
	}
	if c.ID == "" || !validHash(c.Hash) {
		return fmt.Errorf("%w: member credential needs an id and a 64-hex-digit hash", ErrBadCommand)
	}
	if st.Creds == nil {
		st.Creds = map[string]string{}
	}
	st.Creds[c.ID] = c.Hash
	return nil
}

// --- the node's side -------------------------------------------------------

// CreatedToken is the answer of CreateJoinToken: the token, shown once.
type CreatedToken struct {
	ID      string    `json:"id"`
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

// CreateJoinToken makes a join token valid for ttl, on the leader
// (forwarded if needed); by names who asked, for the record.
func (n *Node) CreateJoinToken(ctx context.Context, ttl time.Duration, by string) (CreatedToken, error) {
	if ttl <= 0 || ttl > MaxJoinTokenTTL {
		return CreatedToken{}, fmt.Errorf("%w: ttl %s: want more than 0 and at most %s", ErrBadCommand, ttl, MaxJoinTokenTTL)
	}
	res, err := n.do(ctx, Request{Op: OpToken, TTL: ttl, By: by})
	if err != nil {
		return CreatedToken{}, err
	}
	if res.Token == nil {
		return CreatedToken{}, fmt.Errorf("cluster: create join token: the leader answered no token")
	}
	return *res.Token, nil
}

func (n *Node) tokenLocal(ctx context.Context, req Request) (Result, error) {
	if !n.IsLeader() {
		return Result{}, n.notLeader()
	}
	if req.TTL <= 0 || req.TTL > MaxJoinTokenTTL {
		return Result{}, fmt.Errorf("%w: ttl %s: want more than 0 and at most %s", ErrBadCommand, req.TTL, MaxJoinTokenTTL)
	}
	tok, err := newSecret(JoinTokenPrefix)
	if err != nil {
		return Result{}, err
	}
	idb := make([]byte, 6)
	if _, err := rand.Read(idb); err != nil {
		return Result{}, fmt.Errorf("cluster: random: %w", err)
	}
	now := time.Now().UTC()
	jt := JoinToken{ID: hex.EncodeToString(idb), Hash: HashCredential(tok), Expires: now.Add(req.TTL).Truncate(time.Second), By: req.By}
	cmd, err := NewCommand(CmdTokenCreate, jt)
	if err != nil {
		return Result{}, err
	}
	cmd.At = now
	res, err := n.ApplyLocal(ctx, cmd)
	if err != nil {
		return res, err
	}
	res.Token = &CreatedToken{ID: jt.ID, Token: tok, Expires: jt.Expires}
	n.log.Info("join token created", "id", jt.ID, "expires", jt.Expires, "by", req.By)
	return res, nil
}

// RevokeJoinToken forgets the join token id (a no-op if unknown).
func (n *Node) RevokeJoinToken(ctx context.Context, id string) error {
	cmd, err := NewCommand(CmdTokenRevoke, TokenRevoke{ID: id})
	if err != nil {
		return err
	}
	_, err = n.Apply(ctx, cmd)
	return err
}

// JoinTokens lists the join tokens not yet expired (without hashes),
// soonest expiry first.
func (n *Node) JoinTokens() []JoinToken {
	n.fsm.mu.RLock()
	defer n.fsm.mu.RUnlock()
	now := time.Now()
	var out []JoinToken
	for _, t := range n.fsm.st.JoinTokens {
		if t.Expires.After(now) {
			t.Hash = ""
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b JoinToken) int { return a.Expires.Compare(b.Expires) })
	return out
}

// Authenticator proves cluster identities from "Authorization: Bearer":
// a member credential is auth.KindMember (Name the node id, RoleMember),
// a live join token auth.KindJoin (RoleJoiner). An unknown or expired
// credential of either prefix is an error (401); any other credential is
// not this authenticator's (ok false).
func (n *Node) Authenticator() auth.Authenticator {
	return auth.AuthenticatorFunc(func(r *http.Request) (auth.Identity, bool, error) {
		tok := auth.BearerToken(r)
		switch {
		case strings.HasPrefix(tok, MemberCredPrefix):
			if id, ok := n.memberFor(tok); ok {
				return auth.Identity{Kind: auth.KindMember, Name: id, Role: auth.RoleMember}, true, nil
			}
			return auth.Identity{}, false, fmt.Errorf("member credential: %w", ErrBadCredential)
		case strings.HasPrefix(tok, JoinTokenPrefix):
			if id, ok := n.joinTokenFor(tok, time.Now()); ok {
				return auth.Identity{Kind: auth.KindJoin, Role: auth.RoleJoiner, TokenID: id}, true, nil
			}
			return auth.Identity{}, false, fmt.Errorf("join token: %w", ErrBadCredential)
		}
		return auth.Identity{}, false, nil
	})
}

// memberFor returns the member whose credential is tok.
func (n *Node) memberFor(tok string) (string, bool) {
	h := HashCredential(tok)
	n.fsm.mu.RLock()
	defer n.fsm.mu.RUnlock()
	found := ""
	for id, ch := range n.fsm.st.Creds {
		if hashEqual(h, ch) {
			found = id
		}
	}
	return found, found != ""
}

// joinTokenFor returns the id of the live join token tok.
func (n *Node) joinTokenFor(tok string, now time.Time) (string, bool) {
	h := HashCredential(tok)
	n.fsm.mu.RLock()
	defer n.fsm.mu.RUnlock()
	found := ""
	for id, t := range n.fsm.st.JoinTokens {
		if hashEqual(h, t.Hash) && t.Expires.After(now) {
			found = id
		}
	}
	return found, found != ""
}

// MemberCredential returns this node's member credential ("" until it has
// one: before it joined, or before a bootstrapping node first leads).
func (n *Node) MemberCredential() string {
	n.credMu.Lock()
	defer n.credMu.Unlock()
	return n.cred
}

// SetMemberCredential stores cred (from a join answer) in
// DataDir/member.cred and uses it from now on.
func (n *Node) SetMemberCredential(cred string) error {
	if !strings.HasPrefix(cred, MemberCredPrefix) || len(cred) > 128 {
		return fmt.Errorf("cluster: member credential: not one (want %s…)", MemberCredPrefix)
	}
	if err := writeFileAtomic(filepath.Join(n.opts.DataDir, MemberCredFile), []byte(cred+"\n")); err != nil {
		return fmt.Errorf("cluster: store member credential: %w", err)
	}
	n.credMu.Lock()
	n.cred = cred
	n.credMu.Unlock()
	return nil
}

// loadMemberCredential reads DataDir/member.cred, if there is one.
func loadMemberCredential(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, MemberCredFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cluster: read member credential: %w", err)
	}
	c := strings.TrimSpace(string(b))
	if !strings.HasPrefix(c, MemberCredPrefix) {
		return "", fmt.Errorf("cluster: %s: not a member credential", filepath.Join(dir, MemberCredFile))
	}
	return c, nil
}

// ensureOwnCredential (leader) mints this node's credential if it has none
// and commits its hash if the state does not hold it; the first time, it
// also commits Options.BootstrapJoinToken. Called from reconcile.
func (n *Node) ensureOwnCredential(ctx context.Context) error {
	cred := n.MemberCredential()
	if cred == "" {
		c, err := newSecret(MemberCredPrefix)
		if err != nil {
			return err
		}
		if err := n.SetMemberCredential(c); err != nil {
			return err
		}
		cred = c
	}
	h := HashCredential(cred)
	n.fsm.mu.RLock()
	cur, had := n.fsm.st.Creds[n.opts.NodeID]
	n.fsm.mu.RUnlock()
	if had && cur == h {
		return nil
	}
	if _, err := n.applyTyped(ctx, CmdMemberCred, MemberCred{ID: n.opts.NodeID, Hash: h}); err != nil {
		return fmt.Errorf("record own credential: %w", err)
	}
	if !had && n.opts.BootstrapJoinToken != "" {
		now := time.Now().UTC()
		jt := JoinToken{ID: "bootstrap", Hash: HashCredential(n.opts.BootstrapJoinToken),
			Expires: now.Add(n.opts.BootstrapJoinTokenTTL).Truncate(time.Second), By: "node:" + n.opts.NodeID}
		cmd, err := NewCommand(CmdTokenCreate, jt)
		if err != nil {
			return err
		}
		cmd.At = now
		if _, err := n.ApplyLocal(ctx, cmd); err != nil {
			return fmt.Errorf("record the bootstrap join token: %w", err)
		}
		n.log.Info("bootstrap join token recorded", "expires", jt.Expires)
	}
	return nil
}

// --- the secret key ----------------------------------------------------------

// SecretKey returns the cluster secret key (DataDir/secret.key).
func (n *Node) SecretKey() ([]byte, error) {
	if k := n.secretKey(); k != nil {
		return k, nil
	}
	return ReadSecretKey(n.opts.DataDir)
}

func (n *Node) secretKey() []byte {
	n.credMu.Lock()
	defer n.credMu.Unlock()
	return n.key
}

// SetSecretKey stores the cluster secret key a join answer carried (in
// DataDir/secret.key, 0600) and uses it from now on, for the Raft
// handshake too.
func (n *Node) SetSecretKey(key []byte) error {
	if err := WriteSecretKey(n.opts.DataDir, key); err != nil {
		return err
	}
	n.credMu.Lock()
	n.key = append([]byte(nil), key...)
	n.credMu.Unlock()
	return nil
}

// ReadSecretKey reads dir/secret.key (32 raw bytes).
func ReadSecretKey(dir string) ([]byte, error) {
	p := filepath.Join(dir, SecretKeyFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("cluster: secret key: %w", err)
	}
	if len(b) != SecretKeySize {
		return nil, fmt.Errorf("cluster: secret key %s: %d bytes, want %d", p, len(b), SecretKeySize)
	}
	return b, nil
}

// WriteSecretKey writes key to dir/secret.key with mode 0600.
func WriteSecretKey(dir string, key []byte) error {
	if len(key) != SecretKeySize {
		return fmt.Errorf("cluster: secret key: %d bytes, want %d", len(key), SecretKeySize)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("cluster: secret key: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, SecretKeyFile), key); err != nil {
		return fmt.Errorf("cluster: secret key: %w", err)
	}
	return nil
}

// EnsureSecretKey creates dir/secret.key from 32 random bytes if it does
// not exist, and returns the key.
func EnsureSecretKey(dir string) ([]byte, error) {
	if k, err := ReadSecretKey(dir); err == nil {
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k := make([]byte, SecretKeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("cluster: random: %w", err)
	}
	return k, WriteSecretKey(dir, k)
}

// writeFileAtomic writes b to path with mode 0600 through a temporary file
// and a rename, so a crash leaves the old file or the new one.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
