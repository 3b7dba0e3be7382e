// Package ops is remote operations on a managed server (seed 002): system
// information, hardware and software lists, the process list, file search
// and view, and commands. A node sends a Request signed with its
// task-signing key (jobnet.Signer.SignBytes, domain "op") on the agent's
// AgentOpSubject; the agent (Handler) checks the signature, the target
// and the expiry, runs it within its own limits, and answers once.
//
// The agent's own limits do not depend on the node: files are read only
// inside the roots given to the agent (`--file-root`), after resolving
// symbolic links, and checked again on the opened file, so a link cannot
// lead outside; a view is capped at MaxView bytes, a search at
// MaxSearch results; a command's output at MaxOutput bytes and its time at
// the request's timeout. Which commands a role may run is the node's
// configuration (agents.commands); free-form shell only where it allows.
package ops
