// Package ping sends ICMP echo requests to many targets from one shared
// socket.
//
// # Why not one pro-bing Pinger per target
//
// pro-bing (v0.9.1) opens a socket per Pinger.Run and picks the ICMP id with
// rand.Intn(65535): with a few hundred concurrent pingers two of them share
// an id (birthday bound: ~50 % at 300) and, on privileged raw sockets, every
// raw socket is handed a copy of every echo reply — pro-bing attaches a BPF
// id filter, but the kernel still runs N filters per reply and two pingers
// with the same id read each other's replies (pro-bing then tells them apart
// only by a UUID in the payload). Thousands of targets would mean thousands
// of sockets, goroutines and per-packet UUIDs.
//
// This package instead opens ONE socket per address family for the whole
// process and demultiplexes replies itself:
//
//   - unprivileged mode: a Linux ping socket (socket(AF_INET, SOCK_DGRAM,
//     IPPROTO_ICMP), "udp4" in golang.org/x/net/icmp), allowed when the
//     process's group is inside net.ipv4.ping_group_range. The kernel
//     rewrites the ICMP id to the socket's local "port" and delivers only
//     this socket's replies, so replies are keyed by sequence number alone
//     (the id is checked against the local port).
//   - privileged mode: a raw "ip4:icmp" socket (root or CAP_NET_RAW) with a
//     process-unique id (pid mixed with an instance counter) and a BPF filter
//     that passes only echo replies carrying that id. Replies are keyed by
//     (id, seq).
//   - auto (default) tries unprivileged first, then privileged.
//
// Each request carries a 16-byte payload: an 8-byte random token that the
// reply must echo back (so a late reply to a reused sequence number is never
// matched to the wrong probe) and the send time. The reply's source address
// must be the probed address. Sequence numbers are allocated from a 16-bit
// space skipping those in flight, so at most 65,535 probes can be in flight
// per socket (10,000 targets × 3 packets at a 10 s interval keep about 3,000
// in flight with a 1 s timeout).
//
// Checks are asynchronous inside (Start; Ping is Start and a wait), and
// no goroutine, channel or timer is made per check. One clock goroutine
// does all the timed work on ticks coalesced to 5 ms: it reads the replies
// waiting on the sockets in batches (recvmmsg with MSG_DONTWAIT; the
// sockets are plain descriptors outside Go's network poller, so a reply
// wakes no thread), sends the later packets of multi-packet checks and
// expires timed-out checks. RTTs stay exact: the kernel stamps each reply
// with its arrival time (SO_TIMESTAMPNS) and the send time is taken right
// before sendto. A check ends on the tick after its last reply. Writes
// never wait (MSG_DONTWAIT): a full send buffer — requests to on-link hosts
// that do not answer ARP sit in the neighbour queue for seconds, charged to
// the shared socket — loses that request (a send error) instead of
// stopping every check of the process.
//
// StartBatch starts many checks at once (the scheduler starts each tick's
// checks with it): their first requests are written with sendmmsg (up to
// 64 per call) in chunks of 256, and after each chunk the replies already
// waiting are read and matched in the same goroutine, so a near target's
// check often ends within the call. The clock goroutine's timer is reset
// by whoever moves its wake time earlier, so starting checks costs it no
// extra wake-up; it wakes on 5 ms grain boundaries only while replies are
// awaited or a timed action is due. Measured with bench/ping against fping
// on the same loopback targets in one run, driven by the scheduler with
// its events through a node's spool (docs/performance.md): 20.8–26.4 µs
// of CPU per probe vs fping's 51.4–57.6 µs at 10,000 targets (ratio
// 0.40–0.51), 17.2–19.0 µs vs 45.9–48.4 µs at 100,000 (ratio 0.36–0.40),
// every scheduled probe sent (fping's runs took longer than the interval).
//
// Spreading probes over the interval is the scheduler's job (it gives each
// target a fixed offset in its interval); Ping sends the packets of one
// check spaced by PacketInterval and waits Timeout after the last one.
//
// IPv6 uses the same scheme ("udp6" / "ip6:ipv6-icmp") when Options.IPv6 is
// set.
//
// # Metrics
//
//	unyo_ping_packets_sent_total            counter  echo requests written
//	unyo_ping_packets_received_total        counter  replies matched to a probe
//	unyo_ping_packets_unmatched_total       counter  replies with no probe waiting (late, foreign, bad token)
//	unyo_ping_send_errors_total             counter  sendto failures
//	unyo_ping_in_flight                     gauge    probes waiting for a reply
//
// Samples the scheduler records per check (labels: target):
//
//	ping_rtt_min_seconds, ping_rtt_avg_seconds, ping_rtt_max_seconds,
//	ping_jitter_seconds (mean absolute difference of consecutive RTTs),
//	ping_loss_percent, ping_up (1 when at least one reply came back).
package ping
