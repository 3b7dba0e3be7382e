package auth

import (
	"context"
	"net/http"
)

// Kind is how an identity proved itself.
type Kind string

// Identity kinds.
const (
	KindPassword Kind = "password" // a login with a password (the audit of logins)
	KindSession  Kind = "session"  // a session token from a login
	KindToken    Kind = "token"    // an API token
	KindMember   Kind = "member"   // a cluster member's credential
	KindJoin     Kind = "join"     // a cluster join token
	KindSSO      Kind = "sso"      // single sign-on
	KindEnroll   Kind = "enroll"   // an agent enrolment token (package agents)
	KindNone     Kind = ""         // anonymous
)

// Identity is who is acting. Handlers take it from the request context
// (FromContext); it is never read from a request body.
type Identity struct {
	Kind Kind `json:"kind"`
	// Name is the user name (for sessions and tokens: the owner) or the
	// member's node id.
	Name string `json:"name"`
	Role Role   `json:"role"`
	// TokenID is the token or session used, if any.
	TokenID string `json:"token_id,omitempty"`
	// From is the remote address of the request.
	From string `json:"from,omitempty"`
}

// Anonymous reports whether no identity was proven.
func (i Identity) Anonymous() bool { return i.Kind == KindNone }

// Actor is the name recorded as who acted: the user, or "node:NAME" for a
// cluster member.
func (i Identity) Actor() string {
	switch i.Kind {
	case KindNone:
		return "anonymous"
	case KindMember:
		return "node:" + i.Name
	case KindJoin:
		return "join-token:" + i.TokenID
	case KindEnroll:
		return "enroll-token:" + i.TokenID
	}
	return i.Name
}

type ctxKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity in ctx (anonymous if none).
func FromContext(ctx context.Context) Identity {
	id, _ := ctx.Value(ctxKey{}).(Identity)
	return id
}

// FromRequest is FromContext(r.Context()).
func FromRequest(r *http.Request) Identity { return FromContext(r.Context()) }

// Authenticator proves an identity from a request. ok is false when the
// request carries no credential of this authenticator's kind (the next
// one is asked); err is non-nil when it carries one that is not valid
// (unknown, expired, revoked, disabled owner): the request is refused.
type Authenticator interface {
	Authenticate(r *http.Request) (id Identity, ok bool, err error)
}

// AuthenticatorFunc adapts a function.
type AuthenticatorFunc func(r *http.Request) (Identity, bool, error)

// Authenticate calls f.
func (f AuthenticatorFunc) Authenticate(r *http.Request) (Identity, bool, error) { return f(r) }
