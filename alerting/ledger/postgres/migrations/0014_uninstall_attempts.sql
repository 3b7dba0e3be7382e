-- 0014: tries of agents' uninstall secrets (agents.Store
-- ClaimUninstallAttempt), counted for every node sharing the ledger: at
-- most agents.UninstallMaxFailures per agent within the window (older
-- ones are deleted as the agent tries again, all with the agent).
-- Times are bigint microseconds since the Unix epoch (UTC).
CREATE TABLE IF NOT EXISTS agent_uninstall_attempts (
	id    TEXT    PRIMARY KEY,
	agent TEXT    NOT NULL,
	at    bigint  NOT NULL,
	node  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS agent_uninstall_attempts_agent ON agent_uninstall_attempts (agent, at);
