package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/postgres"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/alerting/pipeline"
	"github.com/unyo-ops/unyo/backup"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/internal/tlsfiles"
)

// FromConfig turns a loaded configuration into node Options.
func FromConfig(c *configs.Config, log *slog.Logger) (Options, error) {
	o := Options{
		Name:         c.Node.Name,
		HTTPListen:   c.HTTP.Listen,
		ReadTimeout:  c.HTTP.ReadTimeout,
		WriteTimeout: c.HTTP.WriteTimeout,
		Logger:       log,
		Bus: bus.Options{
			URL:             string(c.NATS.URL),
			Name:            c.Node.Name,
			Listen:          c.NATS.Embedded.Listen,
			StoreDir:        c.NATS.Embedded.StoreDir,
			SyncAlways:      c.NATS.Embedded.SyncAlways,
			Replicas:        c.NATS.Stream.Replicas,
			MaxAge:          c.NATS.Stream.MaxAge,
			DuplicateWindow: c.NATS.Stream.DuplicateWindow,
			// A node waits for its peers (logging its progress) however
			// long they take to start, until it is stopped.
			StartTimeout: -1,
		},
		Pipeline: pipeline.Options{
			BatchSize:    c.Pipeline.BatchSize,
			AckWait:      c.Pipeline.AckWait,
			RetryBackoff: c.Pipeline.RetryBackoff,
			MaxBackoff:   c.Pipeline.MaxBackoff,
		},
		Spool: SpoolOptions{
			Dir:             c.NATS.Spool.Dir,
			MaxBytes:        c.NATS.Spool.MaxBytes,
			AppendTimeout:   c.NATS.Spool.AppendTimeout,
			ReadyMaxAge:     c.NATS.Spool.ReadyMaxAge,
			ReadyMaxBacklog: c.Pipeline.ReadyMaxBacklog,
		},
		StoreName: c.Ledger.Driver,
	}
	if err := httpTLS(c, log, &o); err != nil {
		return o, err
	}
	if e := c.NATS.Embedded; c.NATS.IsEmbedded() {
		switch {
		case c.NATS.EmbeddedListens():
			for _, a := range e.Agents {
				o.Bus.Agents = append(o.Bus.Agents, bus.AgentCredential{Name: a.Name, Tags: a.Tags,
					Password: string(a.Password), NKey: a.NKey})
			}
			if e.TLS.Enabled() {
				tc, err := bus.ClientTLSConfig(e.TLS.CertFile, e.TLS.KeyFile, e.TLS.CAFile)
				if err != nil {
					return o, fmt.Errorf("nats.embedded.tls: %w", err)
				}
				o.Bus.ClientTLS = tc
			}
		case len(e.Agents) > 0 && log != nil:
			log.Warn("nats.embedded.agents are listed but nats.embedded.listen is empty: no agent can connect", "agents", len(e.Agents))
		}
	}
	if ac := c.NATS.AuthCallout; ac.Enabled() && c.NATS.URL != "" {
		issuer, err := bus.CalloutIssuer(string(ac.IssuerSeed))
		if err != nil {
			return o, fmt.Errorf("nats.auth_callout.issuer_seed: %w", err)
		}
		o.Bus.Callout = &bus.CalloutOptions{Issuer: issuer, Account: ac.Account, TTL: ac.TTL}
	}
	if c.NATS.EmbeddedCluster() {
		cl := c.NATS.Embedded.Cluster
		o.Bus.ClusterName, o.Bus.ClusterListen, o.Bus.Routes = cl.Name, cl.Listen, cl.Routes
		if cl.TLS.Enabled() {
			tc, err := bus.RouteTLSConfig(cl.TLS.CertFile, cl.TLS.KeyFile, cl.TLS.CAFile)
			if err != nil {
				return o, fmt.Errorf("nats.embedded.cluster.tls: %w", err)
			}
			o.Bus.ClusterTLS = tc
		}
	}
	switch c.Ledger.Driver {
	case configs.DriverSQLite:
		path := c.Ledger.SQLite.Path
		o.OpenStore = func(ctx context.Context) (ledger.Store, error) { return sqlite.Open(ctx, path) }
	case configs.DriverPostgres:
		u, err := url.Parse(string(c.Ledger.Postgres.URL))
		if err != nil {
			return o, fmt.Errorf("ledger.postgres.url: %w", err)
		}
		q := u.Query()
		if q.Get("pool_max_conns") == "" && c.Ledger.Postgres.MaxConns > 0 {
			q.Set("pool_max_conns", strconv.Itoa(c.Ledger.Postgres.MaxConns))
			u.RawQuery = q.Encode()
		}
		dsn := u.String()
		o.OpenStore = func(ctx context.Context) (ledger.Store, error) { return postgres.Open(ctx, dsn) }
	default:
		return o, fmt.Errorf("ledger.driver: %q: want sqlite or postgres", c.Ledger.Driver)
	}
	a, err := alertingOptions(c)
	if err != nil {
		return o, err
	}
	o.Alerting = a
	o.Monitor = monitorOptions(c)
	o.Config = c
	o.Jobnets = jobnetOptions(c)
	o.Agents = agentsOptions(c)
	o.Reports = ReportOptions{Dir: filepath.Join(c.Node.DataDir, "reports")}
	o.Backup = BackupOptions{Config: c.Backup, Env: backup.Env{Node: c.Node.Name, DataDir: c.Node.DataDir, ConfigFile: absPath(c.Source),
		RaftDir: filepath.Join(c.Node.DataDir, "raft")}}
	if c.NATS.URL == "" {
		// Not backed up: see backup.SelfSource.
		o.Backup.Env.Exclude = []string{c.NATS.Embedded.StoreDir}
	}
	if c.Ledger.Driver == configs.DriverSQLite {
		o.Backup.Env.LedgerPath = c.Ledger.SQLite.Path
	}
	o.Releases = ReleaseOptions{PublicKeyFile: c.Releases.PublicKeyFile, MaxBytes: c.Releases.MaxBytes,
		MaxConcurrent: c.Releases.MaxConcurrent, Watch: c.Releases.WatchPeriod, Lease: c.Releases.Lease}
	o.Auth = AuthOptions{BootstrapFile: c.Auth.AdminTokenFile, OpenMetrics: c.Auth.OpenMetrics, SessionTTL: c.Auth.SessionTTL}
	o.Cluster = ClusterOptions{
		DataDir: filepath.Join(c.Node.DataDir, "raft"), Site: c.Node.Site,
		Bind: c.Cluster.Bind, Advertise: c.Cluster.Advertise, APIAddr: apiAddr(c),
		Bootstrap: c.Cluster.Bootstrap != nil && *c.Cluster.Bootstrap,
		Join:      c.Cluster.Join, JoinTimeout: c.Cluster.JoinTimeout,
		JoinToken:          string(c.Cluster.JoinToken),
		BootstrapJoinToken: string(c.Cluster.BootstrapJoinToken), BootstrapJoinTokenTTL: c.Cluster.BootstrapJoinTokenTTL,
		HeartbeatTimeout: c.Cluster.Raft.HeartbeatTimeout, ElectionTimeout: c.Cluster.Raft.ElectionTimeout,
		LeaderLeaseTimeout: c.Cluster.Raft.LeaderLeaseTimeout,
	}
	if c.Cluster.TLS.Enabled() {
		tc, err := bus.RouteTLSConfig(c.Cluster.TLS.CertFile, c.Cluster.TLS.KeyFile, c.Cluster.TLS.CAFile)
		if err != nil {
			return o, fmt.Errorf("cluster.tls: %w", err)
		}
		o.Cluster.TLS = tc
	}
	if o.Alerting.Parents == nil {
		o.Alerting.Parents = parentsOf(c.Monitor.Targets)
	}
	return o, nil
}

// httpTLS sets the listener's TLS and the member client's from http.tls.
func httpTLS(c *configs.Config, log *slog.Logger, o *Options) error {
	t := c.HTTP.TLS
	if !t.Enabled() {
		return nil
	}
	srv, cert, err := tlsfiles.Server(tlsfiles.ServerOptions{
		CertFile: t.CertFile, KeyFile: t.KeyFile, ClientCAFile: t.ClientCAFile,
		RequireClientCert: t.ClientAuth == configs.ClientAuthRequire, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("http.tls: %w", err)
	}
	peer, err := tlsfiles.Client(t.CAFile, "", "")
	if err != nil {
		return fmt.Errorf("http.tls.ca_file: %w", err)
	}
	// The node shows its own certificate to members that ask for one
	// (http.tls.client_ca_file on their side).
	peer.GetClientCertificate = cert.GetClientCertificate
	o.TLS, o.PeerTLS = srv, peer
	return nil
}

// apiAddr is the host:port other nodes reach this node's API on: the host
// of http.external_url when set, else http.listen unless it is a wildcard
// (then "" and the bound address is used).
func apiAddr(c *configs.Config) string {
	if u, err := url.Parse(c.HTTP.ExternalURL); err == nil && u.Host != "" && c.HTTP.ExternalURL != "http://"+c.HTTP.Listen && c.HTTP.ExternalURL != "https://"+c.HTTP.Listen {
		if u.Port() != "" {
			return u.Host
		}
	}
	host, port, err := net.SplitHostPort(c.HTTP.Listen)
	if err != nil || host == "" || port == "0" || net.ParseIP(host).IsUnspecified() {
		return ""
	}
	return c.HTTP.Listen
}
