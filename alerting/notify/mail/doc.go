// Package mail sends notifications by SMTP with github.com/wneessen/go-mail:
// plain text (UTF-8, quoted-printable) that reads on a phone, the subject
// carrying severity and server, one message to every recipient of a step.
//
// TLS: "none" (plain SMTP, for a local relay), "starttls" (required),
// "opportunistic" (STARTTLS when offered) or "tls" (implicit TLS, port 465).
// With a username, PLAIN authentication is used (over TLS, or to localhost).
//
// A 4xx reply or a network error is worth retrying; a 5xx reply is not. The
// notification key is sent as the Message-ID.
//
// Package mailtest runs an in-process SMTP server for tests.
//
// Metrics: none of its own; see package notify.
package mail
