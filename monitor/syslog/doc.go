// Package syslog receives syslog over UDP and TCP, parses RFC 3164 and
// RFC 5424 messages, runs them through the message filters (package
// monitor/filter) and publishes the events the filters ask for on a
// monitor.Sink, with Source "syslog".
//
// # Transport
//
// UDP: one message per datagram (RFC 5426); trailing CR, LF and NUL are
// trimmed. TCP: the framing is detected per connection from its first byte
// (RFC 6587): a digit means octet counting ("123 <34>1 ..."), anything else
// newline-terminated frames. A frame longer than max_message_size is cut to
// that size (newline framing, counted in unyo_syslog_truncated_total) or ends
// the connection (octet counting, counted as a parse error).
//
// # Parsing
//
// Messages are parsed with github.com/leodido/go-syslog/v4 (its auto
// machine tells RFC 5424 from RFC 3164 per message). An RFC 3164 timestamp
// has no year and no zone: it is read in the configured timezone and given
// the year that puts it closest to the time of receipt. A line that neither
// parser accepts is parsed best effort, keeping its host, app and text
// (lenient.go): an RFC 5424 header whose timestamp has more fraction digits
// than the RFC's six (9 is common) or whose fields stop early; a BSD-style
// header with a fraction, a year or an RFC 3339 timestamp, without a
// hostname or without a tag (a hostname is read only after a timestamp, as
// rsyslog does); a line without <PRI>, given user.notice (RFC 3164 4.3.3).
// Such a line is counted in unyo_syslog_nonconforming_total; a line with a
// malformed <PRI>, an empty one, or one without <PRI> that is not UTF-8 is a
// parse error, counted and logged at debug.
//
// The library's own stream parsers (octetcounting, nontransparent) are not
// used for TCP: the non-transparent one ignores the maximum message length,
// so a sender that never sends a newline would grow its buffer without bound,
// and both own the read loop, which leaves no place for per-connection read
// deadlines. Framing here is a few lines over bufio.Reader; parsing stays in
// the library.
//
// # Flow
//
// The UDP reader takes datagrams off the socket in batches (recvmmsg, 64
// per call: package monitor/udpbatch) into a socket buffer of
// udp_read_buffer bytes, on an OS thread of its own with a raised priority
// when the process may (udpbatch.Favour): on a busy machine the kernel
// drops datagrams while the reader waits for a core. Readers put raw frames
// on a bounded queue (queue_size frames and queue_bytes of memory, large so
// that a burst waits for the workers rather than being dropped); workers parse and filter what is queued, up to 512 frames,
// and hand the events to the sink in one batch (monitor.BatchSink: one
// append to the node's spool, which waits on neither the bus nor the disk).
// A UDP reader never blocks: when the queue is full the datagram is dropped
// and counted (unyo_syslog_dropped_total). A TCP reader waits for room
// instead, which pushes back on that sender through TCP flow control rather
// than losing messages it believes were delivered. When the spool is full
// (its bound reached while the bus takes nothing) the batch is dropped and
// counted in unyo_syslog_spool_full_dropped_total, with one warn line a
// minute.
//
// # Metrics
//
// Registered on the Registerer given to New:
//
//	unyo_syslog_messages_received_total{proto}   frames read from the sockets
//	unyo_syslog_bytes_received_total{proto}      bytes of those frames
//	unyo_syslog_parse_errors_total{proto}        frames that were not syslog (or broke TCP framing)
//	unyo_syslog_nonconforming_total{proto}       frames parsed best effort (not strictly RFC 5424 / 3164)
//	unyo_syslog_truncated_total{proto}           frames cut to max_message_size
//	unyo_syslog_dropped_total{proto}             frames dropped because the queue was full
//	unyo_syslog_queue_length                     frames waiting for a worker
//	unyo_syslog_queue_capacity                   queue_size
//	unyo_syslog_queue_bytes                      memory the waiting frames hold (bounded by queue_bytes)
//	unyo_syslog_events_published_total{action}   events handed to the sink (incident, record)
//	unyo_syslog_publish_errors_total             events the sink refused or timed out on
//	unyo_syslog_spool_full_dropped_total         events dropped because the spool was full
//	unyo_syslog_publish_batches_total            batches handed to the sink (one spool append each)
//	unyo_syslog_tcp_connections                  open TCP connections
//	unyo_syslog_tcp_connections_rejected_total   connections refused at max_tcp_connections
package syslog
