package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// Default timeouts, tuned for a LAN (round trips well under 10 ms). See
// doc.go for why each value is what it is.
const (
	DefaultHeartbeatTimeout   = 300 * time.Millisecond
	DefaultElectionTimeout    = 300 * time.Millisecond
	DefaultLeaderLeaseTimeout = 300 * time.Millisecond
	DefaultCommitTimeout      = 50 * time.Millisecond
	DefaultTransportTimeout   = 2 * time.Second
	DefaultLivenessTimeout    = 2 * time.Second
	DefaultReconcileInterval  = 250 * time.Millisecond
	DefaultStableAfter        = 10 * time.Second
	DefaultMaxRebalance       = 16
	DefaultApplyTimeout       = 5 * time.Second
	// DefaultNoLeaderWait is above the time an election takes (0.4–1.4 s
	// measured after a leader's kill -9).
	DefaultNoLeaderWait      = 2 * time.Second
	DefaultSnapshotInterval  = 120 * time.Second
	DefaultSnapshotThreshold = 8192
	DefaultTrailingLogs      = 10240
	DefaultSnapshotRetain    = 2
)

// Options configure a Node. The zero value of every optional field means
// "use the default".
type Options struct {
	// NodeID names this node for all time (it is the Raft server id).
	NodeID string
	// Site is this node's site label; targets prefer a node at their site.
	Site string
	// BindAddr is host:port for the Raft TCP transport; port 0 picks a free
	// port (see Node.Addr).
	BindAddr string
	// AdvertiseAddr is the host:port other nodes dial; default: the bound
	// address. Must not be an unspecified address (0.0.0.0, ::).
	AdvertiseAddr string
	// APIAddr is this node's HTTP API address, recorded in the membership
	// so followers can forward requests to the leader. Optional.
	APIAddr string
	// DataDir holds the Raft log (raft-wal, in DataDir/wal) and snapshots
	// (DataDir/snapshots). Created if missing.
	DataDir string
	// Bootstrap makes this node a one-member cluster if DataDir holds no
	// Raft state yet. Ignored when state exists.
	Bootstrap bool
	// Joining: the node asks members to add it (the node's cluster.join).
	// A node restored from a backup of a multi-member cluster must (see
	// RestoreMarker).
	Joining bool

	// Logger gets node=NodeID and component=cluster (component=raft,
	// raft-transport, … for Raft's own lines): pass one without them.
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are not registered

	// Forwarder sends requests to the leader when this node is a follower.
	// Nil: Apply, Join, Leave and TransferLeadership on a follower return a
	// *NotLeaderError for the caller to forward.
	Forwarder Forwarder

	// Raft timing; see doc.go.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// TransportTimeout bounds each Raft RPC's I/O (TCP transport only).
	TransportTimeout time.Duration

	// Target assignment.
	// LivenessTimeout: a member the leader has not heard from for this
	// long is not live and loses its targets.
	LivenessTimeout time.Duration
	// ReconcileInterval: how often the leader re-plans the assignment (it
	// also re-plans at once on membership and leadership changes).
	ReconcileInterval time.Duration
	// StableAfter: a member must be live this long before targets are moved
	// back to it from another live member.
	StableAfter time.Duration
	// MaxRebalance: at most this many targets move away from a live owner
	// per reconcile round. Negative: none.
	MaxRebalance int

	// ApplyTimeout bounds a proposal when the caller's context has no
	// deadline.
	ApplyTimeout time.Duration
	// NoLeaderWait: a request that needs the leader waits this long for
	// one to be elected; a node that has had no leader for longer (cut
	// off from the majority) refuses it at once with ErrNoQuorum.
	NoLeaderWait time.Duration

	// Snapshots and log compaction.
	SnapshotInterval  time.Duration
	SnapshotThreshold uint64
	TrailingLogs      uint64
	SnapshotRetain    int

	// WALSegmentSize is the raft-wal segment size in bytes; default 64 MiB
	// (raft-wal's own default). Tests use less.
	WALSegmentSize int

	// TransferLeadershipOnStop: Stop on the leader first hands leadership
	// to another voter, so a planned stop costs no election timeout.
	TransferLeadershipOnStop bool

	// TLS, if set, secures the Raft TCP transport in both directions. It
	// is used as the server config for accepted connections and the client
	// config for dialled ones, so for mutual TLS give it Certificates,
	// RootCAs, ClientCAs and ClientAuth: tls.RequireAndVerifyClientCert.
	// Peers are dialled by IP:port, so node certificates need IP SANs (or
	// set ServerName / VerifyConnection to check them another way).
	TLS *tls.Config

	// ValidateConfig, if set, checks a configuration forwarded by a
	// follower before the leader proposes it (the node parses it).
	ValidateConfig func(data []byte) error

	// BootstrapJoinToken, if set on the bootstrapping node, is recorded as
	// a join token (id "bootstrap") the first time this node leads, valid
	// for BootstrapJoinTokenTTL (default 1h): the other members of a new
	// cluster can join with it before any admin exists.
	BootstrapJoinToken    string
	BootstrapJoinTokenTTL time.Duration

	// Transport replaces the TCP transport (tests use raft.InmemTransport).
	// BindAddr and AdvertiseAddr are then ignored. The Node closes it on
	// Stop.
	Transport raft.Transport
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.HeartbeatTimeout, DefaultHeartbeatTimeout)
	def(&o.ElectionTimeout, DefaultElectionTimeout)
	def(&o.LeaderLeaseTimeout, DefaultLeaderLeaseTimeout)
	def(&o.CommitTimeout, DefaultCommitTimeout)
	def(&o.TransportTimeout, DefaultTransportTimeout)
	def(&o.LivenessTimeout, DefaultLivenessTimeout)
	def(&o.ReconcileInterval, DefaultReconcileInterval)
	def(&o.StableAfter, DefaultStableAfter)
	def(&o.ApplyTimeout, DefaultApplyTimeout)
	def(&o.NoLeaderWait, DefaultNoLeaderWait)
	def(&o.SnapshotInterval, DefaultSnapshotInterval)
	def(&o.BootstrapJoinTokenTTL, time.Hour)
	if o.MaxRebalance == 0 {
		o.MaxRebalance = DefaultMaxRebalance
	}
	if o.SnapshotThreshold == 0 {
		o.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if o.TrailingLogs == 0 {
		o.TrailingLogs = DefaultTrailingLogs
	}
	if o.SnapshotRetain == 0 {
		o.SnapshotRetain = DefaultSnapshotRetain
	}
}

// validate reports every problem at once, each naming its field.
func (o *Options) validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{field}, args...)...))
	}
	if o.NodeID == "" {
		bad("NodeID", "required")
	}
	if o.DataDir == "" {
		bad("DataDir", "required")
	}
	if o.Transport == nil {
		if _, _, err := net.SplitHostPort(o.BindAddr); err != nil {
			bad("BindAddr", "%q is not host:port: %v", o.BindAddr, err)
		}
		if o.AdvertiseAddr != "" {
			host, _, err := net.SplitHostPort(o.AdvertiseAddr)
			if err != nil {
				bad("AdvertiseAddr", "%q is not host:port: %v", o.AdvertiseAddr, err)
			} else if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
				bad("AdvertiseAddr", "%q is an unspecified address; other nodes cannot dial it", o.AdvertiseAddr)
			}
		}
	}
	if o.TLS != nil && o.Transport == nil {
		if len(o.TLS.Certificates) == 0 && o.TLS.GetCertificate == nil || o.TLS.RootCAs == nil && !o.TLS.InsecureSkipVerify {
			bad("TLS", "%v", errTLSConfig)
		}
	}
	if t := o.BootstrapJoinToken; t != "" && (!strings.HasPrefix(t, JoinTokenPrefix) || len(t) < len(JoinTokenPrefix)+22) {
		bad("BootstrapJoinToken", "want %s and at least 22 more characters (unyo cluster token generate)", JoinTokenPrefix)
	}
	if o.BootstrapJoinTokenTTL > MaxJoinTokenTTL {
		bad("BootstrapJoinTokenTTL", "at most %s", MaxJoinTokenTTL)
	}
	pos := func(field string, d time.Duration) {
		if d < 0 {
			bad(field, "must not be negative, got %v", d)
		}
	}
	pos("HeartbeatTimeout", o.HeartbeatTimeout)
	pos("ElectionTimeout", o.ElectionTimeout)
	pos("LeaderLeaseTimeout", o.LeaderLeaseTimeout)
	pos("CommitTimeout", o.CommitTimeout)
	pos("TransportTimeout", o.TransportTimeout)
	pos("LivenessTimeout", o.LivenessTimeout)
	pos("ReconcileInterval", o.ReconcileInterval)
	pos("StableAfter", o.StableAfter)
	pos("ApplyTimeout", o.ApplyTimeout)
	pos("NoLeaderWait", o.NoLeaderWait)
	if o.LeaderLeaseTimeout > o.HeartbeatTimeout {
		bad("LeaderLeaseTimeout", "%v must not exceed HeartbeatTimeout %v", o.LeaderLeaseTimeout, o.HeartbeatTimeout)
	}
	if o.LivenessTimeout > 0 && o.LivenessTimeout < o.HeartbeatTimeout/2 {
		bad("LivenessTimeout", "%v is shorter than half the HeartbeatTimeout %v; members would flap", o.LivenessTimeout, o.HeartbeatTimeout)
	}
	if o.WALSegmentSize < 0 {
		bad("WALSegmentSize", "must not be negative")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, errors.Join(errs...))
	}
	return nil
}

func (o *Options) raftConfig(logger *slog.Logger) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(o.NodeID)
	c.HeartbeatTimeout = o.HeartbeatTimeout
	c.ElectionTimeout = o.ElectionTimeout
	c.LeaderLeaseTimeout = o.LeaderLeaseTimeout
	c.CommitTimeout = o.CommitTimeout
	c.SnapshotInterval = o.SnapshotInterval
	c.SnapshotThreshold = o.SnapshotThreshold
	c.TrailingLogs = o.TrailingLogs
	c.Logger = newHCLogger(logger.With("component", "raft"), "raft")
	c.LogLevel = "" // the slog handler decides
	return c
}
