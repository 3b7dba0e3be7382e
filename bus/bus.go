package bus

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/internal/redact"
)

// Options configure the bus. The zero value, with StoreDir set, runs an
// embedded in-process server.
type Options struct {
	// URL of an external NATS server (comma-separated for a cluster).
	// Empty starts the embedded server.
	URL string
	// Name of this node; the embedded server's name.
	Name string
	// Listen is the embedded server's client listener (host:port); empty
	// means in-process only, no TCP port.
	Listen string
	// StoreDir is the embedded server's JetStream directory.
	StoreDir string
	// SyncAlways makes the embedded server fsync every write.
	SyncAlways bool
	// Namespace prefixes subjects (lower case) and stream names (upper
	// case). Default "unyo".
	Namespace string
	// Replicas of each stream (1 on a single node).
	Replicas int
	// MaxAge of messages in the streams.
	MaxAge time.Duration
	// DuplicateWindow within which a repeated message id is dropped.
	DuplicateWindow time.Duration

	// Embedded cluster. With ClusterListen set, the embedded server listens
	// for routes from the other nodes' embedded servers, dials Routes, and
	// runs JetStream clustered: Name must then be unique among the nodes
	// (it is the JetStream server name) and Replicas may be up to the
	// number of nodes.

	// ClusterName is the NATS cluster's name, the same on every node.
	// Default "unyo".
	ClusterName string
	// ClusterListen is the route listener, host:port; port 0 picks a free
	// port (see [Bus.ClusterAddr]). Empty: no cluster.
	ClusterListen string
	// Routes are the route listeners of the nodes, nats-route://host:port
	// or host:port. Listing every node, this one included, lets every node
	// have the same list (a route to itself is ignored); JetStream expects
	// as many servers as there are routes before it elects a meta leader.
	Routes []string
	// ClusterTLS, if set, secures the routes with mutual TLS: its
	// Certificates are presented both when accepting and when dialing a
	// route, RootCAs verify the node dialed and ClientCAs the node
	// dialing. A ClientAuth below RequireAndVerifyClientCert is raised to it.
	// [RouteTLSConfig] builds one from PEM files.
	ClusterTLS *tls.Config
	// Agents may connect to the embedded server's client listener, each
	// with its own permissions (see [AgentPermissions]). Whenever the
	// embedded server listens for clients (Listen set, or an embedded
	// cluster, which always has a client listener), it requires
	// authentication: the node's own in-process connection uses a user
	// with a random password made at start, and only the agents listed
	// here can connect besides it. Ignored with an external URL, where
	// the NATS server's own configuration decides.
	Agents []AgentCredential
	// Directory, if set, lets the agents enrolled at run time connect
	// with their NKeys too (see AgentDirectory), besides Agents: to the
	// embedded server, or, with Callout, to the external one.
	Directory AgentDirectory
	// Callout, with an external URL, makes this node answer the external
	// server's auth callout for the agents of Directory (see
	// CalloutOptions). Requires Directory.
	Callout *CalloutOptions
	// ClientTLS, if set, secures the embedded server's client listener
	// (agents connect with tls://). With ClientCAs set, clients must
	// present a certificate it verifies. [ClientTLSConfig] builds one from
	// PEM files. The in-process connection does not use it.
	ClientTLS *tls.Config
	// StartTimeout bounds how long Open waits for the embedded server and
	// retries creating the streams while JetStream is not ready (no meta
	// leader yet, peers still joining), and how long EnsureConsumer
	// retries by default. Default 30s; negative: no limit, Open waits
	// (logging its progress) until its context ends, as `unyo serve`
	// does. A deadline on Open's context also ends it.
	StartTimeout time.Duration

	Logger *slog.Logger
}

// clustered reports whether the embedded server runs in a cluster.
func (o *Options) clustered() bool { return o.URL == "" && o.ClusterListen != "" }

func (o *Options) defaults() {
	if o.Namespace == "" {
		o.Namespace = "unyo"
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	if o.MaxAge == 0 {
		o.MaxAge = 72 * time.Hour
	}
	if o.DuplicateWindow == 0 {
		o.DuplicateWindow = 10 * time.Minute
	}
	if o.Name == "" && !o.clustered() {
		o.Name = "unyo"
	}
	if o.ClusterName == "" {
		o.ClusterName = "unyo"
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

func (o *Options) validate() error {
	if o.URL == "" && o.StoreDir == "" {
		return errors.New("bus: embedded server needs a store directory")
	}
	if strings.ContainsAny(o.Namespace, ".*> \t") {
		return fmt.Errorf("bus: namespace %q: must be one subject token", o.Namespace)
	}
	if o.DuplicateWindow > o.MaxAge {
		return fmt.Errorf("bus: duplicate window %s longer than max age %s", o.DuplicateWindow, o.MaxAge)
	}
	if o.Replicas < 1 || o.Replicas > 5 {
		return fmt.Errorf("bus: replicas %d: want 1..5", o.Replicas)
	}
	if o.URL != "" {
		if o.Callout != nil {
			if o.Directory == nil {
				return errors.New("bus: auth callout without an agent directory")
			}
			return o.Callout.validate()
		}
		return nil
	}
	if o.Callout != nil {
		return errors.New("bus: auth callout is for an external NATS (set URL)")
	}
	if o.Listen == "" && !o.clustered() && (len(o.Agents) > 0 || o.ClientTLS != nil) {
		return errors.New("bus: agents or client TLS without a client listener (set Listen)")
	}
	if !o.clustered() {
		if len(o.Routes) > 0 || o.ClusterTLS != nil {
			return errors.New("bus: routes or cluster TLS without a cluster listen address")
		}
		if o.Replicas > 1 {
			return fmt.Errorf("bus: replicas %d: a lone embedded server holds 1 replica (set a cluster listen address and routes, or an external URL)", o.Replicas)
		}
		return nil
	}
	if o.Name == "" {
		return errors.New("bus: an embedded cluster needs a node name, unique among the nodes")
	}
	if strings.ContainsAny(o.ClusterName, " \t.*>") {
		return fmt.Errorf("bus: cluster name %q: no spaces, dots or wildcards", o.ClusterName)
	}
	if _, _, err := splitListen(o.ClusterListen); err != nil {
		return fmt.Errorf("bus: cluster listen %q: %w", o.ClusterListen, err)
	}
	if len(o.Routes) == 0 {
		return errors.New("bus: an embedded cluster needs routes (the nodes' route addresses)")
	}
	for _, r := range o.Routes {
		if _, err := RouteURL(r); err != nil {
			return err
		}
	}
	return nil
}

// RouteURL normalises a route address, nats-route://host:port or
// host:port, to a nats-route:// URL.
func RouteURL(s string) (*url.URL, error) {
	raw := strings.TrimSpace(s)
	if !strings.Contains(raw, "://") {
		raw = "nats-route://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "nats-route" || u.Hostname() == "" || u.Port() == "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("bus: route %q: want nats-route://host:port or host:port", s)
	}
	if p, err := strconv.Atoi(u.Port()); err != nil || p < 1 || p > 65535 {
		return nil, fmt.Errorf("bus: route %q: port out of range 1..65535", s)
	}
	u.Path = ""
	return u, nil
}

// splitListen parses host:port; port 0 becomes server.RANDOM_PORT.
func splitListen(hostport string) (host string, port int, err error) {
	h, p, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("port %q: want 0..65535", p)
	}
	if n == 0 {
		n = server.RANDOM_PORT
	}
	return h, n, nil
}

// Bus is a connection to NATS with unyo's streams in place.
type Bus struct {
	opts Options
	ns   *server.Server // nil with an external server
	// nodePass is the password of the node's own user on the embedded
	// server; "" when it requires no authentication.
	nodePass string
	nc       *nats.Conn
	js       jetstream.JetStream
	log      *slog.Logger
	callout  *callout // answers the external server's auth callout; nil if not
}

// Open starts or connects to NATS and creates the streams. It undoes what it
// started if a later step fails.
func Open(ctx context.Context, opts Options) (_ *Bus, err error) {
	opts.defaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	b := &Bus{opts: opts, log: opts.Logger.With("component", "bus")}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if opts.URL == "" {
		if err := b.startEmbedded(ctx); err != nil {
			return nil, err
		}
		// The node's own connection stays in-process, also in a cluster:
		// it never follows discovered servers to another node.
		copts := []nats.Option{nats.InProcessServer(b.ns), nats.Name(opts.Name),
			nats.MaxReconnects(-1), nats.IgnoreDiscoveredServers()}
		if b.nodePass != "" {
			copts = append(copts, nats.UserInfo(nodeUser, b.nodePass))
		}
		b.nc, err = nats.Connect("", copts...)
	} else {
		b.nc, err = nats.Connect(opts.URL, nats.Name(opts.Name), nats.MaxReconnects(-1),
			nats.ReconnectWait(250*time.Millisecond), nats.Timeout(5*time.Second))
	}
	if err != nil {
		return nil, redact.Err(fmt.Errorf("bus: connect: %w", err))
	}
	if opts.URL != "" && opts.Callout != nil {
		if b.callout, err = newCallout(*opts.Callout, opts.Directory, b.log.With("part", "auth-callout")); err != nil {
			return nil, err
		}
		if _, err := b.callout.serve(b.nc); err != nil {
			return nil, err
		}
		b.log.Info("answering the NATS server's auth callout for enrolled agents", "account", opts.Callout.Account,
			"issuer", b.callout.issuer, "ttl", opts.Callout.TTL)
	}
	// An asynchronous publish whose acknowledgement never comes (the
	// stream's leader lost mid-election) fails after this, freeing its
	// slot; the spool forwarder publishes it again.
	b.js, err = jetstream.New(b.nc, jetstream.WithPublishAsyncTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	for _, sc := range []jetstream.StreamConfig{
		{Name: b.EventsStream(), Subjects: []string{opts.Namespace + ".event.>"}},
		{Name: b.IncidentsStream(), Subjects: []string{opts.Namespace + ".incident.>"}},
	} {
		sc.Storage = jetstream.FileStorage
		sc.Replicas = opts.Replicas
		sc.MaxAge = opts.MaxAge
		sc.Duplicates = opts.DuplicateWindow
		sc.Retention = jetstream.LimitsPolicy
		if err := b.ensureStream(ctx, sc); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// ensureStream creates or updates one of the bus's streams (see
// EnsureStream), for up to Options.StartTimeout (negative: until ctx
// ends).
func (b *Bus) ensureStream(ctx context.Context, sc jetstream.StreamConfig) error {
	return EnsureStream(ctx, b.js, sc, StreamOptions{Timeout: b.opts.StartTimeout, Logger: b.log, Meta: b.metaLeader})
}

// StreamOptions tune EnsureStream.
type StreamOptions struct {
	// Timeout gives up after this long (0: 30s; negative: never, only
	// when ctx ends).
	Timeout time.Duration
	// CreateOnly creates a missing stream and leaves an existing one as
	// it is (an agent must not undo a node's replication).
	CreateOnly bool
	Logger     *slog.Logger
	// Meta names the JetStream meta leader for the progress log (optional).
	Meta func() string
}

// ProgressEvery is how often a wait for JetStream (a stream or a consumer
// that cannot be made yet) logs that it is still waiting.
var ProgressEvery = 5 * time.Second

// EnsureStream creates or updates a stream, retrying with backoff while
// JetStream is not ready: in a cluster the meta group may have no leader yet,
// too few peers may have joined for the replicas ("insufficient
// resources", "no suitable peers"), or another node may be creating the same
// stream at the same moment ("already in use"; the next attempt finds it and
// updates it to the same config). It gives up on errors no wait can cure, at
// ctx's deadline, or after o.Timeout, and logs its progress every
// ProgressEvery while it waits.
//
// Each attempt waits at most 2s for an answer: nats-server v2.15 creates a
// stream that several nodes ask for at once but may answer none of them, and
// the retry (an update to the same config) is answered at once. The waits
// between attempts are jittered so that nodes started together fall out of
// step.
func EnsureStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig, o StreamOptions) error {
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Meta == nil {
		o.Meta = func() string { return "" }
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	start := time.Now()
	lastLog := start
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, acancel := context.WithTimeout(ctx, 2*time.Second)
		var err error
		if o.CreateOnly {
			if _, err = js.Stream(actx, sc.Name); err != nil {
				_, err = js.CreateStream(actx, sc)
				if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
					err = nil
				}
			}
		} else {
			_, err = js.CreateOrUpdateStream(actx, sc)
		}
		acancel()
		if err == nil {
			if attempt > 1 {
				o.Logger.Info("stream ready", "stream", sc.Name, "replicas", sc.Replicas,
					"attempts", attempt, "after", time.Since(start).Round(time.Millisecond))
			}
			return nil
		}
		if permanentStreamErr(err) {
			return fmt.Errorf("bus: stream %s: %w", sc.Name, err)
		}
		if !o.CreateOnly && streamInPlace(ctx, js, sc) {
			o.Logger.Info("stream ready (created or updated concurrently)", "stream", sc.Name, "replicas", sc.Replicas,
				"attempts", attempt, "after", time.Since(start).Round(time.Millisecond))
			return nil
		}
		if time.Since(lastLog) >= ProgressEvery {
			lastLog = time.Now()
			o.Logger.Warn("waiting for JetStream to make a stream (peers starting, no quorum or no placement yet)",
				"stream", sc.Name, "replicas", sc.Replicas, "attempts", attempt,
				"waited", time.Since(start).Round(time.Second), "meta_leader", o.Meta(), "err", err)
		} else {
			o.Logger.Debug("stream not ready, retrying", "stream", sc.Name, "attempt", attempt, "err", err)
		}
		jittered := wait/2 + rand.N(wait)
		select {
		case <-ctx.Done():
			return fmt.Errorf("bus: stream %s: not ready after %s and %d attempts: %w",
				sc.Name, time.Since(start).Round(time.Millisecond), attempt, err)
		case <-time.After(jittered):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// streamInPlace reports whether the stream exists with the settings sc
// makes: the answer to a create or update racing another node's may be lost
// although the stream is there.
func streamInPlace(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) bool {
	ictx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	s, err := js.Stream(ictx, sc.Name)
	if err != nil {
		return false
	}
	info, err := s.Info(ictx)
	if err != nil {
		return false
	}
	c := info.Config
	return slices.Equal(c.Subjects, sc.Subjects) && c.Replicas == sc.Replicas && c.MaxAge == sc.MaxAge &&
		c.Duplicates == sc.Duplicates && c.Storage == sc.Storage && c.Retention == sc.Retention
}

// permanentStreamErr reports errors that retrying cannot cure: a config the
// server rejects. Everything else (timeouts, no responders, JetStream
// temporarily unavailable, insufficient resources, no suitable peers, name
// already in use by a concurrent create) is retried.
func permanentStreamErr(err error) bool {
	var ae *jetstream.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode {
	case 10052, // stream configuration invalid
		10065, // subjects overlap with an existing stream
		10074, // replicas > 1 not supported in non-clustered mode
		10039: // JetStream not enabled for account
		return true
	}
	return false
}

// waitReady waits until the embedded server takes connections, logging
// every ProgressEvery that it still waits (a clustered server that
// recovers its JetStream state while its peers start), until ctx ends or
// Options.StartTimeout passes (negative: no limit).
func (b *Bus) waitReady(ctx context.Context, ns *server.Server) error {
	start := time.Now()
	for {
		if ns.ReadyForConnections(ProgressEvery) {
			return nil
		}
		waited := time.Since(start).Round(time.Second)
		if ctx.Err() != nil {
			return fmt.Errorf("bus: embedded server not ready after %s: %w", waited, ctx.Err())
		}
		if b.opts.StartTimeout > 0 && time.Since(start) >= b.opts.StartTimeout {
			return fmt.Errorf("bus: embedded server not ready within %s", waited)
		}
		b.log.Warn("waiting for the embedded NATS server to be ready", "waited", waited,
			"routes", ns.NumRoutes(), "store_dir", b.opts.StoreDir)
	}
}

func (b *Bus) startEmbedded(ctx context.Context) error {
	so := &server.Options{
		ServerName: b.opts.Name,
		JetStream:  true,
		StoreDir:   b.opts.StoreDir,
		SyncAlways: b.opts.SyncAlways,
		NoSigs:     true,
		NoLog:      true,
	}
	switch {
	case b.opts.Listen == "" && b.opts.clustered():
		// nats-server v2.15 starts routing only once the client accept
		// loop runs, which DontListen skips: a clustered server with
		// DontListen never routes. So it gets a client listener on a
		// random loopback port, not advertised to the cluster; the node's
		// own connection stays in-process all the same.
		so.Host, so.Port = "127.0.0.1", server.RANDOM_PORT
	case b.opts.Listen == "":
		so.DontListen = true
	default:
		host, port, err := splitListen(b.opts.Listen)
		if err != nil {
			return fmt.Errorf("bus: listen %q: %w", b.opts.Listen, err)
		}
		so.Host, so.Port = host, port
	}
	if !so.DontListen {
		// A client listener: nobody connects without an identity.
		pass, err := authorize(so, b.opts.Agents)
		if err != nil {
			return err
		}
		b.nodePass = pass
		if b.opts.Directory != nil {
			so.CustomClientAuthentication = newDynamicAuth(so, pass, b.opts.Directory)
			so.AlwaysEnableNonce = true
		}
		if b.opts.ClientTLS != nil {
			tc := b.opts.ClientTLS.Clone()
			so.TLS, so.TLSConfig, so.TLSTimeout = true, tc, 2
			if tc.ClientCAs != nil {
				tc.ClientAuth = tls.RequireAndVerifyClientCert
				so.TLSVerify = true
			}
		}
	}
	if b.opts.clustered() {
		host, port, err := splitListen(b.opts.ClusterListen)
		if err != nil {
			return fmt.Errorf("bus: cluster listen %q: %w", b.opts.ClusterListen, err)
		}
		so.Cluster = server.ClusterOpts{Name: b.opts.ClusterName, Host: host, Port: port,
			NoAdvertise: b.opts.Listen == ""}
		if b.opts.ClusterTLS != nil {
			tc := b.opts.ClusterTLS.Clone()
			if tc.ClientAuth < tls.RequireAndVerifyClientCert {
				tc.ClientAuth = tls.RequireAndVerifyClientCert
			}
			so.Cluster.TLSConfig = tc
			so.Cluster.TLSTimeout = 2
		}
		for _, r := range b.opts.Routes {
			u, err := RouteURL(r)
			if err != nil {
				return err
			}
			so.Routes = append(so.Routes, u)
		}
	}
	ns, err := server.NewServer(so)
	if err != nil {
		return fmt.Errorf("bus: embedded server: %w", err)
	}
	ns.Start()
	if err := b.waitReady(ctx, ns); err != nil {
		ns.Shutdown()
		return err
	}
	b.ns = ns
	b.log.Info("embedded NATS started", "store_dir", b.opts.StoreDir, "listen", redact.URL(b.ClientURL()),
		"cluster", b.ClusterAddr(), "routes", len(so.Routes), "auth", b.nodePass != "",
		"agents", len(b.opts.Agents), "client_tls", so.TLSConfig != nil)
	return nil
}

// ClusterAddr is the embedded server's bound route listener, host:port
// (with the port picked when ClusterListen's port is 0); empty without an
// embedded cluster.
func (b *Bus) ClusterAddr() string {
	if b.ns == nil || !b.opts.clustered() {
		return ""
	}
	a := b.ns.ClusterAddr()
	if a == nil {
		return ""
	}
	return a.String()
}

// NumRoutes is the number of route connections of the embedded server
// (NATS pools several connections per peer); 0 without an embedded cluster
// or while no route is up.
func (b *Bus) NumRoutes() int {
	if b.ns == nil {
		return 0
	}
	return b.ns.NumRoutes()
}

// Peers are the names of the other nodes' servers the embedded server has a
// route to, sorted; nil without an embedded cluster.
func (b *Bus) Peers() []string {
	if b.ns == nil {
		return nil
	}
	rz, err := b.ns.Routez(&server.RoutezOptions{})
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range rz.Routes {
		if r.RemoteName != "" && !seen[r.RemoteName] {
			seen[r.RemoteName] = true
			out = append(out, r.RemoteName)
		}
	}
	slices.Sort(out)
	return out
}

// Replicas is the replica count of the bus's streams; other packages
// creating streams on the same NATS should use it too.
func (b *Bus) Replicas() int { return b.opts.Replicas }

// ClientURL is the embedded server's client URL for agents and other nodes,
// or the external URL; empty when the embedded server is in-process only.
func (b *Bus) ClientURL() string {
	if b.ns == nil {
		return b.opts.URL
	}
	if b.opts.Listen == "" {
		return ""
	}
	return b.ns.ClientURL()
}

// AuthRequired reports whether the embedded server requires clients to
// authenticate (it does whenever it has a client listener).
func (b *Bus) AuthRequired() bool { return b.nodePass != "" }

// CalloutCounts are the auth callout requests this node granted and
// refused (both 0 without Options.Callout).
func (b *Bus) CalloutCounts() (granted, refused int64) {
	if b.callout == nil {
		return 0, 0
	}
	return b.callout.granted.Load(), b.callout.refused.Load()
}

// Conn returns the NATS connection.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// JetStream returns the JetStream context.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// EventsStream is the name of the events stream.
func (b *Bus) EventsStream() string { return strings.ToUpper(b.opts.Namespace) + "_EVENTS" }

// IncidentsStream is the name of the incident transitions stream.
func (b *Bus) IncidentsStream() string { return strings.ToUpper(b.opts.Namespace) + "_INCIDENTS" }

// EventSubject is the subject an event from source is published on.
func (b *Bus) EventSubject(source string) string {
	return b.opts.Namespace + ".event." + token(source)
}

// IncidentSubject is the subject a transition of kind k is published on.
func (b *Bus) IncidentSubject(k incident.Kind) string {
	return b.opts.Namespace + ".incident." + token(string(k))
}

// token makes s usable as one subject token.
func token(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '.' || r == '*' || r == '>' || r <= ' ' || r == 0x7f:
			return '_'
		}
		return r
	}, s)
}

// Publish publishes an event and returns once JetStream has stored it (or
// recognised its id as a duplicate). The event must have an ID.
func (b *Bus) Publish(ctx context.Context, ev incident.Event) error {
	if ev.ID == "" {
		return errors.New("bus: event without id")
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("bus: encode event: %w", err)
	}
	if _, err := b.js.Publish(ctx, b.EventSubject(ev.Source), data, jetstream.WithMsgID(ev.ID)); err != nil {
		return fmt.Errorf("bus: publish event %s: %w", ev.ID, err)
	}
	return nil
}

// PublishBatch publishes events asynchronously and waits until every one is
// stored. It returns the errors of those that failed, joined.
func (b *Bus) PublishBatch(ctx context.Context, evs []incident.Event) error {
	futs := make([]jetstream.PubAckFuture, 0, len(evs))
	var errs []error
	for _, ev := range evs {
		if ev.ID == "" {
			errs = append(errs, errors.New("bus: event without id"))
			continue
		}
		data, err := json.Marshal(ev)
		if err != nil {
			errs = append(errs, fmt.Errorf("bus: encode event %s: %w", ev.ID, err))
			continue
		}
		f, err := b.js.PublishAsync(b.EventSubject(ev.Source), data, jetstream.WithMsgID(ev.ID))
		if err != nil {
			errs = append(errs, fmt.Errorf("bus: publish event %s: %w", ev.ID, err))
			continue
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs = append(errs, fmt.Errorf("bus: publish event %s: %w", f.Msg().Header.Get(jetstream.MsgIDHeader), err))
		case <-ctx.Done():
			return errors.Join(append(errs, fmt.Errorf("bus: publish: %w", ctx.Err()))...)
		}
	}
	return errors.Join(errs...)
}

// Transition is the message published on unyo.incident.<kind>: the timeline
// entry and the incident as it stood after it.
type Transition struct {
	Entry    incident.Entry    `json:"entry"`
	Incident incident.Incident `json:"incident"`
}

// PublishTransition publishes one incident transition with the message id
// "incident.<id>.<seq>".
func (b *Bus) PublishTransition(ctx context.Context, t Transition) error {
	data, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("bus: encode transition: %w", err)
	}
	id := fmt.Sprintf("incident.%d.%d", t.Entry.IncidentID, t.Entry.Seq)
	if _, err := b.js.Publish(ctx, b.IncidentSubject(t.Entry.Kind), data, jetstream.WithMsgID(id)); err != nil {
		return fmt.Errorf("bus: publish %s: %w", id, err)
	}
	return nil
}

// DuplicateInProcess reports whether err is JetStream's "duplicate
// message id is in process" (error code 10158): a replicated stream is
// storing another publish of the same message id right now. It is still
// an error (that first publish may yet fail): the publisher retries, and
// the retry is a plain duplicate once the first is stored.
func DuplicateInProcess(err error) bool {
	var ae *jetstream.APIError
	return errors.As(err, &ae) && ae.ErrorCode == 10158
}

// Healthy reports whether the connection is up.
func (b *Bus) Healthy() error {
	if b.nc == nil || !b.nc.IsConnected() {
		return errors.New("bus: not connected to NATS")
	}
	return nil
}

// Close drains the connection and stops the embedded server. It is safe to
// call more than once.
func (b *Bus) Close() {
	if b.nc != nil {
		_ = b.nc.FlushTimeout(2 * time.Second)
		b.nc.Close()
		b.nc = nil
	}
	if b.ns != nil {
		b.ns.Shutdown()
		b.ns.WaitForShutdown()
		b.ns = nil
	}
}

func (b *Bus) metaLeader() string {
	if b.ns == nil {
		return ""
	}
	jsz, err := b.ns.Jsz(&server.JSzOptions{})
	if err != nil || jsz.Meta == nil {
		return ""
	}
	return jsz.Meta.Leader
}
