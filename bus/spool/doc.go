// Package spool is the node-local durable spool in front of the event bus:
// every ingest path (the events API, syslog, traps, check results, the
// incidents and results the job engine raises) appends its messages here
// and is answered from here; a forwarder publishes them to JetStream.
// The spool absorbs bus elections, a slow or unreachable bus and a slow
// ledger: a receiver never waits on the bus, and a message acknowledged to
// its sender survives a crash of the node.
//
// # Interface for producers
//
//	Append(ctx, msgs ...Msg) error   // Msg{Subject, MsgID, Data}
//
// Append returns nil once every message is durable (written and fsync'd),
// so "accepted" means "on disk". It never waits for the bus. It fails
//   - with ErrFull at once when the messages do not fit within MaxBytes
//     (the whole call is refused, none of its messages is kept): callers
//     answer 503 with Retry-After, or count a rejection;
//   - with ctx's error when the fsync covering the messages has not ended
//     by ctx's deadline (a hung disk): the messages may still be delivered,
//     so a caller that retries must reuse the same MsgIDs;
//   - with ErrTooLarge for a message above MaxEntry, ErrClosed after Close.
//
// AppendNoSync is Append without the wait for the fsync (the fsync still
// follows at once): for receivers whose senders get no acknowledgement.
//
// MsgID must be stable for the message (the event id): it becomes the
// Nats-Msg-Id, so JetStream drops a replay within its duplicate window, and
// the ledger applies an event id once whatever the window (ledger.Store's
// ApplyEvents), so a replay after a restart has exactly one effect.
//
// # On disk
//
// <dir>/<first sequence, 20 digits>.seg are append-only segment files, each
// a run of records:
//
//	uint32 length of payload (little endian) | uint32 CRC-32C of payload | payload
//	payload: uint64 seq | int64 unix nanoseconds | uint16 len | subject |
//	         uint16 len | msg id | data
//
// Writes are group-committed: appends write their records at once and
// wait; one goroutine fsyncs whatever was written since its last fsync and
// wakes every append that fsync covered, so many appends share one fsync.
// A segment is closed at SegmentBytes and a new one begun; a segment whose
// every record the bus has stored is deleted. <dir>/acked holds the highest
// sequence the bus has stored (written without fsync: a stale value only
// replays messages the bus then drops as duplicates).
//
// Open scans every segment: a record cut short or whose CRC does not match
// at the end of a segment (a torn write of a crash) is truncated away and
// logged; messages after the acked sequence are forwarded again.
//
// # Forwarding
//
// [Spool.Forward] reads durable messages in order, hands them in batches to
// a publish function (the bus's asynchronous JetStream publish), and
// advances the acked sequence over the prefix that JetStream stored. A
// failed or timed-out batch is retried with backoff (50 ms doubling to 2 s)
// through stream-leader elections and bus outages, never dropped; only a
// message the bus can never take (larger than its max payload) is dropped,
// logged and counted.
//
// # Metrics
//
//	unyo_spool_entries                     messages not yet stored by the bus
//	unyo_spool_bytes                       bytes of segment files on disk
//	unyo_spool_max_bytes                   the bound (MaxBytes)
//	unyo_spool_oldest_entry_age_seconds    age of the oldest message waiting (0 when none)
//	unyo_spool_appended_total              messages accepted
//	unyo_spool_rejected_total{reason}      messages refused: full, too_large, timeout
//	unyo_spool_forwarded_total             messages the bus stored
//	unyo_spool_forward_errors_total        failed publish batches (retried)
//	unyo_spool_dropped_total               messages the bus can never take
//	unyo_spool_fsync_duration_seconds      fsync latency
//	unyo_spool_torn_records_total          torn or corrupt records truncated at open
package spool
