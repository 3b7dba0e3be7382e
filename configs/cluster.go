package configs

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// ClusterConfig configures the node's Raft membership. `unyo serve` always
// runs Raft: a node that joins nobody is a one-member cluster.
type ClusterConfig struct {
	// Bind is host:port for the Raft transport (port 0 picks one).
	Bind string `yaml:"bind" json:"bind"`
	// Advertise is the host:port other nodes dial; default: the bound
	// address. Must not be 0.0.0.0.
	Advertise string `yaml:"advertise" json:"advertise"`
	// Join lists API URLs (http://host:port) of existing members; the node
	// asks them, in turn, to add it. Empty: bootstrap a new cluster.
	Join []string `yaml:"join" json:"join"`
	// Bootstrap forms a new one-member cluster when the data directory has
	// no Raft state yet; default true when join is empty.
	Bootstrap *bool `yaml:"bootstrap" json:"bootstrap"`
	// JoinTimeout bounds how long a starting node keeps trying to join.
	JoinTimeout time.Duration `yaml:"join_timeout" json:"join_timeout"`
	// JoinToken is the join token (`unyo cluster token create` on a
	// member) this node sends when it asks to join.
	JoinToken Secret `yaml:"join_token" json:"join_token"`
	// BootstrapJoinToken, on the node that bootstraps a new cluster, is
	// recorded as a join token the first time that node leads, valid for
	// BootstrapJoinTokenTTL: the other members of a new cluster join with
	// it before any admin exists (`unyo cluster token generate` makes one).
	BootstrapJoinToken    Secret        `yaml:"bootstrap_join_token" json:"bootstrap_join_token"`
	BootstrapJoinTokenTTL time.Duration `yaml:"bootstrap_join_token_ttl" json:"bootstrap_join_token_ttl"`
	// TLS makes the Raft transport mutual TLS (all three files or none);
	// node certificates need IP SANs for the addresses peers dial.
	TLS NATSClusterTLSConfig `yaml:"tls" json:"tls"`
	// Raft tunes Raft's failure detection (how fast a dead leader is
	// replaced); the defaults suit nodes on one LAN.
	Raft RaftTimingConfig `yaml:"raft" json:"raft"`
}

// RaftTimingConfig is Raft's failure detection: a follower that has not
// heard from the leader for a random HeartbeatTimeout–2×HeartbeatTimeout
// starts an election; a split vote is retried after a random
// ElectionTimeout–2×ElectionTimeout; a leader that has not reached a
// majority for LeaderLeaseTimeout steps down. Shorter values replace a
// dead leader sooner, and depose a live one whose heartbeats a busy
// machine delays (GC, a slow disk) more often.
type RaftTimingConfig struct {
	HeartbeatTimeout   time.Duration `yaml:"heartbeat_timeout" json:"heartbeat_timeout"`
	ElectionTimeout    time.Duration `yaml:"election_timeout" json:"election_timeout"`
	LeaderLeaseTimeout time.Duration `yaml:"leader_lease_timeout" json:"leader_lease_timeout"`
}

// Raft timing defaults (cluster.DefaultHeartbeatTimeout and the others;
// configs does not import cluster) and bounds.
const (
	defaultRaftHeartbeat = 300 * time.Millisecond
	defaultRaftElection  = 300 * time.Millisecond
	defaultRaftLease     = 300 * time.Millisecond
	minRaftTimeout       = 100 * time.Millisecond
	maxRaftTimeout       = 10 * time.Second
)

// Defaults, also quoted in docs/configuration.md.
const defaultRaftBind = "127.0.0.1:9781"

func (s *ClusterConfig) defaults() {
	s.Bind = defaultRaftBind
	s.JoinTimeout = 5 * time.Minute
	s.BootstrapJoinTokenTTL = time.Hour
	s.Raft = RaftTimingConfig{HeartbeatTimeout: defaultRaftHeartbeat, ElectionTimeout: defaultRaftElection,
		LeaderLeaseTimeout: defaultRaftLease}
}

// joinTokenPrefix is cluster.JoinTokenPrefix (configs does not import
// cluster).
const joinTokenPrefix = "unyoj_"

func (s *ClusterConfig) resolve(_ *Config, dir string) {
	s.TLS.CertFile = resolvePath(dir, s.TLS.CertFile)
	s.TLS.KeyFile = resolvePath(dir, s.TLS.KeyFile)
	s.TLS.CAFile = resolvePath(dir, s.TLS.CAFile)
	if len(s.Join) == 0 {
		s.Join = nil // `join: []` and no key are the same
	}
	if s.Bootstrap == nil {
		b := len(s.Join) == 0
		s.Bootstrap = &b
	}
}

func (s *ClusterConfig) validate(c *Config, v validator) {
	if msg := checkHostPort(s.Bind); msg != "" {
		v.errf("bind", "%s", msg)
	}
	if s.Advertise != "" {
		if msg := checkHostPort(s.Advertise); msg != "" {
			v.errf("advertise", "%s", msg)
		}
	}
	if s.Bind == c.HTTP.Listen && !strings.HasSuffix(s.Bind, ":0") {
		v.errf("bind", "%s: same address as http.listen", quote(s.Bind))
	}
	for i, j := range s.Join {
		u, err := url.Parse(j)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.errf(fmt.Sprintf("join[%d]", i), "%s: want a member's API URL, http://host:port", quote(j))
		}
	}
	positive(v, "join_timeout", s.JoinTimeout)
	for _, t := range []struct {
		key string
		val Secret
	}{{"join_token", s.JoinToken}, {"bootstrap_join_token", s.BootstrapJoinToken}} {
		if t.val != "" && (!strings.HasPrefix(string(t.val), joinTokenPrefix) || len(t.val) < len(joinTokenPrefix)+22) {
			v.errf(t.key, "not a join token: want %s and at least 22 more characters", joinTokenPrefix)
		}
	}
	positive(v, "bootstrap_join_token_ttl", s.BootstrapJoinTokenTTL)
	if s.BootstrapJoinTokenTTL > 30*24*time.Hour {
		v.errf("bootstrap_join_token_ttl", "%s: at most 720h", fmtDuration(s.BootstrapJoinTokenTTL))
	}
	if s.BootstrapJoinToken != "" && s.Bootstrap != nil && !*s.Bootstrap {
		v.errf("bootstrap_join_token", "only the node that bootstraps the cluster (cluster.bootstrap, or no cluster.join) records one")
	}
	s.Raft.validate(v.sub("raft"))
	if s.TLS.Enabled() {
		tv := v.sub("tls")
		for _, f := range []struct{ key, path string }{
			{"cert_file", s.TLS.CertFile}, {"key_file", s.TLS.KeyFile}, {"ca_file", s.TLS.CAFile},
		} {
			if f.path == "" {
				tv.errAt(f.key, tv.path, "required with the other cluster.tls files (cert_file, key_file, ca_file)")
			} else if msg := checkReadableFile(f.path); msg != "" {
				tv.errf(f.key, "%s", msg)
			}
		}
	}
}

func (r *RaftTimingConfig) validate(v validator) {
	for _, t := range []struct {
		key string
		val time.Duration
	}{{"heartbeat_timeout", r.HeartbeatTimeout}, {"election_timeout", r.ElectionTimeout}, {"leader_lease_timeout", r.LeaderLeaseTimeout}} {
		if t.val < minRaftTimeout || t.val > maxRaftTimeout {
			v.errf(t.key, "%s: want %s to %s", fmtDuration(t.val), fmtDuration(minRaftTimeout), fmtDuration(maxRaftTimeout))
		}
	}
	if r.ElectionTimeout < r.HeartbeatTimeout {
		v.errf("election_timeout", "%s: want at least heartbeat_timeout (%s)", fmtDuration(r.ElectionTimeout), fmtDuration(r.HeartbeatTimeout))
	}
	if r.LeaderLeaseTimeout > r.HeartbeatTimeout {
		v.errf("leader_lease_timeout", "%s: want at most heartbeat_timeout (%s)", fmtDuration(r.LeaderLeaseTimeout), fmtDuration(r.HeartbeatTimeout))
	}
}
