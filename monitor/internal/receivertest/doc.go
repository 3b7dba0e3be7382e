// Package receivertest holds what the tests of the datagram receivers
// (monitor/syslog, monitor/trap) share: a sink that records the batches it
// is given, holds the first one until released and can refuse them as a
// full spool does.
package receivertest
