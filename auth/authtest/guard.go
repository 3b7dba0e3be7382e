package authtest

import (
	"net/http"
	"strings"

	"github.com/unyo-ops/unyo/auth"
)

// Guard returns a guard that authenticates "Bearer test:ROLE:NAME" as
// NAME with ROLE, for tests of handlers that need identities but not the
// token store (the node's tests check the real token path).
func Guard() *auth.Guard {
	return auth.NewGuard(auth.GuardOptions{Authenticators: []auth.Authenticator{
		auth.AuthenticatorFunc(func(r *http.Request) (auth.Identity, bool, error) {
			rest, ok := strings.CutPrefix(auth.BearerToken(r), "test:")
			if !ok {
				return auth.Identity{}, false, nil
			}
			role, name, _ := strings.Cut(rest, ":")
			return auth.Identity{Kind: auth.KindToken, Name: name, Role: auth.Role(role)}, true, nil
		}),
	}})
}

// Token is the bearer token Guard takes for name with role.
func Token(role auth.Role, name string) string { return "test:" + string(role) + ":" + name }
