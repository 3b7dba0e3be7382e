// Package configs loads and validates unyo's YAML configuration, and holds
// the documented example configurations (single-node.yaml, postgres.yaml).
//
// The reference for every key is docs/configuration.md; a test keeps it in
// step with the Config struct.
//
// # Loading
//
// [Load] reads a file and [Parse] decodes bytes. Both are strict:
//
//   - unknown keys, duplicate keys and values of the wrong type are errors;
//   - defaults are applied at decode time, so a returned *Config is complete
//     (an empty file is a valid configuration made of defaults only);
//   - relative paths (node.data_dir, nats.embedded.store_dir,
//     ledger.sqlite.path) are resolved against the directory of the file;
//   - every value is validated, and cross-references between sections are
//     checked (ledger.driver postgres needs ledger.postgres.url, ...).
//
// # Errors
//
// Every error is one line naming the file, the line and the field path:
//
//	configs/bad.yaml:7: ledger.driver: "mysql": want sqlite or postgres
//	configs/bad.yaml:3: nats.urll: unknown field
//	configs/bad.yaml:5: http.read_timeout: "abc" is not a duration
//
// Each is an [*Error], usable with errors.As. A file with several problems
// gives all of them at once: the returned error is then an errors.Join of
// *Error values, sorted by line, one per line of its message; [Errors]
// lists them. A YAML syntax error stops the parse and is reported alone, with
// the line the YAML parser gave.
//
// Secrets ([Secret]) never leave the process in clear: they print, marshal to
// YAML and to JSON as "<secret>", and validation messages never quote them.
// URLs and DSNs that may carry credentials (redact.SecretURL,
// redact.SecretDSN, [URLs]) print redacted. Every value of a secret type may
// be written as ${env:NAME} or file:PATH, resolved at load time (secrets.go);
// [SealShared] gives what a cluster replicates, every secret written out
// sealed as enc:v1:..., and [ParseWith] opens those with the cluster key.
//
// # Adding a section
//
// A top-level section is a struct type with a yaml tag on its field in
// [Config] and three methods (the section interface in config.go):
// defaults() sets static defaults before decoding, resolve() fills the
// defaults derived from other values after decoding, and validate() reports
// problems by field path. Add the field, the type, its keys to
// docs/configuration.md and to single-node.yaml; the tests fail until all
// four agree.
package configs
