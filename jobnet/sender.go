package jobnet

import (
	"slices"
	"strconv"
	"strings"
)

// Reasons the leader refuses a result or a heartbeat (the reason label of
// unyo_jobnet_results_refused_total and unyo_jobnet_heartbeats_refused_total).
const (
	// RefusedSubject: the subject names no sender (the single subject of
	// old versions, unyo.job.result, or a malformed one).
	RefusedSubject = "subject"
	// RefusedSender: the sender is not where the attempt was dispatched
	// (another agent, an agent without the task's tag, an agent for a job
	// run by a node or by the leader itself).
	RefusedSender = "sender"
	// RefusedClaim: the message claims another sender than its subject
	// (Result.Where, the heartbeat's agent).
	RefusedClaim = "claim"
)

// sender is who published a result or a heartbeat, as the subject it
// arrived on says: every agent publishes on its own subjects only (NATS
// permissions, bus.AgentPermissions), so the subject is the identity.
type sender struct {
	kind string // "agent" or "node"
	name string
}

func (s sender) String() string { return s.kind + ":" + s.name }

// senderSuffix is the subject suffix a sender publishes its results and
// heartbeats under: ".NAME" for an agent (unyo.job.result.web01), ".node.NAME"
// for a node's built-in agent. An agent's name is one subject token
// (bus.AgentNameRE), so the two never meet: an agent named "node" has
// unyo.job.result.node, a node n1 unyo.job.result.node.n1.
func senderSuffix(kind, name string) string {
	if kind == "node" {
		return ".node." + token(name)
	}
	return "." + token(name)
}

// senderOf reads the sender from subject, which is prefix + senderSuffix.
func senderOf(subject, prefix string) (sender, bool) {
	rest, ok := strings.CutPrefix(subject, prefix+".")
	if !ok || rest == "" {
		return sender{}, false
	}
	toks := strings.Split(rest, ".")
	var s sender
	switch {
	case len(toks) == 1:
		s = sender{"agent", toks[0]}
	case len(toks) == 2 && toks[0] == "node":
		s = sender{"node", toks[1]}
	default:
		return sender{}, false
	}
	if s.name == "" || token(s.name) != s.name {
		return sender{}, false // a wildcard or a space: nobody's subject
	}
	return s, true
}

// splitKey parses an attempt key run/job/attempt (a run id may hold '/',
// a job name may not).
func splitKey(k string) (run, job string, attempt int, ok bool) {
	i := strings.LastIndexByte(k, '/')
	if i < 0 {
		return "", "", 0, false
	}
	n, err := strconv.Atoi(k[i+1:])
	if err != nil {
		return "", "", 0, false
	}
	j := strings.LastIndexByte(k[:i], '/')
	if j <= 0 || j+1 == i {
		return "", "", 0, false
	}
	return k[:j], k[j+1 : i], n, true
}

// mayReport reports whether s may report on an attempt dispatched to
// where ("agent:NAME", "tag:TAG", "node:NAME"; a bare node name for a job
// that node ran itself as leader, reported on by that node only). For a tag, tags
// says who holds it; nil tags (unknown: an external NATS server, whose own
// permissions decide who takes the tag's tasks) lets any agent report.
func mayReport(s sender, where string, tags map[string][]string) bool {
	kind, name, ok := strings.Cut(where, ":")
	if !ok {
		// A job a node ran itself (as leader): only that node reports on
		// it, once it no longer leads (see Engine.keepEnd).
		return s.kind == "node" && where != "" && where != "nested" && s.name == token(where)
	}
	switch kind {
	case "agent", "node":
		return s.kind == kind && s.name == token(name)
	case "tag":
		if s.kind != "agent" {
			return false
		}
		if tags == nil {
			return true
		}
		return slices.Contains(tags[s.name], name)
	}
	return false
}
