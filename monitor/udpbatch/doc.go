// Package udpbatch reads a UDP socket in batches, for the receivers of
// datagrams that arrive by the hundred thousand per second (syslog, SNMP
// traps): one recvmmsg system call returns up to a batch of datagrams
// (golang.org/x/net/ipv4's ReadBatch; one datagram per call off Linux),
// where a plain read costs a system call, and often a wake-up, per
// datagram. SetReadBuffer sizes the socket's receive buffer, which holds
// the datagrams that arrive while the reader is busy.
package udpbatch
