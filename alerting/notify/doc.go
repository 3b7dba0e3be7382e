// Package notify is how unyo tells people: the Message a notifier sends (one
// incident, or a group of them sent as one), the Notifier interface that
// every channel implements, the plain-text rendering shared by the channels,
// the retry backoff, and Health, which turns a notifier that keeps failing
// into an incident on the platform itself.
//
// Channels live in sub-packages, each with config.go (validation), the
// notifier and its tests: mail (SMTP), webhook (Alertmanager-compatible
// JSON) and command (a program run with the message on stdin).
//
// Delivery is at least once: the escalator records each notification in the
// ledger before sending and marks it after, so a crash in between resends
// it. Each Message carries the Key of its notification, which mail sends as
// the Message-ID and webhook as the Idempotency-Key header, so receivers can
// drop a resend.
//
// Metrics (registered by NewMetrics):
//
//	unyo_notify_attempts_total{channel,outcome}   attempts: outcome ok, retry, failed
//	unyo_notify_duration_seconds{channel}         time of one attempt
//	unyo_notify_channel_up{channel}               0 after FailAfter consecutive failures, 1 after a success
package notify
