package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// AuthCalloutSubject is where an external nats-server (≥ 2.10, configured
// with an auth_callout block) asks who a connecting client is. The nodes
// answer it in one queue group, AuthCalloutQueue, so one node answers
// each request.
const (
	AuthCalloutSubject = "$SYS.REQ.USER.AUTH"
	AuthCalloutQueue   = "unyo-auth-callout"
)

// maxCalloutRequest bounds an authorisation request (a server-signed JWT
// with the client's connect options; a few KiB with TLS chains).
const maxCalloutRequest = 64 << 10

// CalloutOptions make the nodes the authorisation service of an external
// NATS server for the agents enrolled at run time: a client presenting
// the NKey of an enabled agent of the Directory (and the server's nonce
// signed with it) is granted exactly AgentPermissions for that agent, in
// Account; anyone else is refused. The nodes themselves connect as a user
// of the server's auth_callout auth_users, which the server never calls
// out for.
type CalloutOptions struct {
	// Issuer signs the answers and the agents' user JWTs: an account
	// NKey whose public key is the auth_callout block's issuer. Required.
	Issuer nkeys.KeyPair
	// Account is the server account the agents are placed in: the one
	// the nodes' user (and the streams) are in. Required.
	Account string
	// TTL, if positive, makes an agent's authorisation expire after it:
	// the server then closes its connection and the agent, reconnecting,
	// is asked about again (a disabled agent is refused then). 0: it
	// lasts as long as the connection.
	TTL time.Duration
}

func (o *CalloutOptions) validate() error {
	if o.Issuer == nil {
		return errors.New("bus: auth callout: an issuer account key is required")
	}
	if pub, err := o.Issuer.PublicKey(); err != nil || !nkeys.IsValidPublicAccountKey(pub) {
		return errors.New("bus: auth callout: the issuer must be an account NKey (its public key starts with A)")
	}
	if o.Account == "" || strings.ContainsAny(o.Account, " \t\r\n.*>") {
		return fmt.Errorf("bus: auth callout: account %q: want the server account's name (no spaces, dots or wildcards)", o.Account)
	}
	if o.TTL < 0 {
		return fmt.Errorf("bus: auth callout: ttl %s: want 0 or more", o.TTL)
	}
	return nil
}

// CalloutIssuer reads an account NKey seed ("SA..."), the auth callout's
// issuer, from its text (a seed file's content).
func CalloutIssuer(seed string) (nkeys.KeyPair, error) {
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(seed)))
	if err != nil {
		return nil, errors.New("bus: auth callout issuer: not an NKey seed")
	}
	pub, err := kp.PublicKey()
	if err != nil || !nkeys.IsValidPublicAccountKey(pub) {
		return nil, errors.New("bus: auth callout issuer: not an account NKey seed (want SA...)")
	}
	return kp, nil
}

// callout answers the external server's authorisation requests.
type callout struct {
	o       CalloutOptions
	issuer  string
	dir     AgentDirectory
	now     func() time.Time
	log     *slog.Logger
	granted atomic.Int64
	refused atomic.Int64
	noNonce atomic.Bool

	// One refusal line per reason a second, with the number held back:
	// clients hammering the server cannot flood the node's log.
	logMu   sync.Mutex
	logLast map[string]time.Time
	logHeld map[string]int
}

// warnRefusal logs a refused connection, at most once a second per reason
// (reasons are the code's own constants, so the maps stay small).
func (c *callout) warnRefusal(why string, args ...any) {
	now := c.now()
	c.logMu.Lock()
	if last, ok := c.logLast[why]; ok && now.Sub(last) < time.Second {
		c.logHeld[why]++
		c.logMu.Unlock()
		return
	}
	held := c.logHeld[why]
	c.logLast[why], c.logHeld[why] = now, 0
	c.logMu.Unlock()
	c.log.Warn("auth callout: connection refused", append([]any{"reason", why, "held_back", held}, args...)...)
}

func newCallout(o CalloutOptions, dir AgentDirectory, log *slog.Logger) (*callout, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if dir == nil {
		return nil, errors.New("bus: auth callout: no agent directory (agents.enabled)")
	}
	pub, _ := o.Issuer.PublicKey()
	return &callout{o: o, issuer: pub, dir: dir, now: time.Now, log: log,
		logLast: map[string]time.Time{}, logHeld: map[string]int{}}, nil
}

// serve subscribes nc to the authorisation requests.
func (c *callout) serve(nc *nats.Conn) (*nats.Subscription, error) {
	sub, err := nc.QueueSubscribe(AuthCalloutSubject, AuthCalloutQueue, func(m *nats.Msg) {
		if m.Reply == "" {
			return
		}
		if resp := c.answer(m.Data); resp != nil {
			_ = m.Respond(resp)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("bus: auth callout: subscribe %s: %w", AuthCalloutSubject, err)
	}
	// Bounded: requests beyond it are dropped (the client's connection
	// times out and it retries) rather than queued without end.
	_ = sub.SetPendingLimits(1024, 16<<20)
	if err := nc.Flush(); err != nil {
		return nil, fmt.Errorf("bus: auth callout: %w", err)
	}
	return sub, nil
}

// errNotAgent is the reason given to the server for every refusal: the
// client learns nothing of which check failed (the node's log says).
const errNotAgent = "not an enabled unyo agent"

// answer decides one request and returns the signed response, or nil
// when the request cannot be answered at all (not a server's request).
func (c *callout) answer(data []byte) []byte {
	if len(data) > maxCalloutRequest {
		c.refused.Add(1)
		c.log.Warn("auth callout: request too large, dropped", "bytes", len(data))
		return nil
	}
	req, err := jwt.DecodeAuthorizationRequestClaims(string(data))
	if err != nil {
		// An encrypted request (the server's auth_callout has an xkey) or
		// not a server's request at all.
		c.refused.Add(1)
		c.log.Warn("auth callout: undecodable request (an xkey in the server's auth_callout is not supported)", "err", err)
		return nil
	}
	ar := req.AuthorizationRequest
	if !nkeys.IsValidPublicUserKey(ar.UserNkey) || ar.Server.ID == "" {
		c.refused.Add(1)
		c.log.Warn("auth callout: request without the server's user key or id, dropped")
		return nil
	}
	name, perms, why := c.decide(ar)
	rc := jwt.NewAuthorizationResponseClaims(ar.UserNkey)
	rc.Audience = ar.Server.ID
	if why != "" {
		c.refused.Add(1)
		c.warnRefusal(why, "nkey", ar.ConnectOptions.Nkey, "user", ar.ConnectOptions.Username,
			"host", ar.ClientInformation.Host, "server", ar.Server.Name)
		rc.Error = errNotAgent
	} else {
		uc := jwt.NewUserClaims(ar.UserNkey)
		uc.Name = name
		uc.Audience = c.o.Account
		uc.Permissions = jwtPermissions(perms)
		uc.AllowedConnectionTypes = jwt.StringList{jwt.ConnectionTypeStandard}
		if c.o.TTL > 0 {
			uc.Expires = c.now().Add(c.o.TTL).Unix()
		}
		ujwt, err := uc.Encode(c.o.Issuer)
		if err != nil {
			c.refused.Add(1)
			c.log.Error("auth callout: sign the agent's user", "agent", name, "err", err)
			rc.Error = errNotAgent
		} else {
			c.granted.Add(1)
			c.log.Debug("auth callout: agent let in", "agent", name, "host", ar.ClientInformation.Host)
			rc.Jwt = ujwt
		}
	}
	out, err := rc.Encode(c.o.Issuer)
	if err != nil {
		c.log.Error("auth callout: sign the answer", "err", err)
		return nil
	}
	return []byte(out)
}

// decide returns the agent and its permissions, or why it is refused.
// Only an NKey of an enabled agent whose signature of the server's nonce
// verifies gets in; a user name, password, token or JWT never does.
func (c *callout) decide(ar jwt.AuthorizationRequest) (string, *server.Permissions, string) {
	co := ar.ConnectOptions
	switch {
	case co.Nkey == "":
		return "", nil, "no NKey (only enrolled agents are authorised by the nodes; give other users to auth_users)"
	case co.JWT != "" || co.Token != "" || co.Password != "":
		return "", nil, "other credentials besides the NKey"
	case !nkeys.IsValidPublicUserKey(co.Nkey):
		return "", nil, "not a user NKey"
	case ar.ClientInformation.Nonce == "":
		if !c.noNonce.Swap(true) {
			c.log.Error("auth callout: the NATS server sends clients no nonce, so no agent can prove its NKey: " +
				"list an NKey user in its authorization (docs/bus.md, auth callout)")
		}
		return "", nil, "no nonce from the server"
	case !verifyNonce(co.Nkey, co.SignedNonce, []byte(ar.ClientInformation.Nonce)):
		return "", nil, "the nonce's signature does not verify"
	}
	name, tags, ok := c.dir.AgentByNKey(co.Nkey)
	if !ok {
		return "", nil, "no enabled agent holds this NKey"
	}
	if !AgentNameRE.MatchString(name) {
		return "", nil, "agent name not a subject token"
	}
	var clean []string
	for _, t := range tags {
		if AgentNameRE.MatchString(t) {
			clean = append(clean, t)
		}
	}
	return name, AgentPermissions(name, clean), ""
}

// jwtPermissions carries AgentPermissions into a user JWT.
func jwtPermissions(p *server.Permissions) jwt.Permissions {
	var out jwt.Permissions
	if p.Publish != nil {
		out.Pub.Allow = append(jwt.StringList(nil), p.Publish.Allow...)
		out.Pub.Deny = append(jwt.StringList(nil), p.Publish.Deny...)
	}
	if p.Subscribe != nil {
		out.Sub.Allow = append(jwt.StringList(nil), p.Subscribe.Allow...)
		out.Sub.Deny = append(jwt.StringList(nil), p.Subscribe.Deny...)
	}
	// An empty allow list would allow everything: never grant that.
	if len(out.Pub.Allow) == 0 {
		out.Pub.Deny = append(out.Pub.Deny, ">")
	}
	if len(out.Sub.Allow) == 0 {
		out.Sub.Deny = append(out.Sub.Deny, ">")
	}
	if p.Response != nil {
		out.Resp = &jwt.ResponsePermission{MaxMsgs: p.Response.MaxMsgs, Expires: p.Response.Expires}
	}
	return out
}
