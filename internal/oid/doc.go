// Package oid checks numeric SNMP object identifiers as they are written
// in configuration files (BER / RFC 2578 rules): every arc fits in 32 bits
// (an SNMP agent cannot encode more), an OID has 2 to 128 arcs, the first
// arc is 0, 1 or 2 and, under 0 and 1, the second is at most 39; arcs are
// written without leading zeros. The monitor's SNMP poller and trap
// receiver check every OID of their configuration with it, so a value no
// agent can send is refused at load time instead of never matching.
package oid
