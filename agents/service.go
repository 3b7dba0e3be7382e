package agents

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/jobnet"
	"github.com/unyo-ops/unyo/monitor/filter"
)

// Source is the events' source.
const Source = "agent"

// Options configure the Service.
type Options struct {
	Store Store
	// Publish takes the events (inventory changes, heartbeat faults, log
	// lines the filters keep): the node's spool.
	Publish func(ctx context.Context, ev incident.Event) error
	// Filters are the message filters log lines go through (as syslog's).
	Filters func() *filter.Engine
	// Signer signs operation requests; Trust is the PEM of the keys agents trust.
	Signer   *jobnet.Signer
	TrustPEM []byte
	// Node is this node's name (recorded with each uninstall attempt).
	Node string
	// Leader reports whether this node leads (writes heartbeats, raises faults).
	Leader func() bool
	// Home is the URL agents are given as their management server; NATS
	// the URL they connect to.
	Home, NATS string
	// Heartbeat is the agents' interval (default 10s); DownAfter missed
	// intervals raise a fault (default 3).
	Heartbeat time.Duration
	DownAfter int
	// Inventory is how often agents send their inventory (default 1h).
	Inventory time.Duration
	// Commands are the remote commands by name, and who may run them.
	Commands map[string]Command
	// ShellRoles may run any argv (free-form); default none.
	ShellRoles []auth.Role
	// Audit appends an audit entry (the node's guard).
	Audit  func(ctx context.Context, id auth.Identity, action, target, result, detail string)
	Now    func() time.Time
	Logger *slog.Logger
	// Registerer takes unyo_agents_* metrics.
	Registerer prometheus.Registerer
}

// Command is one allowed remote command.
type Command struct {
	Argv    []string      `yaml:"argv" json:"argv"`
	Roles   []auth.Role   `yaml:"roles" json:"roles"`
	Timeout time.Duration `yaml:"timeout" json:"timeout,omitempty"`
}

// Service is the server side of agents: enrolment, the NATS directory,
// heartbeats and liveness, inventories, log lines and remote operations.
type Service struct {
	o   Options
	log *slog.Logger

	mu      sync.RWMutex
	byNKey  map[string]Agent     // the directory
	seen    map[string]Seen      // heartbeats since the last flush
	last    map[string]time.Time // last heartbeat seen by this node
	down    map[string]bool      // agents reported down
	started time.Time
	// refreshMu serialises Refresh; enrolling holds the enrolments made
	// while a Refresh reads the store, which its stale list would drop.
	refreshMu sync.Mutex
	enrolling map[string]Agent

	beats, invs, lines, opsTotal *prometheus.CounterVec
	connected                    prometheus.GaugeFunc
}

// New makes the service; Run starts it.
func New(o Options) *Service {
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.DownAfter <= 0 {
		o.DownAfter = 3
	}
	if o.Inventory <= 0 {
		o.Inventory = time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Leader == nil {
		o.Leader = func() bool { return true }
	}
	s := &Service{o: o, log: o.Logger, byNKey: map[string]Agent{}, seen: map[string]Seen{}, last: map[string]time.Time{},
		down: map[string]bool{}}
	s.beats = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unyo_agents_heartbeats_total",
		Help: "Agent heartbeats received, by outcome (ok, unknown, malformed)."}, []string{"outcome"})
	s.invs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unyo_agents_inventories_total",
		Help: "Agent inventories received, by outcome (changed, same, refused)."}, []string{"outcome"})
	s.lines = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unyo_agents_log_lines_total",
		Help: "Log lines agents sent, by filter action (incident, record, ignore)."}, []string{"action"})
	s.opsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "unyo_agents_operations_total",
		Help: "Remote operations, by operation and result (ok, refused, error, denied)."}, []string{"op", "result"})
	s.connected = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "unyo_agents_live",
		Help: "Agents that sent a heartbeat to this node within the down-after period."}, func() float64 { return float64(s.liveCount()) })
	if o.Registerer != nil {
		o.Registerer.MustRegister(s.beats, s.invs, s.lines, s.opsTotal, s.connected)
	}
	return s
}

// AgentByNKey implements bus.AgentDirectory from memory.
func (s *Service) AgentByNKey(nkey string) (string, []string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.byNKey[nkey]
	if !ok || a.Disabled {
		return "", nil, false
	}
	return a.Name, a.Tags, true
}

var _ bus.AgentDirectory = (*Service)(nil)

// Refresh reloads the directory from the store.
func (s *Service) Refresh(ctx context.Context) error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	s.mu.Lock()
	s.enrolling = map[string]Agent{}
	s.mu.Unlock()
	list, err := s.o.Store.ListAgents(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	during := s.enrolling
	s.enrolling = nil
	if err != nil {
		return err
	}
	m := make(map[string]Agent, len(list))
	for _, a := range list {
		if a.NKey != "" {
			m[a.NKey] = a
		}
	}
	// An agent enrolled while the list was read keeps its new key (and
	// only it) rather than being refused until the next refresh.
	for k, a := range during {
		for k2, b := range m {
			if b.Name == a.Name {
				delete(m, k2)
			}
		}
		m[k] = a
	}
	s.byNKey = m
	return nil
}

func (s *Service) liveCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, cut := 0, s.o.Now().Add(-s.downAfter())
	for _, t := range s.last {
		if t.After(cut) {
			n++
		}
	}
	return n
}

func (s *Service) downAfter() time.Duration { return time.Duration(s.o.DownAfter) * s.o.Heartbeat }

// Errors of enrolment.
var (
	ErrBadRequest = errors.New("agents: bad request")
)

// Enroll registers the agent of req with the token the identity
// presented (id.Name is the token's group, id.TokenID its id).
func (s *Service) Enroll(ctx context.Context, id auth.Identity, req EnrollRequest) (EnrollResponse, error) {
	bad := func(f string, a ...any) (EnrollResponse, error) {
		return EnrollResponse{}, fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(f, a...))
	}
	switch {
	case id.Kind != auth.KindEnroll:
		return bad("an enrolment token is required")
	case !NameRE.MatchString(req.Name):
		return bad("name %q: want 1 to 63 of A-Z, a-z, 0-9, '-', '_' (starting with a letter or digit)", req.Name)
	case req.Group != "" && req.Group != id.Name:
		return bad("group %q: the token is for group %q", req.Group, id.Name)
	case !nkeys.IsValidPublicUserKey(req.NKey):
		return bad("nkey: not a public user NKey (U...)")
	case req.Kind == "":
		req.Kind = KindResident
	}
	if !req.Kind.Valid() {
		return bad("kind %q: want resident, on-demand or standalone", req.Kind)
	}
	if k, err := hex.DecodeString(req.SignKey); err != nil || len(k) != ed25519.PublicKeySize {
		return bad("sign_key: want the hex of an ed25519 public key")
	}
	if len(req.HostID) > 256 || len(req.Hostname) > 256 || len(req.Version) > 64 || len(req.Tags) > MaxTags {
		return bad("host_id, hostname, version or tags too long")
	}
	for _, t := range req.Tags {
		if !NameRE.MatchString(t) {
			return bad("tag %q: want 1 to 63 of A-Z, a-z, 0-9, '-', '_'", t)
		}
	}
	now := s.o.Now().UTC()
	a := Agent{Name: req.Name, HostID: req.HostID, Group: id.Name, Version: req.Version, Kind: req.Kind, Home: s.o.Home,
		NKey: req.NKey, SignKey: req.SignKey, Tags: normTags(req.Tags), Hostname: req.Hostname, Enrolled: now,
		EnrolledBy: id.TokenID, Slots: max(req.Slots, 0)}
	if old, err := s.o.Store.GetAgent(ctx, req.Name); err == nil {
		// Re-enrolment of the same host (new keys) is allowed; taking
		// another host's name is not.
		if old.HostID != "" && old.HostID != req.HostID {
			return EnrollResponse{}, fmt.Errorf("agent %s: %w: enrolled from another host (host id differs); choose another name or delete it first", req.Name, ErrExists)
		}
		a.LastSeen = old.LastSeen
		if len(req.Tags) == 0 {
			// A re-enrolment without --tag keeps the tags an admin gave.
			a.Tags = normTags(old.Tags)
		}
	} else if !errors.Is(err, ErrNotFound) {
		return EnrollResponse{}, err
	}
	if err := s.o.Store.PutAgent(ctx, a); err != nil {
		return EnrollResponse{}, err
	}
	s.mu.Lock()
	for k, v := range s.byNKey {
		if v.Name == a.Name {
			delete(s.byNKey, k)
		}
	}
	s.byNKey[a.NKey] = a
	if s.enrolling != nil {
		s.enrolling[a.NKey] = a
	}
	s.mu.Unlock()
	s.log.Info("agent enrolled", "agent", a.Name, "group", a.Group, "kind", a.Kind, "host_id", a.HostID, "token", id.TokenID)
	return EnrollResponse{Name: a.Name, Group: a.Group, NATS: s.o.NATS, Home: s.o.Home, TrustPEM: string(s.o.TrustPEM),
		Heartbeat: s.o.Heartbeat, Inventory: s.o.Inventory, Tags: normTags(a.Tags)}, nil
}

// Runtime is what the service needs that exists only once the node is
// built (SetRuntime before Run).
type Runtime struct {
	Publish    func(ctx context.Context, ev incident.Event) error
	Filters    func() *filter.Engine
	Signer     *jobnet.Signer
	TrustPEM   []byte
	Home, NATS string
	Audit      func(ctx context.Context, id auth.Identity, action, target, result, detail string)
}

// SetRuntime sets r's fields in the options.
func (s *Service) SetRuntime(r Runtime) {
	s.o.Publish, s.o.Filters, s.o.Signer, s.o.TrustPEM = r.Publish, r.Filters, r.Signer, r.TrustPEM
	s.o.Home, s.o.NATS, s.o.Audit = r.Home, r.NATS, r.Audit
}
