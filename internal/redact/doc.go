// Package redact keeps credentials out of everything unyo prints: logs,
// error texts, incident and event messages, notifications and the printed
// configuration.
//
// [URL] hides the password of a URL's user information (user:password@),
// the values of token-like query parameters (token, access_token, api_key,
// key, password, secret, sig, signature, auth, credential, ...) and path
// segments that look like tokens (16 or more characters mixing letters and
// digits, as in the path of a Slack or Discord webhook). [DSN] does the same
// for PostgreSQL connection strings in URL or key=value form. [Text] applies
// both to free text, such as an error message that quotes a URL (net/http
// does). [Err] wraps an error so that its message is redacted.
//
// [SecretURL] and [SecretDSN] are string types for configuration fields that
// may carry credentials: they print, and marshal to YAML, JSON and text,
// redacted; string(v) is the value itself.
//
// Hidden parts are replaced with [Mask]. Redaction is idempotent and never
// fails: what it cannot parse it hides.
package redact
