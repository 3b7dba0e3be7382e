// Package warnlimit rate-limits warn lines per kind, for the receivers
// (monitor/syslog, monitor/trap) whose input a sender controls: a storm of
// garbage or refusals writes one line per kind and interval, carrying how
// many were held back since the last one.
package warnlimit
