// Package cluster is unyo's Raft core: a hashicorp/raft node with
// raft-wal as its log and stable store and file snapshots in the node's
// data directory, the replicated state machine (FSM), membership with site
// labels, and the assignment of monitoring targets to live members.
//
// It is a library; the node (package node) wires it in: it builds a Node
// with New, calls Start and Stop, mounts the HTTP handlers in httpapi.go
// and supplies a Forwarder so that requests made on a follower reach the
// leader (hashicorp/raft does not forward). A single node started with
// Bootstrap is a one-member cluster; others start empty and are added
// with Join on any member.
//
// # Wiring it into the node
//
//	n, err := cluster.New(cluster.Options{
//		NodeID: id, Site: site, BindAddr: ":7000", AdvertiseAddr: "10.0.0.1:7000",
//		APIAddr: "10.0.0.1:8080", DataDir: filepath.Join(dataDir, "raft"),
//		Bootstrap: firstNode, Logger: log, Registerer: reg,
//		Forwarder: &cluster.HTTPForwarder{Client: apiClient, Scheme: "https"},
//	})
//	n.Start(); defer n.Stop()
//
//	// m is an auth.Mux whose Guard asks n.Authenticator() (credentials.go)
//	m.Handle("POST /v1/cluster/forward", auth.ActionClusterInternal, n.ForwardHandler())
//	m.Handle("POST /v1/cluster/join", auth.ActionClusterJoin, n.JoinHandler())
//	m.Handle("POST /v1/cluster/leave", auth.ActionClusterLeave, n.LeaveHandler())
//	m.Handle("POST /v1/cluster/transfer-leadership", auth.ActionClusterTransfer, n.TransferHandler())
//	m.Handle("GET /v1/cluster/status", auth.ActionClusterRead, n.StatusHandler())
//	m.Handle("POST /v1/cluster/tokens", auth.ActionClusterToken, n.TokenHandler(actor))
//
// # Trust
//
// Nobody acts on a member without a credential (credentials.go): a join
// token (unyoj_…, expiring, stored as a hash) to join, a member credential
// (unyom_…, minted by the leader at the join, stored as a hash) for every
// member→member call. The forward route takes only what a follower
// legitimately forwards (forward.go). Without cluster TLS the Raft
// transport starts every connection with a handshake proving both ends
// hold the cluster secret key (handshake.go); a joiner fetches the key
// (JoinRequest.KeyOnly) before it asks to be added.
//
// Then: follow WatchConfig to reload configuration applied anywhere; call
// SetTargets with the configured targets after a reload (on any node;
// it is forwarded); follow WatchAssignments to start and stop checks;
// follow LeaderCh (or IsLeader) to run the jobnet scheduler on the leader
// only; report InQuorum in /readyz. A new node starts with Bootstrap false
// and an empty DataDir and posts JoinRequest{its id, Raft address, site,
// API address} to any member's join endpoint.
//
// # Replicated state
//
// The FSM holds what must agree cluster-wide and survive a leader change:
// the active configuration (version, hash and bytes), the members (id,
// Raft address, site, API address, join time) and the target assignment
// (target → site and owning member). Commands are a versioned JSON
// envelope {v, type, at, payload} dispatched through a registry map (see
// FSM for the rules and how to add types). High-rate data — samples,
// probe results, events — never goes through Raft.
//
// # Timeouts
//
// The defaults are for nodes on one LAN or campus (round trips under
// 10 ms) and aim at a new leader within 1.5 s of losing one, so that an
// agent job due meanwhile starts less than 2 s late, and the dead node's
// targets moved within 5 s. A node sets them with cluster.raft (every
// node of a cluster alike); farther apart nodes need longer ones.
//
//	HeartbeatTimeout   300ms  A follower that has not heard from the leader
//	                          for a random 300–600ms starts a pre-vote.
//	                          Raft's default is 1s, tuned for WANs; 300ms
//	                          is still 30× a LAN round trip and 6 missed
//	                          heartbeats (sent every HeartbeatTimeout/10),
//	                          so a busy but healthy leader is not deposed.
//	                          The pre-vote of the first follower to time
//	                          out is refused by the other, which still
//	                          hears the old leader until its own timeout:
//	                          an election takes about the later of the two
//	                          followers' timeouts.
//	ElectionTimeout    300ms  A candidate's random 300–600ms wait before
//	                          retrying a refused pre-vote or a split vote.
//	                          Raft wants it at least HeartbeatTimeout.
//	LeaderLeaseTimeout 300ms  A leader that cannot reach a majority for this
//	                          long steps down, so a leader cut off in a
//	                          minority stops accepting writes within ~300ms.
//	                          Must not exceed HeartbeatTimeout.
//	CommitTimeout       50ms  Raft's default.
//	TransportTimeout      2s  I/O deadline of one Raft RPC on TCP. Also how
//	                          long a heartbeat to a black-holed peer can
//	                          hang before it counts as failed.
//	LivenessTimeout       2s  The leader treats a member whose heartbeats
//	                          fail and that it has not heard from for this
//	                          long as dead and moves its targets away.
//	                          Several heartbeat timeouts' worth: long
//	                          enough that one lost packet or a GC pause
//	                          does not move targets.
//	ReconcileInterval  250ms  How often the leader re-plans the assignment;
//	                          it also re-plans at once on every membership,
//	                          heartbeat or leadership change.
//	StableAfter          10s  A member that comes back must stay up this
//	                          long before targets move back to it ...
//	MaxRebalance         16   ... and then at most this many per round, so
//	                          a flapping member causes no thrash.
//
// Expected failover after the leader dies: the followers notice within
// 0.3–0.6s, pre-vote and vote take one round trip plus, on a refused
// pre-vote or a split vote, another 0.3–0.6s: typically ~0.6s, bounded
// well under 2 s (the defaults were 500ms, 500ms and 250ms before issue
// 16's job-dispatch goal: new leader 0.8–2.0 s after a kill -9 through the
// real binary). The new leader
// starts with every follower counted live as of its election and declares
// the old leader dead LivenessTimeout later; its targets move in the next
// reconcile round: typically ~3 s after the kill, under 5 s. When a
// follower dies, its targets move LivenessTimeout (+ one round) after its
// last heartbeat. Measured with TestMeasure (3 nodes, loopback TCP, 20
// leader kills, UNYO_CLUSTER_MEASURE=1, load average ~16): new leader
// median 0.71 s, max 1.18 s; targets moved median 2.77 s, max 3.21 s
// (with the earlier 500ms/500ms/250ms: median 1.0 s, max 1.4 s; targets
// moved median 3.2 s, max 3.5 s, one run in ~70 5.5 s).
// A peer that vanishes without a TCP reset (power loss, cable) is seen
// when its heartbeat times out after TransportTimeout, so about as fast.
//
// # Liveness
//
// Only the leader knows which members are live. hashicorp/raft reports a
// failing follower through FailedHeartbeatObservation (carrying the last
// successful contact) and a recovered one through
// ResumedHeartbeatObservation; the leader counts a member live unless its
// heartbeats are failing and the last contact is older than
// LivenessTimeout. Status on the leader shows it per member.
//
// # Transport
//
// Raft runs over TCP (raft's NetworkTransport on this package's stream
// layer, which closes every connection on Stop so a stopped node looks
// like a dead one), optionally with mutual TLS (Options.TLS). Tests can
// pass any raft.Transport (Options.Transport); package clustertest uses
// raft.InmemTransport to cut links.
//
// # Metrics
//
// Registered on Options.Registerer:
//
//	unyo_cluster_is_leader                 gauge     1 on the leader
//	unyo_cluster_applies_total             counter   {type, result=ok|rejected|error} proposals from this node
//	unyo_cluster_apply_duration_seconds    histogram {type} propose → applied
//	unyo_cluster_members                   gauge     members in the replicated state
//	unyo_cluster_reassignments_total       counter   targets placed or moved by this node as leader
//	unyo_cluster_assigned_targets          gauge     targets assigned to this node
package cluster
