// Package cli is the unyo command line: `unyo serve` runs a node, and the
// other subcommands talk to a node's HTTP API. cmd/unyo only calls Main, so
// tests run the command line in-process.
package cli
