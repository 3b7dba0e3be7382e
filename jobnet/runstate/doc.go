// Package runstate is the job network's replicated run state and its
// deterministic state machine: which scheduled times each jobnet has
// fired (a watermark), the live runs, and each job's state, attempt and
// retry wait.
//
// Every change is an Op applied with State.Apply at the proposer's time.
// Apply reads only the state, the op and that time — no clock, no I/O —
// so every member of the cluster that applies the same ops in the same
// order holds the same state. It validates fully before it changes
// anything: a rejected op (ErrFired, ErrState, ...) leaves the state as
// it was. The cluster FSM (cluster/jobnet_cmds.go) and the single-node
// file log (package jobnet) both apply ops through it.
//
// Job states: waiting → ready (needs met) or held (needs met, hold set,
// until released) → running (dispatched) → ended-normal, ended-warning,
// ended-abnormal, killed or lost; waiting again for a retry (NextAt) or
// a rerun; skipped by an operator or a precondition. A run ends when no
// job can make progress; its status is the worst of its jobs'.
//
// Exactly once: a schedule's firing is keyed by (jobnet, scheduled time)
// and refused at or before the jobnet's watermark (ErrFired); a job's
// start names the next attempt number and is refused for any other
// (ErrState), so a start proposed twice — by an old and a new leader —
// is committed once, and an executor's answer for an old attempt is
// ignored.
package runstate
