// Package agent is the managed server's side of an enrolled agent:
// enrolment (Enroll: a new NKey and ed25519 key made here, the public
// halves sent with a group token, the answer kept in the state directory,
// every secret file mode 0600), the resident service (Run: heartbeats,
// inventory on start and on a schedule, monitored log files, remote
// operations, and the job network's tasks through jobnet.Agent), the
// on-demand pass (Once) and the standalone collection (Collect: the
// inventory in a file signed by the agent's key).
//
// Sub-packages: inventory (what the server is), ops (remote operations),
// logtail (rotation-safe tailing with positions kept across restarts).
package agent
