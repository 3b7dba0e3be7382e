// Package node is the embeddable unyo node: it wires the event bus (embedded
// or external NATS), the ledger store (embedded SQLite or PostgreSQL), the
// event → ledger pipeline and the HTTP interface. `unyo serve` runs one; tests
// start one directly with New and Start and read the bound port from Addr.
//
// Start order: bus, store (opened in the background, retried until it
// answers, so a PostgreSQL outage at start does not stop the node from taking
// events), pipeline, HTTP. Stop tears down in reverse order.
//
// Metrics: unyo_node_start_time_seconds, unyo_node_info{name,version}, plus
// those of the packages it wires and the Go runtime and process collectors.
package node
