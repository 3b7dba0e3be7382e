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
// parser accepts but that starts with a valid <PRI> is kept with its text
// after the PRI (many devices send such lines), counted in
// unyo_syslog_nonconforming_total; anything else is a parse error, counted
// and logged at debug.
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
// Socket readers put raw frames on a bounded queue (queue_size); workers
// parse, filter and publish. A UDP reader never blocks: when the queue is
// full the datagram is dropped and counted (unyo_syslog_dropped_total). A
// TCP reader waits for room instead, which pushes back on that sender
// through TCP flow control rather than losing messages it believes were
// delivered.
//
// # Metrics
//
// Registered on the Registerer given to New:
//
//	unyo_syslog_messages_received_total{proto}   frames read from the sockets
//	unyo_syslog_bytes_received_total{proto}      bytes of those frames
//	unyo_syslog_parse_errors_total{proto}        frames that were not syslog (or broke TCP framing)
//	unyo_syslog_nonconforming_total{proto}       frames kept with only their <PRI> parsed
//	unyo_syslog_truncated_total{proto}           frames cut to max_message_size
//	unyo_syslog_dropped_total{proto}             frames dropped because the queue was full
//	unyo_syslog_queue_length                     frames waiting for a worker
//	unyo_syslog_queue_capacity                   queue_size
//	unyo_syslog_events_published_total{action}   events handed to the sink (incident, record)
//	unyo_syslog_publish_errors_total             events the sink refused or timed out on
//	unyo_syslog_tcp_connections                  open TCP connections
//	unyo_syslog_tcp_connections_rejected_total   connections refused at max_tcp_connections
package syslog
