// Package pipeline moves events from the bus into the fault ledger and
// incident transitions from the ledger back onto the bus.
//
// The Writer is a durable JetStream pull consumer ("ledger-writer"). It
// fetches up to BatchSize events, applies them to the ledger in one
// transaction, and acknowledges each message only after the commit. When the
// ledger is unavailable it keeps the batch, tells JetStream the messages are
// still in progress, and retries with exponential backoff, so order is kept
// and nothing is lost; Ready reports why it is not ready meanwhile. A crash
// between commit and acknowledgement redelivers the batch, which the ledger
// recognises by event id and does not apply twice.
//
// The Relay is the outbox: it publishes every timeline entry the ledger has
// not yet marked published, on unyo.incident.<kind>, with message id
// incident.<id>.<seq>, then marks it.
//
// Metrics:
//
//	unyo_pipeline_events_applied_total{change}   events applied, by outcome
//	unyo_pipeline_decode_errors_total            messages that were not events (terminated)
//	unyo_pipeline_apply_errors_total             failed ledger transactions
//	unyo_pipeline_batch_duration_seconds         time to apply one batch
//	unyo_pipeline_ledger_up                      1 when the last ledger call succeeded
//	unyo_pipeline_transitions_published_total    outbox entries published
package pipeline
