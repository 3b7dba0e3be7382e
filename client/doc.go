// Package client is a Go client of the node's HTTP API (/api/v1), used by
// the command line and by end-to-end tests.
package client
