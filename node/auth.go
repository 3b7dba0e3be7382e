package node

import (
	"context"
	"fmt"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/web"
)

// AuthOptions configure identities on the node (package auth).
type AuthOptions struct {
	// BootstrapToken, if set, is the secret of the first admin's token
	// (made only when the ledger has no enabled admin); else one is made.
	// `unyo serve` takes it from $UNYO_BOOTSTRAP_TOKEN.
	BootstrapToken string
	// BootstrapFile is where the first admin's token is written, mode
	// 0600 (FromConfig: <data_dir>/admin.token; empty writes none).
	BootstrapFile string
	// OpenMetrics lets anyone read /metrics.
	OpenMetrics bool
	// SessionTTL is how long a login lasts (default 12h).
	SessionTTL time.Duration
	// Argon2 overrides the password hashing cost (default m=19MiB t=2 p=1).
	Argon2 auth.Argon2Params
}

// newAuth makes the identity service over the node's ledger and the
// guard of every route.
func (n *Node) newAuth() error {
	o := n.opts.Auth
	svc, err := auth.NewService(auth.Options{Store: n.store, Argon2: o.Argon2, SessionTTL: o.SessionTTL, BootstrapToken: o.BootstrapToken,
		Logger: n.log.With("component", "auth"), Registerer: n.opts.Registry})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.auth = svc
	authn := []auth.Authenticator{svc.Authenticator(), web.CookieAuthenticator(svc)}
	if n.agents != nil {
		// Enrolment tokens (unyoe_…) first: the others do not know them.
		authn = append([]auth.Authenticator{n.agents.Authenticator()}, authn...)
	}
	if n.raft != nil {
		authn = append(authn, n.raft.Authenticator())
	}
	n.guard = auth.NewGuard(auth.GuardOptions{Authenticators: authn, Auditor: svc, OpenMetrics: o.OpenMetrics,
		Logger: n.log.With("component", "auth"), Registerer: n.opts.Registry})
	return nil
}

// bootstrapAdmin makes the first admin in a store just opened, before
// the node serves from it.
func (n *Node) bootstrapAdmin(ctx context.Context, s ledger.Store) {
	as, ok := s.(auth.Store)
	if !ok {
		n.log.Warn("this ledger store keeps no identities: nobody can log in", "store", n.opts.StoreName)
		return
	}
	o := n.opts.Auth
	file := o.BootstrapFile
	made, err := auth.Bootstrap(ctx, as, o.BootstrapToken, file, time.Now())
	switch {
	case err != nil:
		n.log.Error("first admin not made", "err", err)
	case made && file != "":
		n.log.Warn("no admin existed: made user admin with an API token; use it, then make real users and revoke it",
			"token_file", file, "use", "export UNYO_TOKEN_FILE="+file)
	case made:
		n.log.Warn("no admin existed: made user admin with the API token given in UNYO_BOOTSTRAP_TOKEN")
	}
}

// Auth returns the node's identity service.
func (n *Node) Auth() *auth.Service { return n.auth }

var _ auth.Store = (*lazyStore)(nil)

func (l *lazyStore) authStore() (auth.Store, error) {
	s, err := l.get()
	if err != nil {
		return nil, err
	}
	as, ok := s.(auth.Store)
	if !ok {
		return nil, fmt.Errorf("%w: this ledger store keeps no identities", ledger.ErrUnavailable)
	}
	return as, nil
}

func (l *lazyStore) CreateUser(ctx context.Context, u auth.User) error {
	s, err := l.authStore()
	if err != nil {
		return err
	}
	return s.CreateUser(ctx, u)
}

func (l *lazyStore) GetUser(ctx context.Context, name string) (auth.User, error) {
	s, err := l.authStore()
	if err != nil {
		return auth.User{}, err
	}
	return s.GetUser(ctx, name)
}

func (l *lazyStore) ListUsers(ctx context.Context) ([]auth.User, error) {
	s, err := l.authStore()
	if err != nil {
		return nil, err
	}
	return s.ListUsers(ctx)
}

func (l *lazyStore) UpdateUser(ctx context.Context, u auth.User) error {
	s, err := l.authStore()
	if err != nil {
		return err
	}
	return s.UpdateUser(ctx, u)
}

func (l *lazyStore) CreateToken(ctx context.Context, t auth.Token) error {
	s, err := l.authStore()
	if err != nil {
		return err
	}
	return s.CreateToken(ctx, t)
}

func (l *lazyStore) TokenByHash(ctx context.Context, hash string) (auth.Token, error) {
	s, err := l.authStore()
	if err != nil {
		return auth.Token{}, err
	}
	return s.TokenByHash(ctx, hash)
}

func (l *lazyStore) ListTokens(ctx context.Context) ([]auth.Token, error) {
	s, err := l.authStore()
	if err != nil {
		return nil, err
	}
	return s.ListTokens(ctx)
}

func (l *lazyStore) RevokeToken(ctx context.Context, id string, at time.Time) error {
	s, err := l.authStore()
	if err != nil {
		return err
	}
	return s.RevokeToken(ctx, id, at)
}

func (l *lazyStore) TouchToken(ctx context.Context, id string, at time.Time, from string) error {
	s, err := l.authStore()
	if err != nil {
		return err
	}
	return s.TouchToken(ctx, id, at, from)
}

func (l *lazyStore) AppendAudit(ctx context.Context, e auth.AuditEntry) (auth.AuditEntry, error) {
	s, err := l.authStore()
	if err != nil {
		return auth.AuditEntry{}, err
	}
	return s.AppendAudit(ctx, e)
}

func (l *lazyStore) ListAudit(ctx context.Context, f auth.AuditFilter) ([]auth.AuditEntry, error) {
	s, err := l.authStore()
	if err != nil {
		return nil, err
	}
	return s.ListAudit(ctx, f)
}
