package bus

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// AgentCredential is one `unyo agent` allowed to connect to the embedded
// server: by user name (the agent's name) and password, or by NKey (the
// public user key; the agent holds the seed). Exactly one of Password and
// NKey is set.
type AgentCredential struct {
	// Name is the agent's name (run_on.agent) and its user name.
	Name string
	// Tags the agent may take tasks for (run_on.tag).
	Tags []string
	// Password is the agent's password; it never prints (String).
	Password string
	// NKey is the agent's public user NKey ("U...").
	NKey string
}

// String names the agent, never its password.
func (c AgentCredential) String() string {
	how := "password"
	if c.NKey != "" {
		how = "nkey " + c.NKey
	}
	return fmt.Sprintf("agent %s (%s, tags %v)", c.Name, how, c.Tags)
}

// GoString keeps %#v from printing the password.
func (c AgentCredential) GoString() string { return c.String() }

// AgentNameRE is what an agent's name and each of its tags must match: one
// NATS subject token, so that an agent's subjects are its own.
var AgentNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)

// ErrAgentCredential is returned for an unusable agent credential.
var ErrAgentCredential = errors.New("bus: agent credential")

func (c AgentCredential) validate() error {
	if !AgentNameRE.MatchString(c.Name) {
		return fmt.Errorf("%w: name %q: want 1 to 63 of A-Z, a-z, 0-9, '-', '_' (starting with a letter or digit)", ErrAgentCredential, c.Name)
	}
	for _, t := range c.Tags {
		if !AgentNameRE.MatchString(t) {
			return fmt.Errorf("%w: agent %s: tag %q: want 1 to 63 of A-Z, a-z, 0-9, '-', '_'", ErrAgentCredential, c.Name, t)
		}
	}
	switch {
	case (c.Password == "") == (c.NKey == ""):
		return fmt.Errorf("%w: agent %s: want a password or an nkey (exactly one)", ErrAgentCredential, c.Name)
	case c.NKey != "" && !nkeys.IsValidPublicUserKey(c.NKey):
		return fmt.Errorf("%w: agent %s: nkey %q: not a public user NKey (U...)", ErrAgentCredential, c.Name, c.NKey)
	}
	return nil
}

// Subjects of remote execution an agent's permissions are made of. They
// are the jobnet package's (jobnet.TaskStream and the subjects it
// documents); bus keeps its own copy so that it does not import jobnet.
const (
	jobTaskStream    = "UNYO_JOBS"
	jobTaskSubject   = "unyo.job.task"
	jobResultSubject = "unyo.job.result"
	jobKillSubject   = "unyo.job.kill"
	jobBeatSubject   = "unyo.job.heartbeat"
	jobDirectSubject = "unyo.job.direct" // the leader's direct offers, request/reply
	jobReportSubject = "unyo.job.report" // an agent's results to a node's spool, request/reply
	// The fleet's (rollout package's) request subjects: an agent's
	// update report, answered with the cluster's signed directive, and
	// its requests for a release's chunks.
	fleetReportSubject  = "unyo.agent.report"
	fleetReleaseSubject = "unyo.agent.release"
)

// Subjects of an enrolled agent's life (package agents and agent), each
// followed by ".NAME", the agent's name: an agent publishes only its
// own heartbeats, inventories and log lines, and receives only its own
// operation requests, which it may answer once each (the reply subject
// of the request).
const (
	AgentBeatSubject      = "unyo.agent.beat"      // core NATS, agent → nodes
	AgentInventorySubject = "unyo.agent.inventory" // request, agent → a node
	AgentLogSubject       = "unyo.agent.log"       // request, agent → a node
	AgentOpSubject        = "unyo.agent.op"        // request, node → agent (signed)
	// AgentUninstallSubject: request, agent → a node: may the agent
	// uninstall itself (the group's uninstall secret checked there).
	AgentUninstallSubject = "unyo.agent.uninstall"
	// AgentVaultSubject: request, agent → a node: a rotate-password
	// job's pending, commit and abort of a password (package rotate; the
	// password sealed to the cluster's curve key, never in clear).
	AgentVaultSubject = "unyo.agent.vault"
	// AgentTagsSubject: core NATS, node → agent (and every node): the
	// agent's tags changed.
	AgentTagsSubject = "unyo.agent.tags"
)

// AgentInboxPrefix is the inbox prefix an agent's connection must use
// (nats.CustomInboxPrefix): replies to its JetStream requests, the tasks
// it fetches among them, go there, and no other agent may subscribe to it.
func AgentInboxPrefix(name string) string { return "_INBOX_AGENT." + name }

// AgentPermissions are what an agent may do on the embedded server, and
// nothing more:
//
//   - create (or update) its own durable pull consumers on the task
//     stream, each pinned to its own subject: "agent-NAME" on
//     unyo.job.task.agent.NAME and "tag-TAG" on unyo.job.task.tag.TAG for
//     each of its tags (the server refuses a create whose filter differs
//     from the one in the API subject), fetch from them and acknowledge
//     their messages;
//   - publish its own results (unyo.job.result.NAME, stored by JetStream;
//     and as requests on unyo.job.report.NAME, which a node spools onto
//     unyo.job.result.NAME) and heartbeats (unyo.job.heartbeat.NAME), and
//     no other agent's: the
//     leader takes a result or heartbeat for an attempt only from the
//     subject of the agent it dispatched the attempt to (jobnet.Agents);
//   - send requests on its own fleet subjects (unyo.agent.report.NAME:
//     its version and update state, answered with the cluster's signed
//     directive; unyo.agent.release.NAME: a chunk of a release binary);
//   - publish its heartbeats, inventories and log lines on its own
//     AgentBeatSubject, AgentInventorySubject and AgentLogSubject, ask
//     to uninstall on its own AgentUninstallSubject, store its
//     rotated passwords on its own AgentVaultSubject (sealed), and
//     receive its own AgentOpSubject, answering each request once, and
//     its own AgentTagsSubject;
//   - receive its kill subjects (unyo.job.kill.agent.NAME, .tag.TAG), the
//     leader's direct task offers (unyo.job.direct.agent.NAME.take and
//     .confirm, the same for .tag.TAG: signed tasks, answered once each)
//     and the replies in its own inbox (AgentInboxPrefix).
//
// It may not publish a task or another agent's results or heartbeats,
// read another agent's subjects or inbox, or call any other JetStream API.
func AgentPermissions(name string, tags []string) *server.Permissions {
	type target struct{ durable, subject string }
	targets := []target{{"agent-" + name, ".agent." + name}}
	for _, t := range tags {
		targets = append(targets, target{"tag-" + t, ".tag." + t})
	}
	pub := []string{jobResultSubject + "." + name, jobBeatSubject + "." + name, jobReportSubject + "." + name,
		fleetReportSubject + "." + name, fleetReleaseSubject + "." + name,
		AgentBeatSubject + "." + name, AgentInventorySubject + "." + name, AgentLogSubject + "." + name,
		AgentUninstallSubject + "." + name, AgentVaultSubject + "." + name}
	sub := []string{AgentInboxPrefix(name) + ".>", AgentOpSubject + "." + name, AgentTagsSubject + "." + name}
	for _, t := range targets {
		pub = append(pub,
			"$JS.API.CONSUMER.CREATE."+jobTaskStream+"."+t.durable+"."+jobTaskSubject+t.subject,
			"$JS.API.CONSUMER.MSG.NEXT."+jobTaskStream+"."+t.durable,
			"$JS.ACK."+jobTaskStream+"."+t.durable+".>")
		sub = append(sub, jobKillSubject+t.subject, jobDirectSubject+t.subject+".take", jobDirectSubject+t.subject+".confirm")
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: pub},
		Subscribe: &server.SubjectPermission{Allow: sub},
		// The answer to an operation request or a direct task offer, once,
		// to its reply subject.
		Response: &server.ResponsePermission{MaxMsgs: 1, Expires: 5 * time.Minute},
	}
}

// nodeUser is the user of the node's own in-process connection: full
// rights, a random password made at each start that never leaves the
// process, and usable in-process only (not over the listener).
const nodeUser = "unyo-node"

// authorize sets the embedded server's users: the node (every right) and
// each agent (AgentPermissions). It returns the node's password.
func authorize(so *server.Options, agents []AgentCredential) (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("bus: node password: %w", err)
	}
	nodePass := hex.EncodeToString(raw[:])
	// The node's user connects in-process only; agents over TCP only (no
	// websocket, MQTT or leaf node).
	inProcess := map[string]struct{}{"IN_PROCESS": {}}
	std := map[string]struct{}{"STANDARD": {}}
	so.Users = []*server.User{{Username: nodeUser, Password: nodePass, AllowedConnectionTypes: inProcess}}
	seen := map[string]bool{nodeUser: true}
	for _, a := range agents {
		if err := a.validate(); err != nil {
			return "", err
		}
		if seen[a.Name] {
			return "", fmt.Errorf("%w: agent %s: listed twice (or named like the node's user)", ErrAgentCredential, a.Name)
		}
		seen[a.Name] = true
		perms := AgentPermissions(a.Name, slices.Compact(slices.Sorted(slices.Values(a.Tags))))
		if a.NKey != "" {
			so.Nkeys = append(so.Nkeys, &server.NkeyUser{Nkey: a.NKey, Permissions: perms, AllowedConnectionTypes: std})
			continue
		}
		so.Users = append(so.Users, &server.User{Username: a.Name, Password: a.Password, Permissions: perms,
			AllowedConnectionTypes: std})
	}
	return nodePass, nil
}
