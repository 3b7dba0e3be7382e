// Package monitor holds the probes (ping, snmp, tcp, http), the receivers
// (trap, syslog), the rule engine (thresholds, message filters) and metric
// samples. Every check ends in a Sink: state changes become incident events.
package monitor
