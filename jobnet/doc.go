// Package jobnet is the job network (ジョブネット, as in JP1/AJS): jobnets
// are DAGs of jobs started by cron schedules with calendars, by triggers
// (a file created, deleted or changed; a message on the bus) or by an
// operator, with end-code judgment, retries, timeouts, preconditions,
// operator holds, nested jobnets and JP1's rerun modes.
//
// # Exactly once across leader changes
//
// Every node runs an Engine; only the one whose RunLog leads schedules,
// dispatches and judges. Nothing is acted on before it is committed to
// the RunLog: a schedule's firing is keyed (jobnet, scheduled time) and
// committed (runstate.OpFire, refused at or before the jobnet's
// watermark) before its jobs are dispatched; a job's start names the
// next attempt and is committed before the executor gets it; an
// executor's answer is committed with the attempt it is for, and a stale
// one is refused. Retries wait in the state (Job.NextAt), so they
// survive a leader change. The production RunLog is the cluster's Raft
// log (ClusterLog, command cluster.CmdJobnetOp); FileLog is a single-node
// log (an fsynced file of ops) for a node without a cluster.
//
// A new leader takes over with a Barrier, gives every running job a full
// lease (LostAfter) to be heard of, dispatches its running remote
// attempts again (a leader may have died between committing a start and
// handing the task to the agents; the task's message id makes a repeat
// of one that did arrive a no-op, within RedispatchWithin), and fires
// what fell due while there was no leader according to each jobnet's
// misfire policy (skip, once, catch_up to N).
//
// # Execution
//
// Local runs a command in its own process group (a timeout or a kill ends
// the whole tree), keeps the last OutputCap bytes of output and reports
// the exit code; built-in kinds are cleanup and db-maintenance. Remote
// execution goes through JetStream work queues (agent.go): the engine
// first offers the task to a live agent directly over core NATS
// (direct.go: no stream leader needed, so a stream election does not
// delay it) and otherwise publishes it with its attempt key as message
// id; an Agent (unyo agent --name NAME --nats URL) takes it, acknowledges
// it when it starts it (at most once; an attempt it took either way is
// never run again), sends heartbeats while it runs and hands the result
// to a node's spool over core NATS (report.go) or, failing that, to the
// results stream, from which the leader — whichever node that is by then
// — commits it and only then acknowledges it.
//
// # Signed tasks
//
// The engine's Agents sign every task with the leader's ed25519 key
// (Signer; LoadOrCreateSigningKey keeps it in the node's data directory):
// the signature covers the target (agent:NAME, tag:TAG, node:NAME), the
// signing node, the time issued, an expiry and the whole Task. An Agent
// runs a task only if a key it trusts (Verifier) signed it, it is
// addressed to the agent, unexpired, and not an attempt the agent already
// took; it refuses anything else — not run, logged, counted and answered
// with a Result whose Refused names the reason, which the leader commits
// as an abnormal end. So publishing on a task subject never runs a
// command. docs/bus.md describes the message.
//
// # Results and heartbeats
//
// Each agent publishes its results and heartbeats on its own subjects
// (unyo.job.result.NAME, unyo.job.heartbeat.NAME; .node.NAME for a node's
// built-in agent), the only ones its NATS user may publish on. The leader
// takes a result, or a heartbeat's attempt key, only from the subject of
// the agent the attempt was dispatched to (for a tag, an agent holding it:
// AgentsOptions.AgentTags); anything else is refused, logged, counted and
// changes no run, so an agent's credentials cannot end or keep alive
// another agent's job.
//
// Metrics: unyo_jobnet_tasks_refused_total{reason} (the leader, refusals
// agents reported), unyo_jobnet_results_refused_total{reason} and
// unyo_jobnet_heartbeats_refused_total{reason} (the leader, reports from
// the wrong sender), unyo_agent_tasks_run_total and
// unyo_agent_tasks_refused_total{reason} (each agent).
//
// An abnormal end, a lost job and a start or end delay raise an incident
// through Options.Sink (severity and runbook per job); a rerun that ends
// normally clears it. Every run goes to the ledger's RunHistoryStore.
package jobnet
