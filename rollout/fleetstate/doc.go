// Package fleetstate is the replicated state of agent releases, rollouts
// and re-homing: a deterministic state machine (State.Apply) that the
// cluster's Raft FSM runs for the command type fleet.op. It grants update
// slots under the cluster-wide limit, moves each agent through queued →
// downloading → verifying → swapped → watching → done (or rolled-back,
// failed), halts a rollout on its first failure unless told otherwise,
// and records re-homing orders and the cluster's decommissioning. It
// reads no clock and does no I/O; the proposer stamps the time.
package fleetstate
