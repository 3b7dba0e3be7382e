package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Errors of the Service.
var (
	// ErrInvalidCredentials: wrong user or password, or an unknown,
	// expired or revoked token. Deliberately one error, so the answer
	// does not tell which.
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrForbidden: the identity may not do this.
	ErrForbidden = errors.New("forbidden")
	// ErrInvalid: a bad argument (name, role, password, expiry).
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable: credentials cannot be checked now (the store is
	// down); the guard answers 503, not 401.
	ErrUnavailable = errors.New("credentials cannot be checked now")
)

// Options configure a Service.
type Options struct {
	// Store keeps users, tokens and the audit log (the node's ledger).
	Store  Store
	Argon2 Argon2Params // default DefaultArgon2
	// MaxConcurrentHashes bounds Argon2id runs at once (default: the
	// number of CPUs, at most 4); LoginWait is how long a login waits for
	// one (default 10s) before it is refused as busy.
	MaxConcurrentHashes int
	LoginWait           time.Duration
	// SessionTTL is how long a login's session token lives (default 12h).
	SessionTTL time.Duration
	// CacheTTL is how long a verified token is trusted without asking the
	// store again (default 5s): a token revoked on another node stops
	// working here within it; one revoked here stops at once.
	CacheTTL time.Duration
	// ActiveWithin: a session or token used within it counts as logged in
	// (Sessions). Default 15m.
	ActiveWithin time.Duration
	// While the store cannot be reached, a token verified within StaleTTL
	// (default 1h) is still taken, with the identity it had (a revoke
	// made meanwhile takes effect when the store is back), and so is
	// BootstrapToken, as the first admin: the bus accepts events during a
	// ledger outage, so the API that feeds it must not need the ledger.
	StaleTTL       time.Duration
	BootstrapToken string
	Logger         *slog.Logger
	Registerer     prometheus.Registerer
	Now            func() time.Time
}

// Service holds the identity rules: logins, tokens, users, the token
// authenticator, bootstrap and audit verification.
type Service struct {
	o      Options
	hash   *hasher
	logins *prometheus.CounterVec
	wait   prometheus.Histogram

	stale prometheus.Counter

	mu      sync.Mutex
	cache   map[string]cached // by token hash
	touched map[string]time.Time
}

type cached struct {
	id       Identity
	tokenID  string
	expires  time.Time // of the token; zero: never
	until    time.Time // trust the entry until
	verified time.Time // when the store last confirmed it
	err      error     // a remembered refusal
}

const maxCache = 10000

// NewService returns a Service over o.Store.
func NewService(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("auth: no store")
	}
	if o.Argon2 == (Argon2Params{}) {
		o.Argon2 = DefaultArgon2
	}
	if err := o.Argon2.validate(); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if o.MaxConcurrentHashes <= 0 {
		o.MaxConcurrentHashes = min(runtime.NumCPU(), 4)
	}
	if o.LoginWait <= 0 {
		o.LoginWait = 10 * time.Second
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 12 * time.Hour
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = 5 * time.Second
	}
	if o.ActiveWithin <= 0 {
		o.ActiveWithin = 15 * time.Minute
	}
	if o.StaleTTL <= 0 {
		o.StaleTTL = time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{o: o, hash: newHasher(o.Argon2, o.MaxConcurrentHashes),
		cache: map[string]cached{}, touched: map[string]time.Time{},
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "unyo_auth_logins_total", Help: "Password logins by result: ok, invalid, busy, error.",
		}, []string{"result"}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "unyo_auth_login_wait_seconds", Help: "Time a login waited for an Argon2id slot.",
			Buckets: []float64{.001, .01, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		stale: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "unyo_auth_offline_verifications_total",
			Help: "Requests authenticated without the store (it was unreachable): a recently verified token or the bootstrap token.",
		}),
	}
	for _, r := range []string{"ok", "invalid", "busy", "error"} {
		s.logins.WithLabelValues(r)
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(s.logins); err != nil {
			return nil, err
		}
		if err := o.Registerer.Register(s.wait); err != nil {
			return nil, err
		}
		if err := o.Registerer.Register(s.stale); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Store returns the service's store.
func (s *Service) Store() Store { return s.o.Store }

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]{0,63}$`)

// CheckName tells why a user name is not acceptable: 1-64 of a-z 0-9 . _
// @ -, starting with a letter or digit.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: user name %q: want 1-64 of a-z 0-9 . _ @ - starting with a letter or digit", ErrInvalid, name)
	}
	return nil
}

// Login checks a user's password and makes a session token for them.
// The answer to a wrong user, a wrong password and a disabled user is
// the same ErrInvalidCredentials, and takes the same time (the hash runs
// either way).
func (s *Service) Login(ctx context.Context, name, password string) (secret string, tok Token, err error) {
	defer func() {
		switch {
		case err == nil:
			s.logins.WithLabelValues("ok").Inc()
		case errors.Is(err, ErrInvalidCredentials):
			s.logins.WithLabelValues("invalid").Inc()
		case errors.Is(err, ErrBusy):
			s.logins.WithLabelValues("busy").Inc()
		default:
			s.logins.WithLabelValues("error").Inc()
		}
	}()
	if len(password) > MaxPasswordLen || len(name) > 64 {
		return "", Token{}, ErrInvalidCredentials
	}
	u, err := s.o.Store.GetUser(ctx, name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", Token{}, fmt.Errorf("login: %w", err)
	}
	phc := u.PasswordHash
	if phc == "" {
		phc = dummyHash() // same work for an unknown user
	}
	var ok bool
	var verr error
	wctx, cancel := context.WithTimeout(ctx, s.o.LoginWait)
	defer cancel()
	start := time.Now()
	err = s.hash.do(wctx, func() {
		s.wait.Observe(time.Since(start).Seconds())
		ok, verr = VerifyPassword(password, phc)
	})
	if err != nil {
		return "", Token{}, err
	}
	if verr != nil && u.PasswordHash != "" {
		s.o.Logger.Error("stored password hash unreadable", "user", name, "err", verr)
	}
	if !ok || u.PasswordHash == "" || u.Disabled {
		return "", Token{}, ErrInvalidCredentials
	}
	now := s.o.Now()
	secret = NewSecret(TokenPrefix)
	tok = Token{ID: newTokenID(), Name: "login", Kind: TokenSession, Owner: u.Name, Role: u.Role,
		Hash: HashSecret(secret), Created: now, Expires: now.Add(s.o.SessionTTL)}
	if err := s.o.Store.CreateToken(ctx, tok); err != nil {
		return "", Token{}, fmt.Errorf("login: %w", err)
	}
	return secret, tok, nil
}

// dummyHash is verified against when there is no user, so that a wrong
// name costs as much as a wrong password.
// It is made at the first login, not when the package is initialised:
// an Argon2id hash costs about 120 ms of CPU and 19 MiB, which every
// start of the binary would pay, among them every job's shim (see
// jobnet.Shim), where it delayed a job's start by up to half a second
// on a loaded node.
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword("no such user, no such password", DefaultArgon2)
	if err != nil {
		panic(err)
	}
	return h
})

// Authenticator returns the authenticator of users' tokens (API and
// session): "Authorization: Bearer unyo_…".
func (s *Service) Authenticator() Authenticator {
	return AuthenticatorFunc(func(r *http.Request) (Identity, bool, error) {
		secret := BearerToken(r)
		if !isUserToken(secret) {
			return Identity{}, false, nil
		}
		id, err := s.AuthenticateToken(r.Context(), secret, RemoteIP(r))
		return id, err == nil, err
	})
}

func isUserToken(s string) bool {
	return len(s) > len(TokenPrefix) && s[:len(TokenPrefix)] == TokenPrefix
}

// AuthenticateToken returns the identity a token secret proves. A
// verified token is trusted for CacheTTL without asking the store.
func (s *Service) AuthenticateToken(ctx context.Context, secret, from string) (Identity, error) {
	if len(secret) > 128 || !isUserToken(secret) {
		return Identity{}, ErrInvalidCredentials
	}
	h := HashSecret(secret)
	now := s.o.Now()
	s.mu.Lock()
	c, hit := s.cache[h]
	s.mu.Unlock()
	if !hit || now.After(c.until) {
		fresh := s.lookup(ctx, h, now)
		switch {
		case !errors.Is(fresh.err, ErrUnavailable):
			c = fresh
			s.mu.Lock()
			if len(s.cache) >= maxCache {
				clear(s.cache)
			}
			s.cache[h] = c
			s.mu.Unlock()
		case hit && c.err == nil && now.Sub(c.verified) < s.o.StaleTTL:
			s.stale.Inc() // the store is down: the identity it last confirmed
		case s.o.BootstrapToken != "" && subtle.ConstantTimeCompare([]byte(h), []byte(HashSecret(s.o.BootstrapToken))) == 1:
			s.stale.Inc()
			c = cached{id: Identity{Kind: KindToken, Name: "admin", Role: RoleAdmin, TokenID: "bootstrap"}}
		default:
			c = fresh
		}
	}
	if c.err != nil {
		return Identity{}, c.err
	}
	if !c.expires.IsZero() && !now.Before(c.expires) {
		return Identity{}, fmt.Errorf("%w: token expired", ErrInvalidCredentials)
	}
	if c.tokenID != "" {
		s.touch(c.tokenID, now, from)
	}
	return c.id, nil
}

// lookup reads a token and its owner from the store.
func (s *Service) lookup(ctx context.Context, h string, now time.Time) cached {
	until := now.Add(s.o.CacheTTL)
	t, err := s.o.Store.TokenByHash(ctx, h)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return cached{until: until, err: ErrInvalidCredentials}
		}
		// the store is down: remember nothing, so the next request asks again
		return cached{until: now, err: fmt.Errorf("%w: %w", ErrUnavailable, err)}
	}
	if !t.Live(now) {
		return cached{until: until, err: fmt.Errorf("%w: token revoked or expired", ErrInvalidCredentials)}
	}
	u, err := s.o.Store.GetUser(ctx, t.Owner)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return cached{until: until, err: ErrInvalidCredentials}
		}
		return cached{until: now, err: fmt.Errorf("%w: token owner: %w", ErrUnavailable, err)}
	}
	if u.Disabled {
		return cached{until: until, err: fmt.Errorf("%w: user disabled", ErrInvalidCredentials)}
	}
	role := t.Role
	if !u.Role.Covers(role) { // the owner was demoted: the token goes down with them
		role = u.Role
	}
	kind := KindToken
	if t.Kind == TokenSession {
		kind = KindSession
	}
	return cached{id: Identity{Kind: kind, Name: u.Name, Role: role, TokenID: t.ID},
		tokenID: t.ID, expires: t.Expires, until: until, verified: now}
}

// touch records a token's use in the store at most once a minute, in
// the background.
func (s *Service) touch(id string, now time.Time, from string) {
	s.mu.Lock()
	last, ok := s.touched[id]
	if ok && now.Sub(last) < time.Minute {
		s.mu.Unlock()
		return
	}
	if len(s.touched) >= maxCache {
		clear(s.touched)
	}
	s.touched[id] = now
	s.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.o.Store.TouchToken(ctx, id, now, from); err != nil {
			s.o.Logger.Debug("token last-used not recorded", "token", id, "err", err)
		}
	}()
}

// forget drops cached verifications of token id (after a revoke here).
func (s *Service) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, c := range s.cache {
		if c.tokenID == id {
			delete(s.cache, h)
		}
	}
}

// forgetUser drops cached verifications of a user's tokens.
func (s *Service) forgetUser(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, c := range s.cache {
		if c.id.Name == name {
			delete(s.cache, h)
		}
	}
}

// AddUser creates a user. password may be empty (tokens or SSO only).
func (s *Service) AddUser(ctx context.Context, name string, role Role, password string) (User, error) {
	if err := CheckName(name); err != nil {
		return User{}, err
	}
	if !role.Valid() {
		_, err := ParseRole(string(role))
		return User{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	u := User{Name: name, Role: role, Source: "local", Created: s.o.Now().UTC(), Updated: s.o.Now().UTC()}
	if password != "" {
		h, err := s.hashNew(ctx, password)
		if err != nil {
			return User{}, err
		}
		u.PasswordHash = h
	}
	if err := s.o.Store.CreateUser(ctx, u); err != nil {
		return User{}, err
	}
	return u, nil
}

func (s *Service) hashNew(ctx context.Context, password string) (string, error) {
	if err := CheckPassword(password); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var h string
	var herr error
	wctx, cancel := context.WithTimeout(ctx, s.o.LoginWait)
	defer cancel()
	if err := s.hash.do(wctx, func() { h, herr = HashPassword(password, s.o.Argon2) }); err != nil {
		return "", err
	}
	return h, herr
}

// UserChange is a change to a user; nil fields stay as they are.
type UserChange struct {
	Role     *Role
	Password *string
	Disabled *bool
}

// UpdateUser changes a user. The last enabled admin cannot be disabled
// or demoted.
func (s *Service) UpdateUser(ctx context.Context, name string, ch UserChange) (User, error) {
	u, err := s.o.Store.GetUser(ctx, name)
	if err != nil {
		return User{}, err
	}
	if ch.Role != nil {
		if !ch.Role.Valid() {
			_, err := ParseRole(string(*ch.Role))
			return User{}, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		u.Role = *ch.Role
	}
	if ch.Disabled != nil {
		u.Disabled = *ch.Disabled
	}
	if ch.Password != nil {
		if u.PasswordHash, err = s.hashNew(ctx, *ch.Password); err != nil {
			return User{}, err
		}
	}
	if u.Role != RoleAdmin || u.Disabled {
		if err := s.keepAnAdmin(ctx, name); err != nil {
			return User{}, err
		}
	}
	u.Updated = s.o.Now().UTC()
	if err := s.o.Store.UpdateUser(ctx, u); err != nil {
		return User{}, err
	}
	s.forgetUser(name)
	return u, nil
}

// keepAnAdmin refuses a change that would leave no enabled admin other
// than name.
func (s *Service) keepAnAdmin(ctx context.Context, name string) error {
	us, err := s.o.Store.ListUsers(ctx)
	if err != nil {
		return err
	}
	for _, o := range us {
		if o.Name != name && o.Role == RoleAdmin && !o.Disabled {
			return nil
		}
	}
	if i := slices.IndexFunc(us, func(o User) bool { return o.Name == name }); i >= 0 && us[i].Role == RoleAdmin && !us[i].Disabled {
		return fmt.Errorf("%w: %s is the last enabled admin", ErrInvalid, name)
	}
	return nil
}

// Users lists the users.
func (s *Service) Users(ctx context.Context) ([]User, error) { return s.o.Store.ListUsers(ctx) }

// MaxTokenTTL is the longest an API token may live.
const MaxTokenTTL = 5 * 366 * 24 * time.Hour

// CreateToken makes an API token owned by the caller (or by owner, for
// an admin), with a role at most the owner's (empty: the owner's). ttl 0
// means no expiry.
func (s *Service) CreateToken(ctx context.Context, by Identity, owner, name string, role Role, ttl time.Duration) (string, Token, error) {
	if owner == "" {
		owner = by.Name
	}
	if owner != by.Name && !Allowed(by.Role, ActionTokenAdmin) {
		return "", Token{}, fmt.Errorf("%w: only an admin makes tokens for others", ErrForbidden)
	}
	if by.Kind == KindMember || by.Kind == KindJoin {
		return "", Token{}, fmt.Errorf("%w: a %s credential makes no tokens", ErrForbidden, by.Kind)
	}
	if name == "" || len(name) > 64 {
		return "", Token{}, fmt.Errorf("%w: token name: want 1-64 characters", ErrInvalid)
	}
	if ttl < 0 || ttl > MaxTokenTTL {
		return "", Token{}, fmt.Errorf("%w: ttl %v: want 0 (no expiry) up to %v", ErrInvalid, ttl, MaxTokenTTL)
	}
	u, err := s.o.Store.GetUser(ctx, owner)
	if err != nil {
		return "", Token{}, err
	}
	if role == "" {
		role = u.Role
	}
	if !role.Valid() {
		_, err := ParseRole(string(role))
		return "", Token{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if !u.Role.Covers(role) || (owner == by.Name && !by.Role.Covers(role)) {
		return "", Token{}, fmt.Errorf("%w: role %s is above %s's", ErrForbidden, role, owner)
	}
	now := s.o.Now().UTC()
	secret := NewSecret(TokenPrefix)
	t := Token{ID: newTokenID(), Name: name, Kind: TokenAPI, Owner: owner, Role: role, Hash: HashSecret(secret), Created: now}
	if ttl > 0 {
		t.Expires = now.Add(ttl)
	}
	if err := s.o.Store.CreateToken(ctx, t); err != nil {
		return "", Token{}, err
	}
	return secret, t, nil
}

// Tokens lists tokens: the caller's own, or everyone's for an admin
// (all=true).
func (s *Service) Tokens(ctx context.Context, by Identity, all bool) ([]Token, error) {
	if all && !Allowed(by.Role, ActionTokenAdmin) {
		return nil, fmt.Errorf("%w: only an admin lists everyone's tokens", ErrForbidden)
	}
	ts, err := s.o.Store.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	if !all {
		ts = slices.DeleteFunc(ts, func(t Token) bool { return t.Owner != by.Name })
	}
	return ts, nil
}

// RevokeToken revokes a token: one's own, or anyone's for an admin.
func (s *Service) RevokeToken(ctx context.Context, by Identity, id string) error {
	ts, err := s.o.Store.ListTokens(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(ts, func(t Token) bool { return t.ID == id })
	if i < 0 {
		return fmt.Errorf("token %s: %w", id, ErrNotFound)
	}
	if ts[i].Owner != by.Name && !Allowed(by.Role, ActionTokenAdmin) {
		return fmt.Errorf("token %s: %w", id, ErrNotFound) // others' tokens are not even there
	}
	if err := s.o.Store.RevokeToken(ctx, id, s.o.Now().UTC()); err != nil {
		return err
	}
	s.forget(id)
	return nil
}

// Session is one identity active now (Sessions).
type Session struct {
	User     string    `json:"user"`
	Role     Role      `json:"role"`
	Kind     string    `json:"kind"` // session or api
	Token    string    `json:"token"`
	Name     string    `json:"name"`
	Since    time.Time `json:"since"`
	LastUsed time.Time `json:"last_used"`
	From     string    `json:"from,omitempty"`
}

// Sessions lists who is logged in: live session tokens and API tokens
// used within ActiveWithin, most recent first.
func (s *Service) Sessions(ctx context.Context) ([]Session, error) {
	ts, err := s.o.Store.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	now := s.o.Now()
	var out []Session
	for _, t := range ts {
		if !t.Live(now) || t.LastUsed.IsZero() || now.Sub(t.LastUsed) > s.o.ActiveWithin {
			continue
		}
		out = append(out, Session{User: t.Owner, Role: t.Role, Kind: t.Kind, Token: t.ID, Name: t.Name,
			Since: t.Created, LastUsed: t.LastUsed, From: t.LastFrom})
	}
	slices.SortFunc(out, func(a, b Session) int { return b.LastUsed.Compare(a.LastUsed) })
	return out, nil
}

// Bootstrap makes the first admin when there is no enabled admin: user
// "admin" (no password) with an API token "bootstrap" whose secret is
// given (UNYO_BOOTSTRAP_TOKEN) or made, written to file with mode 0600.
// It returns whether it made one. Two nodes sharing a store may race:
// the loser finds the user made and does nothing.
func (s *Service) Bootstrap(ctx context.Context, secret, file string) (bool, error) {
	return Bootstrap(ctx, s.o.Store, secret, file, s.o.Now())
}

// Bootstrap is Service.Bootstrap on a store (the node runs it before it
// serves from the store, so the token works from the first request).
func Bootstrap(ctx context.Context, st Store, secret, file string, now time.Time) (bool, error) {
	us, err := st.ListUsers(ctx)
	if err != nil {
		return false, err
	}
	if slices.ContainsFunc(us, func(u User) bool { return u.Role == RoleAdmin && !u.Disabled }) {
		return false, nil
	}
	if secret == "" {
		secret = NewSecret(TokenPrefix)
	} else if err := CheckSecret(secret, TokenPrefix); err != nil {
		return false, fmt.Errorf("bootstrap token: %w", err)
	}
	name := "admin"
	if slices.ContainsFunc(us, func(u User) bool { return u.Name == name }) {
		name = "admin-" + time.Now().UTC().Format("20060102150405")
	}
	now = now.UTC()
	if err := st.CreateUser(ctx, User{Name: name, Role: RoleAdmin, Source: "bootstrap", Created: now, Updated: now}); err != nil {
		if errors.Is(err, ErrExists) {
			return false, nil
		}
		return false, err
	}
	t := Token{ID: newTokenID(), Name: "bootstrap", Kind: TokenAPI, Owner: name, Role: RoleAdmin, Hash: HashSecret(secret), Created: now}
	if err := st.CreateToken(ctx, t); err != nil {
		return false, err
	}
	if file != "" {
		if err := writeSecretFile(file, secret+"\n"); err != nil {
			return true, fmt.Errorf("bootstrap token file: %w", err)
		}
	}
	return true, nil
}

// writeSecretFile writes data to path with mode 0600 (atomically).
func writeSecretFile(path, data string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// WriteSecretFile writes a secret to path with mode 0600 (for the CLI's
// credentials).
func WriteSecretFile(path, data string) error { return writeSecretFile(path, data) }

// AppendAudit appends an entry (the Service is the Guard's Auditor).
func (s *Service) AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	return s.o.Store.AppendAudit(ctx, e)
}

// VerifyResult is the outcome of VerifyAudit.
type VerifyResult struct {
	Entries int64 `json:"entries"`
	// OK is false when an entry does not hash to what it says or does not
	// follow the one before; BadSeq names the first such entry.
	OK      bool   `json:"ok"`
	BadSeq  int64  `json:"bad_seq,omitempty"`
	Problem string `json:"problem,omitempty"`
	Head    string `json:"head,omitempty"` // hash of the last entry
}

// VerifyAudit walks the whole audit log and checks the chain: seq
// without gaps from 1, each Prev the Hash before, each Hash recomputed.
func VerifyAudit(ctx context.Context, st Store) (VerifyResult, error) {
	var r VerifyResult
	prev, seq := "", int64(0)
	for {
		es, err := st.ListAudit(ctx, AuditFilter{AfterSeq: seq, Limit: 10000})
		if err != nil {
			return r, err
		}
		for _, e := range es {
			r.Entries++
			switch {
			case e.Seq != seq+1:
				return fail(r, e.Seq, fmt.Sprintf("entry %d follows %d: entries missing", e.Seq, seq)), nil
			case e.Prev != prev:
				return fail(r, e.Seq, fmt.Sprintf("entry %d: prev %.12s… is not the hash of entry %d", e.Seq, e.Prev, seq)), nil
			case ChainHash(prev, e) != e.Hash:
				return fail(r, e.Seq, fmt.Sprintf("entry %d: its content does not hash to its hash (edited?)", e.Seq)), nil
			}
			prev, seq = e.Hash, e.Seq
		}
		if len(es) < 10000 {
			r.OK, r.Head = true, prev
			return r, nil
		}
	}
}

func fail(r VerifyResult, seq int64, msg string) VerifyResult {
	r.OK, r.BadSeq, r.Problem = false, seq, msg
	return r
}
