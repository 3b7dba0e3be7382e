// Package escalation hands each fault on, by role, until someone takes it.
//
// When an incident opens, the first policy whose match fits it (severity,
// target and check patterns, labels) is frozen onto it: the policy is stored
// with the escalation, so later config changes never alter a running one.
// Each step notifies roles (operator, operations SE, site manager,
// maintenance center, vendor, help desk...) and contacts on channels (mail,
// webhook, command), then waits; after the last step the policy repeats up
// to Repeat more times. A role with a calendar (help desk: weekdays
// 9:00-17:00 in its time zone, holidays excepted) is skipped while it is off
// duty; a policy with a window runs steps only while that calendar is open.
//
// Acknowledging stops the escalation; an acknowledgement not followed by
// resolution within the policy's ack_timeout starts it over (a new cycle).
// Resolving sends a recovery notice to every destination that was told.
//
// Not notified (suppressed, with a timeline entry saying why, and looked at
// again every Recheck): incidents in a maintenance window (by target glob,
// label or site; one-off or recurring by cron with a duration, the cron
// extended with "SUN#1" and "FRIL" weekdays of the month, see
// CheckMaintenance; Occurrences lists a window's intervals) — when the
// window ends and the fault is still open, a notification goes out; targets
// whose parent is down (Options.Parents; "down" is an active incident on
// one of Config.DownChecks), which are unreachable rather than down, and
// likewise the other checks of a target that is itself down (an SNMP or
// service incident opened just before its ping incident: a down host
// pages once);
// recovered incidents until the problem recurs; flapping incidents (Flaps
// state changes within FlapWindow), which are notified once.
//
// Storm control: a notification waits Storm.GroupWait; notifications of the
// same kind for the same target (or check), channel and destination that
// are pending together go out as one message.
//
// Durability and fencing. The escalator is driven by the incident
// transitions stream (durable JetStream consumer "escalator", acknowledged
// after the ledger commit) and by a loop over the escalations whose NextAt
// has come. Every decision is one ledger.EscalationStore.UpdateEscalation:
// a compare-and-set on the escalation's version that, in the same
// transaction, records the step's notifications under deterministic keys
// (incident/cycle/repeat/step/channel/destination) and the timeline notes.
// Notifications are recorded before they are sent, claimed with a lease,
// and marked after; each attempt is a timeline entry (notified,
// notify-failed), retried with backoff. So a restart or a new leader
// neither skips a step nor records one twice; a crash between sending and
// marking resends that one message (at least once), which carries its key
// (Message-ID, Idempotency-Key). The escalator acts only while SetActive(true):
// in a cluster, the Raft leader.
//
// Claims are fenced by the leader's Raft term (Options.Fence): the store
// keeps the highest term that has claimed and refuses a lower one in the
// claim's own transaction (ledger.ErrFenced). A deposed leader that has not
// yet noticed (its lease on leadership runs out after a second or so) can
// therefore claim nothing once the new leader has claimed. When it does
// notice, it finishes and records the message already on the wire (bounded
// by SendTimeout) and releases the claims it will not send, so the new
// leader sends them at once rather than after the claim lease. A fence
// above this leader's own term left by an earlier (rebuilt) cluster is taken
// over only after a quorum confirms this node leads (Options.VerifyLeader).
//
// A notifier that fails FailAfter times in a row raises an incident on the
// platform itself (target: the node, check notifier:<channel>).
//
// Metrics:
//
//	unyo_escalation_active                       1 while this escalator is active
//	unyo_escalation_fence                        the term this escalator claims with
//	unyo_escalation_fenced_total                 claims refused: a newer leader has claimed
//	unyo_escalation_transitions_total{kind}      incident transitions handled
//	unyo_escalation_started_total                escalations started
//	unyo_escalation_steps_total                  steps run
//	unyo_escalation_acknowledged_total           escalations stopped by an acknowledgement
//	unyo_escalation_retriggered_total            restarted after an acknowledgement timed out
//	unyo_escalation_suppressed_total{reason}     suppressions by reason
//	unyo_escalation_flapping_total               incidents found flapping
//	unyo_escalation_notification_delay_seconds   notification recorded → delivered
//	unyo_notify_*                                see package notify
package escalation
