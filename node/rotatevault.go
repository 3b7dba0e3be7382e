package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/internal/secretbox"
	"github.com/unyo-ops/unyo/rotate"
)

// The password vault of remote agents: a rotate-password job on an agent
// stores, commits and aborts its passwords through this node
// (bus.AgentVaultSubject.AGENT, rotate.VaultRequest). The agent is the
// last token of the subject (its NATS permissions allow only its own);
// the node checks that the job named is a rotate-password job of its
// configuration that runs on that agent (run_on.agent, or a tag the
// agent holds) and lists the account, which must be named after the
// agent. The password arrives sealed to the cluster's curve key, is
// opened here and sealed again under the cluster secret key for the
// ledger: it is never in clear on the bus, in the task stream or in the
// Raft log. Every request is audited (actor agent:NAME).

// vaultAccountRE is AGENT/local/USER or AGENT/postgres/ROLE.
var vaultAccountRE = regexp.MustCompile(`^([A-Za-z0-9][A-Za-z0-9_.-]{0,62})/(local|postgres)/([a-z_][a-z0-9_-]{0,62})$`)

// sealTo is the cluster's public curve key (rotate.ClusterCurvePublic),
// put in every rotate-password task dispatched to an agent.
func (n *Node) sealTo() (string, error) {
	key, err := n.createSecretKey()
	if err != nil {
		return "", fmt.Errorf("cluster secret key: %w", err)
	}
	return rotate.ClusterCurvePublic(key)
}

// serveVault answers the agents' vault requests until ctx ends (one node
// of the cluster each: a queue group).
func (n *Node) serveVault(ctx context.Context, nc *nats.Conn) error {
	sub, err := nc.QueueSubscribe(bus.AgentVaultSubject+".*", "unyo-vault", func(m *nats.Msg) {
		agent := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		rep := rotate.VaultReply{OK: true}
		if err := n.vaultRequest(rctx, agent, m.Data); err != nil {
			rep = rotate.VaultReply{Error: err.Error()}
		}
		b, _ := json.Marshal(rep)
		_ = m.Respond(b)
	})
	if err != nil {
		return err
	}
	_ = sub.SetPendingLimits(1000, 16<<20)
	<-ctx.Done()
	return sub.Unsubscribe()
}

// errVaultRefused marks a request the node will not take.
var errVaultRefused = errors.New("refused")

// vaultRequest handles one request of agent (data: its JSON).
func (n *Node) vaultRequest(ctx context.Context, agent string, data []byte) (err error) {
	var req rotate.VaultRequest
	defer func() {
		result := "ok"
		switch {
		case errors.Is(err, errVaultRefused):
			result = "denied"
		case err != nil:
			result = "error"
		}
		detail := fmt.Sprintf("job %s/%s run %s attempt %d", clipStr(req.Jobnet, 64), clipStr(req.Job, 64), clipStr(req.Run, 128), req.Attempt)
		if err != nil {
			detail += ": " + clipStr(err.Error(), 300)
		} else if req.Op == rotate.OpAbort {
			detail += ": " + clipStr(req.Reason, 300)
		}
		action := "password.vault" // a request not understood
		switch req.Op {
		case rotate.OpPending, rotate.OpCommit, rotate.OpAbort:
			action = "password." + req.Op
		}
		if n.auth != nil {
			_, _ = n.auth.AppendAudit(context.WithoutCancel(ctx), auth.AuditEntry{At: time.Now(), Actor: "agent:" + agent,
				Kind: auth.Kind("agent"), Action: action, Target: clipStr(req.Account, 200),
				Result: result, Detail: detail})
		}
		if err != nil {
			n.log.Warn("password vault request", "agent", agent, "action", action, "account", clipStr(req.Account, 200), "err", err)
		}
	}()
	if len(data) > rotate.MaxVaultRequest {
		return fmt.Errorf("%w: request of %d bytes, more than %d", errVaultRefused, len(data), rotate.MaxVaultRequest)
	}
	if err := json.Unmarshal(data, &req); err != nil {
		req = rotate.VaultRequest{}
		return fmt.Errorf("%w: request: %w", errVaultRefused, err)
	}
	if err := n.vaultAllowed(agent, req); err != nil {
		return err
	}
	ps, err := n.passwordStore()
	if err != nil {
		return err
	}
	by := "agent:" + agent + " job:" + req.Jobnet + "/" + req.Job
	switch req.Op {
	case rotate.OpPending:
		// The key the leader sealed to: never made here (a member
		// without it could not open the password anyway).
		key, err := n.secretKey()
		if err != nil {
			return fmt.Errorf("cluster secret key: %w", err)
		}
		kp, err := rotate.ClusterCurveKey(key)
		if err != nil {
			return err
		}
		defer kp.Wipe()
		pw, err := rotate.OpenFor(kp, req.Account, req.Sealed, req.Sender)
		if err != nil {
			return fmt.Errorf("%w: %w", errVaultRefused, err)
		}
		if len(pw) < 16 || len(pw) > 128 {
			return fmt.Errorf("%w: a password of %d characters: want 16..128", errVaultRefused, len(pw))
		}
		sealed, err := secretbox.Seal(key, pw)
		if err != nil {
			return err
		}
		return ps.PendingPassword(ctx, req.Account, sealed, by, time.Now())
	case rotate.OpCommit:
		return ps.CommitPassword(ctx, req.Account, time.Now())
	case rotate.OpAbort:
		return ps.AbortPassword(ctx, req.Account, clipStr(req.Reason, rotate.MaxReason), time.Now())
	}
	return fmt.Errorf("%w: op %q: want pending, commit or abort", errVaultRefused, clipStr(req.Op, 16))
}

// vaultAllowed checks that agent may keep req.Account's password for the
// job it names.
func (n *Node) vaultAllowed(agent string, req rotate.VaultRequest) error {
	if !bus.AgentNameRE.MatchString(agent) {
		return fmt.Errorf("%w: agent name %q", errVaultRefused, clipStr(agent, 64))
	}
	m := vaultAccountRE.FindStringSubmatch(req.Account)
	if m == nil || m[1] != agent {
		return fmt.Errorf("%w: account %q: want %s/local/USER or %s/postgres/ROLE", errVaultRefused, clipStr(req.Account, 200), agent, agent)
	}
	e := n.jobnetEngine()
	if e == nil {
		return fmt.Errorf("%w: no jobnets on this node", errVaultRefused)
	}
	net := e.Nets()[req.Jobnet]
	if net == nil {
		return fmt.Errorf("%w: jobnet %q: not configured", errVaultRefused, clipStr(req.Jobnet, 64))
	}
	j := net.Job(req.Job)
	if j == nil || j.Kind != configs.JobKindRotatePassword {
		return fmt.Errorf("%w: job %q of jobnet %s: not a rotate-password job", errVaultRefused, clipStr(req.Job, 64), net.Name)
	}
	switch {
	case j.RunOn.Agent != "" && j.RunOn.Agent == agent:
	case j.RunOn.Tag != "" && slices.Contains(n.tagsOfAgent(agent), j.RunOn.Tag):
	default:
		return fmt.Errorf("%w: job %s/%s does not run on agent %s", errVaultRefused, net.Name, j.Name, agent)
	}
	listed := j.Rotate.LocalAccounts
	if m[2] == "postgres" {
		listed = j.Rotate.PostgresRoles
	}
	if !slices.Contains(listed, m[3]) {
		return fmt.Errorf("%w: job %s/%s does not rotate %s", errVaultRefused, net.Name, j.Name, req.Account)
	}
	return nil
}

// tagsOfAgent are an agent's tags: a configured one's
// (nats.embedded.agents), else an enrolled one's.
func (n *Node) tagsOfAgent(agent string) []string {
	for _, a := range n.opts.Bus.Agents {
		if a.Name == agent {
			return a.Tags
		}
	}
	tags, _ := n.enrolledTags(agent)
	return tags
}

func clipStr(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
