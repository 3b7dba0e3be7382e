// Package rollout updates and re-homes the agents of managed servers.
//
// Releases: a version of the agent binary for a platform, signed with
// minisign (ed25519; the trusted public key is releases.public_key_file
// on the nodes and --release-key on the agents), stored in the bus's
// object store UNYO_RELEASES under its SHA-256 so that every node can
// serve it, with a mode: mandatory (an agent not on it runs no job),
// optional (agents run and are told), refuse (no agent starts a job) and
// the administrator's message.
//
// Rollouts: the state (package fleetstate) is in Raft, so the update
// slots — at most N agents between downloading and watching,
// cluster-wide — survive a leader change: the leader grants them, in the
// random order drawn at start, canaries first and then waves, and
// State.Apply refuses a grant over the limit whoever proposes it. Each
// agent moves queued → downloading → verifying → swapped → watching →
// done, or rolled-back (its new binary did not start, or did not
// heartbeat within the watch period) or failed; the first failure halts
// the rollout unless it was started with ContinueOnFailure.
//
// Agents (Updater) report on unyo.agent.report.NAME and get back a
// directive signed by a node's task-signing key: the release mode, an
// update to make, a trial to commit, a move. An update is downloaded
// differentially (unyo.agent.release.NAME: the release's content-defined
// chunk manifest, package cdc, then only the chunks the running binary
// lacks) or, with UpdateOrder.Full or on any error, in full, verified
// (SHA-256 and minisign),
// swapped with minio/selfupdate keeping the old binary as a rollback
// copy, probed (`unyo version`), and started in place (exec) with a
// trial marker; the new binary, if the cluster does not confirm it before
// the watch period ends, restores the old binary and runs it again.
//
// Re-homing: a move order names the new cluster's NATS URL and its
// task-signing keys; the agent connects there with its own credentials
// and must get a directive signed by one of those keys before it tells
// the old cluster it moved and starts again on the new home (kept in its
// state directory). An offline agent gets the order at its next start.
// Decommissioning refuses while agents have not moved, unless waived.
//
// Metrics: unyo_rollout_reports_total{result}, unyo_rollout_chunks_served_total,
// unyo_rollout_bytes_served_total,
// unyo_rollout_updating_agents, unyo_rollout_ops_total{kind,result}.
package rollout
