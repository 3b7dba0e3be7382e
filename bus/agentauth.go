package bus

import (
	"crypto/subtle"
	"encoding/base64"
	"sync/atomic"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// AgentDirectory answers which enrolled agent holds an NKey: the agents
// enrolled at run time (package agents), besides the static
// Options.Agents. It is asked at every connection, so it must answer from
// memory.
type AgentDirectory interface {
	// AgentByNKey returns the agent's name and tags for a public user
	// NKey, ok false for a key no enabled agent holds.
	AgentByNKey(nkey string) (name string, tags []string, ok bool)
}

// dynamicAuth is the embedded server's authentication when enrolled
// agents may connect: the node's in-process user, the static agents of
// Options.Agents, and any NKey the directory knows, each with
// AgentPermissions. It checks an NKey's signature of the server's nonce
// itself, as the server does for its configured NKey users.
type dynamicAuth struct {
	nodePass string
	users    map[string]*server.User
	nkeys    map[string]*server.NkeyUser
	dir      AgentDirectory
	refused  atomic.Int64
}

var _ server.Authentication = (*dynamicAuth)(nil)

func newDynamicAuth(so *server.Options, nodePass string, dir AgentDirectory) *dynamicAuth {
	d := &dynamicAuth{nodePass: nodePass, users: map[string]*server.User{}, nkeys: map[string]*server.NkeyUser{}, dir: dir}
	for _, u := range so.Users {
		d.users[u.Username] = u
	}
	for _, n := range so.Nkeys {
		d.nkeys[n.Nkey] = n
	}
	return d
}

// Check implements server.Authentication.
func (d *dynamicAuth) Check(c server.ClientAuthentication) bool {
	if c.Kind() != server.CLIENT {
		d.refused.Add(1)
		return false
	}
	o := c.GetOpts()
	addr := c.RemoteAddress()
	inProcess := addr != nil && addr.Network() == "pipe"
	switch {
	case o.Nkey != "":
		if inProcess || !verifyNonce(o.Nkey, o.Sig, c.GetNonce()) {
			break
		}
		if n, ok := d.nkeys[o.Nkey]; ok {
			c.RegisterUser(&server.User{Username: o.Nkey, Permissions: n.Permissions})
			return true
		}
		if name, tags, ok := d.dir.AgentByNKey(o.Nkey); ok && AgentNameRE.MatchString(name) {
			c.RegisterUser(&server.User{Username: name, Permissions: AgentPermissions(name, tags)})
			return true
		}
	case o.Username == nodeUser:
		if inProcess && subtle.ConstantTimeCompare([]byte(o.Password), []byte(d.nodePass)) == 1 {
			c.RegisterUser(&server.User{Username: nodeUser})
			return true
		}
	case o.Username != "":
		u, ok := d.users[o.Username]
		if ok && !inProcess && subtle.ConstantTimeCompare([]byte(o.Password), []byte(u.Password)) == 1 {
			c.RegisterUser(&server.User{Username: u.Username, Permissions: u.Permissions})
			return true
		}
	}
	d.refused.Add(1)
	return false
}

func verifyNonce(pub, sig string, nonce []byte) bool {
	if len(nonce) == 0 || sig == "" {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(sig); err != nil {
			return false
		}
	}
	kp, err := nkeys.FromPublicKey(pub)
	if err != nil {
		return false
	}
	return kp.Verify(nonce, raw) == nil
}
