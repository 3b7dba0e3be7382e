// Package promtest reads metrics back from a Prometheus registry in tests.
package promtest
