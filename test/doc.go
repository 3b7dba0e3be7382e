// Package test holds unyo's end-to-end tests: they build and start the real
// binary (or the embeddable node) against real peers — the embedded and an
// external NATS, SQLite and a PostgreSQL server — and drive it the way an
// operator would, through the HTTP API and the command line.
package test
