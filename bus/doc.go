// Package bus is unyo's event bus on NATS JetStream: it starts the embedded
// NATS server (in-process, JetStream on the node's data directory) or
// connects to an external NATS, creates the streams, and publishes events and
// incident transitions with message ids so that a retried publish is stored
// once.
//
// # Subjects and streams
//
// With the default namespace "unyo":
//
//	stream UNYO_EVENTS     subjects unyo.event.<source>
//	    payload: incident.Event as JSON; Nats-Msg-Id = event id.
//	    Consumed by the durable consumer "ledger-writer", which acknowledges a
//	    message only after the ledger committed it.
//	stream UNYO_INCIDENTS  subjects unyo.incident.<kind>
//	    kind is one of opened, recovered, recurred, escalated, acknowledged,
//	    resolved, closed, comment.
//	    payload: Transition as JSON ({"entry": ..., "incident": ...});
//	    Nats-Msg-Id = "incident.<id>.<seq>". Published from the ledger's
//	    outbox after commit, so a transition is never lost and never stored
//	    twice within the duplicate window.
//
// # Ingest through the spool
//
// Nothing that enters the node publishes directly: [Ingest] appends to the
// node-local durable spool (package bus/spool) and answers once the
// message is fsync'd there; the node runs spool.Forward with
// [Bus.PublishEntries], which publishes batches asynchronously with each
// message's id and advances the spool only over what JetStream stored.
// Producers use Ingest.Publish / PublishBatch for events and
// Ingest.Append(ctx, subject, msgID, data) for any other subject of the
// streams (job results): a stable msgID makes a replay a duplicate.
// [Bus.ProbeEvents] tells whether the events stream has a leader this node
// reaches (readiness).
//
// # Embedded cluster
//
// With Options.ClusterListen and Options.Routes set, the embedded servers of
// several nodes form one NATS cluster: each listens for routes, dials the
// others (optionally over mutual TLS, Options.ClusterTLS, see
// [RouteTLSConfig]), and runs JetStream clustered with its node name as the
// server name. Streams get Options.Replicas copies (3 on three nodes); a
// durable consumer, such as the ledger writer, exists once in the cluster,
// so pulling it through any node hands each message to one puller only.
// Losing one of three servers leaves the streams and consumers writable
// and readable on the other two after a Raft election; a server that
// returns on the same store directory catches up from the others.
//
// Open copes with a cluster that is still forming: it retries creating the
// streams, with jittered backoff, until JetStream's meta group has a leader
// and enough peers for the replicas, for up to Options.StartTimeout (30s)
// or the context's deadline. Nodes may create the same stream concurrently:
// nats-server may then leave a create or update unanswered although it
// took effect, so after a failed attempt Open checks whether the stream is
// in place with the wanted settings.
//
// The node's own connection is in-process in a cluster too. Because
// nats-server starts routing only after its client listener, a clustered
// server without Options.Listen listens for clients on a random loopback
// port, which it does not advertise.
//
// # Access control
//
// An embedded server with a client listener (Options.Listen, or an
// embedded cluster) requires authentication: the node's own connection is
// in-process, as a user with a random password allowed only in-process;
// the agents of Options.Agents connect with a password or an NKey, each
// allowed only its own task consumers, kill subjects and inbox, and to
// publish its own results and heartbeats ([AgentPermissions]). Options.ClientTLS
// puts TLS (and optionally client certificates) on the client listener.
// With an external NATS the operator's server configuration decides, and
// Options.Callout makes the node the server's auth callout service for
// the agents enrolled at run time: on AuthCalloutSubject, in the queue
// group AuthCalloutQueue, it grants the NKey of an enabled agent of the
// Directory (its signature of the server's nonce checked) exactly
// AgentPermissions in a user JWT signed by the callout's issuer, and
// refuses everyone else ([CalloutOptions]).
//
// docs/bus.md describes the message schema for consumers.
package bus
