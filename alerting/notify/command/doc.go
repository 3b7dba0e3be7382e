// Package command notifies by running a program: the message as JSON on its
// standard input (the notify.Message with its items), and in its
// environment UNYO_KIND, UNYO_SUBJECT, UNYO_TO (comma-separated),
// UNYO_ROLE, UNYO_LEVEL, UNYO_KEY and UNYO_INCIDENTS (comma-separated ids),
// plus UNYO_TEXT, the plain-text body. Exit status 0 is delivered; 75
// (EX_TEMPFAIL) or a timeout is worth retrying; any other status is not.
//
// Metrics: none of its own; see package notify.
package command
