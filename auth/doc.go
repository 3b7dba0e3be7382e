// Package auth is unyo's one trust layer: who is acting (Identity), what
// they may do (Role, Action and the permission table), how they prove it
// (Argon2id passwords, API and session tokens, cluster member credentials
// through an Authenticator), and what they did (the hash-chained audit
// log).
//
// Every way into a node asks this package: the HTTP routes are registered
// on a Mux that cannot take a route without an Action, the Guard answers
// 401 to an anonymous caller and 403 to a role the table does not allow,
// puts the Identity in the request context for the handler (which takes
// "who acted" from it, never from the request body), and appends an audit
// entry for every state-changing request and every login.
//
// Storage is the Store interface, implemented by both ledger stores
// (alerting/ledger/sqlite, alerting/ledger/postgres) and checked by the
// conformance suite in auth/authtest.
//
// Metrics:
//
//	unyo_auth_requests_total{result}        requests by outcome (ok, anonymous, denied, invalid)
//	unyo_auth_logins_total{result}          password logins by outcome
//	unyo_auth_login_wait_seconds            time a login waited for the hashing semaphore
//	unyo_audit_write_errors_total           audit entries that could not be written
package auth
