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
// docs/bus.md describes the message schema for consumers.
package bus
