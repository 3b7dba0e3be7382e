// Package agents is the server side of managed servers' agents: the
// registry of enrolled agents (Agent), group enrolment tokens
// (EnrollToken, only their SHA-256 kept), the inventories the agents send
// (configuration management: each change against the last one becomes an
// event), liveness from heartbeats, and the per-group uninstall secret.
//
// The registry lives in the ledger (Store, implemented by both ledger
// stores, migration 0013), so every node sharing a ledger shares it. The
// rules (what a token may do, what a change of inventory means) are here;
// the stores only read and write rows. agentstest is the conformance suite
// both stores run.
//
// The agent's own side (enrolment, state directory, inventory collection,
// log tailing, remote operations) is package agent and its sub-packages.
package agents
