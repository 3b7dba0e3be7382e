// Package trap receives SNMP traps (v1, v2c, v3 with USM) and informs (v2c)
// and turns them into events on a monitor.Sink, with Source "snmp-trap".
//
// # Mapping
//
// Rules are tried in order, first match wins: the user's rules, then the
// built-in mappings of the standard traps (unless disable_builtin_rules):
//
//	trap                              severity  status   check     dedup key
//	SNMPv2-MIB::coldStart             warning   problem  restart   <target>/restart
//	SNMPv2-MIB::warmStart             warning   problem  restart   <target>/restart
//	IF-MIB::linkDown                  major     problem  link      <target>/ifIndex/<n>
//	IF-MIB::linkUp                    major     ok       link      <target>/ifIndex/<n>
//	SNMPv2-MIB::authenticationFailure minor     problem  authenticationFailure  <target>/authenticationFailure
//	RFC1213-MIB::egpNeighborLoss      minor     problem  egpNeighborLoss        <target>/egpNeighborLoss
//
// so a linkUp recovers the incident its linkDown opened. v1 traps are
// matched by their RFC 3584 translation: generic-trap g < 6 is
// 1.3.6.1.6.3.1.1.5.(g+1), enterprise-specific is <enterprise>.0.<specific>.
// A trap no rule matches becomes an info event (check "trap", label
// unmatched=true, dedup key <target>/trap/<oid>) unless unmatched: ignore.
// The target is the packet's source address, or its name in targets.
//
// Rule OIDs are numeric or names of the standard objects (see ResolveOID);
// templates see Data: .Target, .Agent, .OID, .Name, .Version, .Community,
// .User, .Uptime, .Index (interface index), .Var (varbind values by numeric
// OID, by MIB name with instance, and by column name: {{.Var.ifDescr}}) and
// .Vars.
//
// # Why not gosnmp's TrapListener
//
// Decoding is gosnmp's (GoSNMP.UnmarshalTrap, the function TrapListener
// itself calls, with SNMPv3 users in a SnmpV3SecurityParametersTable), but
// the socket loop is ours. Reading TrapListener's source (trap.go, v1.47.0):
// a packet that fails to decode or authenticate is only written to
// Params.Logger with Printf and skipped, so it cannot be counted short of
// parsing log text; and its UDP loop calls OnNewTrap synchronously on the
// one reading goroutine (TCP: one goroutine per connection, so concurrently),
// which puts v3 HMAC and decryption on the socket reader. Here the reader
// only copies datagrams onto a bounded queue, reading them in batches
// (recvmmsg, 32 per call, package monitor/udpbatch, into a socket buffer of
// read_buffer bytes; never blocking; a full queue drops and counts), and
// workers decode, each with its own GoSNMP values, and hand what they
// decoded from the queue, up to 512 events, to the sink in one batch
// (monitor.BatchSink: one append to the node's spool, which waits on
// neither the bus nor the disk). A full spool drops the batch and counts it
// (spool_full_dropped), with one warn line a minute. A packet that does not
// decode is logged at warn once a minute with the number held back since,
// every time at debug.
// v2c informs are answered as TrapListener does; v3 informs need engine ID
// discovery against this receiver and are refused (counted as
// rejected{reason="v3_inform"}).
//
// # What is refused
//
// allow_sources is checked by the socket reader on the source address, for
// every version, before a packet is queued: a sender outside it costs no
// queue slot, decoding, HMAC or decryption. v1/v2c communities are checked
// after decoding.
//
// An SNMPv3 message is checked by this package before gosnmp decodes it
// (v3.go), because gosnmp v1.47.0 authenticates only when
// msgSecurityModel is 3 and only at the level msgFlags claim: a message
// with a wrong passphrase and msgSecurityModel changed to any other number
// was decoded and published. In order: the header must parse as BER
// (decode error otherwise); msgSecurityModel must be USM, 3
// (security_model); the user must be configured (unknown_user); msgFlags
// must give at least the user's min_level, authPriv by default for a user
// with a privacy protocol (level); the HMAC in msgAuthenticationParameters
// must verify under the user's key localized to the message's engine ID
// (auth). Then gosnmp authenticates again, decrypts (a failure at authPriv
// is decrypt) and decodes, and what it decoded must be the header checked.
// Every refusal is counted in rejected{reason} and logged at warn at most
// once a minute per reason (with the number held back), every time at
// debug. msgAuthoritativeEngineBoots/Time are not checked (no replay
// window: a captured trap can be replayed, as with most trap receivers).
//
// # Metrics
//
// Registered on the Registerer given to New:
//
//	unyo_trap_packets_received_total          UDP packets read
//	unyo_trap_dropped_total                   packets dropped, queue full
//	unyo_trap_decoded_total{version}          traps and informs decoded
//	unyo_trap_decode_errors_total{version}    packets that failed to decode (version from the header, or "unknown"); refusals are in rejected
//	unyo_trap_rejected_total{reason}          refused: source, community, no_v3_users, security_model,
//	                                          unknown_user, level, auth, decrypt, v3_inform, pdu_type
//	unyo_trap_ignored_total                   traps an ignore rule dropped
//	unyo_trap_unmatched_total                 traps no rule matched
//	unyo_trap_events_published_total          events handed to the sink
//	unyo_trap_publish_errors_total            events the sink refused or timed out on
//	unyo_trap_spool_full_dropped_total        events dropped because the spool was full
//	unyo_trap_publish_batches_total           batches handed to the sink (one spool append each)
//	unyo_trap_queue_length                    packets waiting for a worker
//	unyo_trap_queue_capacity                  queue_size
package trap
