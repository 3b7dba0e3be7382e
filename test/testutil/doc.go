// Package testutil holds helpers for unyo's end-to-end tests: building and
// running the real binary, free ports, and a TCP proxy that can cut a
// connection to a real peer (PostgreSQL, NATS) to simulate an outage.
package testutil
