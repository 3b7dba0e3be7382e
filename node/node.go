package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/unyo-ops/unyo/agents"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/unyo-ops/unyo/alerting/escalation"
	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/pipeline"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/backup"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/cluster"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/internal/redact"
	"github.com/unyo-ops/unyo/runbooks"
	"github.com/unyo-ops/unyo/web"
)

// Version is the unyo version, set at build time with -ldflags.
var Version = "dev"

// Options configure a node. FromConfig builds them from a configs.Config.
type Options struct {
	Name string
	// HTTPListen is host:port for the HTTP interface; port 0 picks one.
	HTTPListen string
	// TLS, if set, makes the listener HTTPS (HTTP/2 and HTTP/1.1); its
	// GetCertificate or Certificates give the node's certificate.
	TLS *tls.Config
	// PeerTLS is the client side of the node's HTTPS calls to the other
	// members (join, forwarding, rechecks), used when TLS is set; nil
	// trusts the system's roots.
	PeerTLS      *tls.Config
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	Bus          bus.Options
	// OpenStore opens the ledger store. It is retried with backoff until it
	// succeeds or the node stops.
	OpenStore func(ctx context.Context) (ledger.Store, error)
	// StoreName names the store in logs and /readyz ("sqlite", "postgres").
	StoreName string
	Pipeline  pipeline.Options
	// Spool configures the ingest spool in front of the bus (ingest.go).
	Spool SpoolOptions
	// Alerting configures escalation and notifiers (see alerting.go).
	Alerting AlertingOptions
	// Monitor configures checks and receivers (see monitor.go).
	Monitor MonitorOptions
	// Cluster configures Raft (see cluster.go); empty DataDir: no Raft.
	Cluster ClusterOptions
	// Config is the configuration the options were made from (FromConfig),
	// kept to tell which changes a reload can apply.
	Config  *configs.Config
	Jobnets JobnetOptions // see jobnet.go
	Auth    AuthOptions   // see auth.go
	Agents  AgentsOptions // see agents.go
	Reports ReportOptions // see report.go
	Backup  BackupOptions // see backup.go
	// Releases configures agent releases and rollouts (fleet.go).
	Releases ReleaseOptions
	Logger   *slog.Logger
	// Registry collects the node's metrics (default: a new registry with the
	// Go and process collectors).
	Registry *prometheus.Registry
}

func (o *Options) defaults() {
	if o.Alerting.EventSkew == (incident.Skew{}) {
		o.Alerting.EventSkew = incident.DefaultSkew
	}
	if o.Name == "" {
		o.Name = "unyo"
	}
	if o.HTTPListen == "" {
		o.HTTPListen = "127.0.0.1:9780"
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = 10 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if o.StoreName == "" {
		o.StoreName = "ledger"
	}
	if o.Bus.Name == "" {
		o.Bus.Name = o.Name
	}
	if o.Bus.Logger == nil {
		o.Bus.Logger = o.Logger
	}
	if o.Pipeline.Logger == nil {
		o.Pipeline.Logger = o.Logger
	}
	if o.Pipeline.Registerer == nil {
		o.Pipeline.Registerer = o.Registry
	}
}

func (o *Options) validate() error {
	if o.OpenStore == nil {
		return errors.New("node: no ledger store configured")
	}
	return nil
}

// Node is one running unyo node.
type Node struct {
	opts Options
	log  *slog.Logger
	bus  *bus.Bus
	// ingest is the spool every ingest path writes to (ingest.go).
	ingest *ingestPart
	store  *lazyStore
	// agents is the enrolled agents' service (agents.go); nil unless enabled.
	agents *agents.Service
	// reports makes the monthly reports (report.go); nil until asked.
	reports *reports
	backups *backup.Manager // backup.go
	// rbSet is the runbooks of rbFor, the configuration they were read
	// for (runbooks.go).
	rbMu  sync.Mutex
	rbSet *runbooks.Set
	rbFor *configs.Config
	pipe  *pipeline.Pipeline
	esc   *escalation.Escalator // nil unless alerting is enabled
	mon   *monitorPart          // nil unless the monitor is enabled
	raft  *cluster.Node         // nil without Raft
	auth  *auth.Service
	guard *auth.Guard
	clusterCounters
	reloadState
	sharedState
	// jobnets is nil until jobnets are configured (at start or by a
	// reload); jobnetMu guards it and bgctx, the context background work
	// started after Start runs under (jobnet.go).
	jobnets  *jobnetPart
	jobnetMu sync.Mutex
	// fleet serves agent releases, rollouts and re-homing (fleet.go); nil
	// without Raft.
	fleet *fleetPart
	bgctx context.Context

	web    *web.Server // the console's pages (web.go)
	hub    *web.Hub
	webSub *nats.Subscription

	ln   net.Listener
	mux  *auth.Mux // every route, each with its action
	http *http.Server
	peer http.RoundTripper // the member-to-member transport (peerClient)

	cancel   context.CancelFunc // stops background work (store opener)
	bg       sync.WaitGroup
	mu       sync.Mutex
	started  bool
	stopped  bool
	httpDone chan error
	// listening is closed once Start has its listeners up; openStore
	// waits for it to log "node started" after "node listening".
	listening chan struct{}
}

// New opens the bus and binds the HTTP port; on error it undoes what it did.
func New(ctx context.Context, opts Options) (_ *Node, err error) {
	opts.defaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	n := &Node{opts: opts, log: opts.Logger.With("node", opts.Name), store: &lazyStore{}}
	n.reassign = make(chan struct{}, 1)
	n.peer = peerTransport(opts)
	defer func() {
		if err != nil {
			n.teardown(context.Background())
		}
	}()
	start := time.Now()
	n.newAgents()
	n.bus, err = bus.Open(ctx, n.opts.Bus)
	if err != nil {
		return nil, err
	}
	n.registerCalloutMetrics()
	if err = n.newIngest(); err != nil {
		return nil, err
	}
	n.pipe, err = pipeline.New(ctx, n.bus, n.store, opts.Pipeline)
	if err != nil {
		return nil, err
	}
	if err = n.newAlerting(ctx); err != nil {
		return nil, err
	}
	if err = n.newMonitor(ctx); err != nil {
		return nil, err
	}
	n.ln, err = net.Listen("tcp", opts.HTTPListen)
	if err != nil {
		return nil, fmt.Errorf("node: http listen: %w", err)
	}
	if err = n.newCluster(); err != nil {
		return nil, err
	}
	if err = n.newBackups(); err != nil {
		return nil, err
	}
	if err = n.newJobnet(ctx); err != nil {
		return nil, err
	}
	if err = n.newAuth(); err != nil {
		return nil, err
	}
	if err = n.newFleet(); err != nil {
		return nil, err
	}
	n.registerInfo(start)
	n.mux = auth.NewMux(n.guard)
	n.registerCluster(n.mux)
	deps := console.Deps{
		Store:           n.store,
		Publisher:       n.ingest.in,
		PublishTimeout:  n.ingest.opts.AppendTimeout,
		Gatherer:        opts.Registry,
		AfterTransition: n.pipe.Nudge,
		Alerting:        n.alertingDeps(),
		Targets:         n.targetsView(),
		Jobnets:         n.jobnetsView(),
		Fleet:           n.fleetView(),
		Reports:         n.reportsView(),
		Backups:         backupsView{n},
		Runbooks:        n.runbookSet,
		Drills:          n,
		Passwords:       nodePasswords{n},
		Auth:            n.auth,
		Audit:           n.guard.Audit,
		Logger:          n.log,
		EventSkew:       opts.Alerting.EventSkew,
		Ready: []console.Check{
			{Name: "bus", Fn: n.busReady},
			{Name: "spool", Fn: n.spoolReady},
			{Name: "ledger", Fn: n.store.Ping},
			{Name: "pipeline", Fn: func(context.Context) error { return n.pipe.Ready() }},
			{Name: "backlog", Fn: n.backlogReady},
			{Name: "cluster", Fn: n.clusterReady},
		},
	}
	console.Register(n.mux, deps)
	if err = n.wireAgents(); err != nil {
		return nil, err
	}
	n.newWeb(deps)
	n.http = &http.Server{
		Handler:           n.web.Wrap(n.mux),
		ReadTimeout:       opts.ReadTimeout,
		ReadHeaderTimeout: opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	n.http.RegisterOnShutdown(n.hub.Close)
	if opts.TLS != nil {
		// ServeTLS adds h2 and http/1.1 to the clone's NextProtos.
		n.http.TLSConfig = opts.TLS.Clone()
	}
	return n, nil
}

func (n *Node) registerInfo(start time.Time) {
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "unyo_node_info", Help: "Always 1; labels name the node and version.",
	}, []string{"name", "version"})
	info.WithLabelValues(n.opts.Name, Version).Set(1)
	st := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "unyo_node_start_time_seconds", Help: "When the node started, in Unix seconds.",
	})
	st.Set(float64(start.UnixNano()) / 1e9)
	n.withheld = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "unyo_node_check_events_withheld_total",
		Help: "Check events not published because this node was outside the cluster quorum.",
	})
	n.opts.Registry.MustRegister(info, st, n.withheld)
	n.registerReload()
}

// Addr is the bound HTTP address (host:port).
func (n *Node) Addr() string { return n.ln.Addr().String() }

// URL is the node's HTTP base URL (https:// with TLS).
func (n *Node) URL() string { return n.scheme() + "://" + n.Addr() }

// scheme is the scheme of this node's API, and of the other members' (a
// cluster runs its API over TLS on every member or on none).
func (n *Node) scheme() string {
	if n.opts.TLS != nil {
		return "https"
	}
	return "http"
}

// peerTransport is the transport of the node's calls to other members:
// over TLS with PeerTLS when the node serves TLS.
func peerTransport(o Options) http.RoundTripper {
	if o.TLS == nil {
		return http.DefaultTransport
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if o.PeerTLS != nil {
		t.TLSClientConfig = o.PeerTLS.Clone()
	}
	t.ForceAttemptHTTP2 = true
	return t
}

// peerClient is an HTTP client for calls to other members.
func (n *Node) peerClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: n.peer}
}

// Routes lists every HTTP route of the node with the action it performs.
func (n *Node) Routes() []auth.Route { return n.mux.Routes() }

// Bus returns the node's event bus.
func (n *Node) Bus() *bus.Bus { return n.bus }

// Store returns the ledger store (it answers an error until opened).
func (n *Node) Store() ledger.Store { return n.store }

// Start opens the store in the background, starts the pipeline and serves
// HTTP. It is idempotent.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started || n.stopped {
		return nil
	}
	n.started = true
	n.listening = make(chan struct{})
	bgctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.cancel = cancel
	n.jobnetMu.Lock()
	n.bgctx = bgctx
	n.jobnetMu.Unlock()
	n.bg.Add(1)
	go func() { defer n.bg.Done(); n.openStore(bgctx) }()
	n.startIngest(bgctx)
	n.pipe.Start()
	n.startAlerting()
	if err := n.startMonitor(bgctx); err != nil {
		return err
	}
	if err := n.startCluster(bgctx); err != nil {
		return err
	}
	if err := n.startJobnet(bgctx); err != nil {
		return err
	}
	n.bg.Add(1)
	go func() { defer n.bg.Done(); n.backupAgeLoop(bgctx) }()
	if err := n.startFleet(bgctx); err != nil {
		return err
	}
	n.startAgents(bgctx)
	if err := n.startWeb(bgctx); err != nil {
		return err
	}
	n.httpDone = make(chan error, 1)
	go func() {
		var err error
		if n.http.TLSConfig != nil {
			err = n.http.ServeTLS(n.ln, "", "")
		} else {
			err = n.http.Serve(n.ln)
		}
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		n.httpDone <- err
	}()
	// "node started" follows once the ledger store is open (openStore).
	n.log.Info("node listening; opening the ledger store", "http", n.URL(), "store", n.opts.StoreName, "nats", redact.URL(n.bus.ClientURL()))
	close(n.listening)
	return nil
}

// WaitStore blocks until the ledger store has opened or ctx ends.
func (n *Node) WaitStore(ctx context.Context) error {
	for {
		if _, err := n.store.get(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			_, err := n.store.get()
			return fmt.Errorf("node: ledger store: %w (%w)", ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (n *Node) openStore(ctx context.Context) {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		s, err := n.opts.OpenStore(octx)
		cancel()
		if err == nil {
			n.bootstrapAdmin(ctx, s)
			n.store.set(s, nil)
			n.log.Info("ledger store open", "store", n.opts.StoreName)
			select {
			case <-n.listening:
				n.log.Info("node started", "http", n.URL(), "store", n.opts.StoreName, "nats", redact.URL(n.bus.ClientURL()))
			case <-ctx.Done():
			}
			return
		}
		n.store.set(nil, err)
		n.log.Error("ledger store unavailable; retrying", "store", n.opts.StoreName, "retry_in", backoff, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// Stop shuts the node down in reverse order of Start. It is idempotent.
func (n *Node) Stop(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return nil
	}
	n.stopped = true
	return n.teardown(ctx)
}

func (n *Node) teardown(ctx context.Context) error {
	var errs []error
	if n.http != nil {
		if err := n.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("node: http shutdown: %w", err))
		}
		if n.httpDone != nil {
			if err := <-n.httpDone; err != nil {
				errs = append(errs, fmt.Errorf("node: http: %w", err))
			}
		}
	} else if n.ln != nil {
		n.ln.Close()
	}
	if t, ok := n.peer.(*http.Transport); ok && n.peer != http.DefaultTransport {
		t.CloseIdleConnections()
	}
	n.stopWeb()
	n.stopJobnet()
	n.stopCluster()
	n.stopMonitor()
	n.stopAlerting()
	if n.pipe != nil {
		n.pipe.Stop()
	}
	n.stopIngest()
	if n.cancel != nil {
		n.cancel()
	}
	n.bg.Wait()
	if err := n.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("node: ledger close: %w", err))
	}
	if n.bus != nil {
		n.bus.Close()
	}
	n.log.Info("node stopped")
	return errors.Join(errs...)
}

// Run starts the node, waits until ctx ends, then stops it within 30 s.
func (n *Node) Run(ctx context.Context) error {
	if err := n.Start(ctx); err != nil {
		return err
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-n.httpDone:
		n.httpDone <- err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return errors.Join(err, n.Stop(sctx))
}
