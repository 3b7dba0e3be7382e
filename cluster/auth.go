package cluster

import (
	"net/http"

	"github.com/unyo-ops/unyo/auth"
)

// Authenticator proves members' credentials. Until member credentials
// exist it recognises none (placeholder replaced by the member
// credentials change).
func (n *Node) Authenticator() auth.Authenticator {
	return auth.AuthenticatorFunc(func(*http.Request) (auth.Identity, bool, error) { return auth.Identity{}, false, nil })
}
