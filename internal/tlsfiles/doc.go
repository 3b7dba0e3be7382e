// Package tlsfiles builds crypto/tls configurations from PEM files: the
// node's HTTPS listener (a certificate read again when its files change,
// optional client certificates), the node's calls to the other members and
// the command line's calls to a node (a CA bundle to trust, an optional
// client certificate).
//
// It has no metrics; a certificate that fails to reload is logged and the
// previous one stays in use.
package tlsfiles
