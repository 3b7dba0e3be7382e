package rotate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/jobnet"
)

// Rotation through a remote agent. The agent runs Rotate with a
// RemoteVault: Pending seals the new password to the cluster's curve key
// (SealFor) and asks a node on bus.AgentVaultSubject.AGENT to store it
// in the ledger; only once the node has answered that it is stored does
// Rotate set it on the account. Commit and Abort are asked the same way.

// Vault operations of a VaultRequest.
const (
	OpPending = "pending"
	OpCommit  = "commit"
	OpAbort   = "abort"
)

// Limits of a VaultRequest, checked by the node.
const (
	// MaxVaultRequest bounds a request's JSON.
	MaxVaultRequest = 16 << 10
	// MaxReason bounds an abort's reason (longer ones are cut).
	MaxReason = 1000
)

// VaultRequest is what an agent asks a node on
// bus.AgentVaultSubject.AGENT. The node takes the agent's name from the
// subject only (the agent's NATS permissions allow its own), and checks
// that the job named is a rotate-password job of its configuration that
// runs on that agent (or a tag of it) and lists the account.
type VaultRequest struct {
	Op      string `json:"op"`
	Run     string `json:"run"`
	Jobnet  string `json:"jobnet"`
	Job     string `json:"job"`
	Attempt int    `json:"attempt"`
	// Account is AGENT/local/USER or AGENT/postgres/ROLE.
	Account string `json:"account"`
	// Sealed and Sender (pending only): the password sealed with
	// SealFor.
	Sealed []byte `json:"sealed,omitempty"`
	Sender string `json:"sender,omitempty"`
	// Reason (abort only): why the rotation was given up.
	Reason string `json:"reason,omitempty"`
}

// VaultReply is a node's answer.
type VaultReply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// ErrCommitUnconfirmed: the vault could not confirm the commit (a
// remote vault's answer lost, or a refusal after the pending password
// was stored). Rotate then leaves the new password set (it is in the
// vault, pending or already current) rather than restore the old one,
// which the vault might already have moved to previous.
var ErrCommitUnconfirmed = errors.New("rotate: the commit was not confirmed")

// RemoteVault is the Vault of a rotation on an agent: the node's ledger,
// asked over NATS.
type RemoteVault struct {
	NC *nats.Conn
	// Agent is the agent's name (its subject).
	Agent string
	// SealTo is the cluster's public curve key (from the signed task).
	SealTo string
	// Task is the attempt the rotation runs for.
	Task jobnet.Task
	// Timeout of one request (default 30s).
	Timeout time.Duration
}

func (v *RemoteVault) ask(ctx context.Context, req VaultRequest) error {
	req.Run, req.Jobnet, req.Job, req.Attempt = v.Task.Run, v.Task.Jobnet, v.Task.Job, v.Task.Attempt
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	to := v.Timeout
	if to <= 0 {
		to = 30 * time.Second
	}
	rctx, cancel := context.WithTimeout(ctx, to)
	defer cancel()
	m, err := v.NC.RequestWithContext(rctx, bus.AgentVaultSubject+"."+v.Agent, b)
	if err != nil {
		return fmt.Errorf("no answer from a node: %w", err)
	}
	var rep VaultReply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		return fmt.Errorf("the node's answer: %w", err)
	}
	if !rep.OK {
		return fmt.Errorf("the node refused: %s", rep.Error)
	}
	return nil
}

// Pending implements Vault: the password sealed to the cluster, stored
// by a node before this returns nil. A request that may have been
// stored all the same (its answer lost) is aborted again, best effort.
func (v *RemoteVault) Pending(ctx context.Context, account, pw string) error {
	sealed, sender, err := SealFor(v.SealTo, account, pw)
	if err != nil {
		return err
	}
	if err := v.ask(ctx, VaultRequest{Op: OpPending, Account: account, Sealed: sealed, Sender: sender}); err != nil {
		_ = v.ask(context.WithoutCancel(ctx), VaultRequest{Op: OpAbort, Account: account, Reason: "pending not confirmed: " + err.Error()})
		return err
	}
	return nil
}

// Commit implements Vault. It asks up to three times while no node
// answers; any failure is ErrCommitUnconfirmed (the password stays set:
// the ledger holds it, pending or current).
func (v *RemoteVault) Commit(ctx context.Context, account string) error {
	var err error
	for range 3 {
		err = v.ask(context.WithoutCancel(ctx), VaultRequest{Op: OpCommit, Account: account})
		if err == nil || !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders)) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrCommitUnconfirmed, err)
	}
	return nil
}

// Abort implements Vault.
func (v *RemoteVault) Abort(ctx context.Context, account, reason string) error {
	return v.ask(ctx, VaultRequest{Op: OpAbort, Account: account, Reason: clip(reason, MaxReason)})
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Accounts are the accounts of a rotate-password job on host.
func Accounts(host string, r configs.JobRotatePassword) []Account {
	var accts []Account
	for _, u := range r.LocalAccounts {
		accts = append(accts, Local{Host: host, User: u})
	}
	for _, role := range r.PostgresRoles {
		accts = append(accts, Postgres{Host: host, Role: role, Admin: r.Postgres})
	}
	return accts
}

// CommandCheck is the check of rotate_password.verify_command: argv runs
// with the account's name in UNYO_ACCOUNT and the new password on its
// standard input (never in an argument); a non-zero exit fails the
// rotation. Its standard error, cut, with the password masked, is in the
// error. Nil argv: no check.
func CommandCheck(argv []string) func(ctx context.Context, account, pw string) error {
	if len(argv) == 0 {
		return nil
	}
	return func(ctx context.Context, account, pw string) error {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Env = append(cmd.Environ(), "UNYO_ACCOUNT="+account)
		cmd.Stdin = strings.NewReader(pw + "\n")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			msg := strings.ReplaceAll(clip(stderr.String(), 4096), pw, "<secret>")
			return fmt.Errorf("verify_command %s: %w: %s", argv[0], err, clip(strings.TrimSpace(msg), 300))
		}
		return nil
	}
}

// AgentJob is the job kind rotate-password as a remote agent runs it
// (`unyo agent run`, `unyo agent --name`): the accounts of this server,
// named after the agent (AGENT/local/USER), kept in the cluster's ledger
// through a RemoteVault.
func AgentJob(nc *nats.Conn, agent string) jobnet.Builtin {
	return func(ctx context.Context, t jobnet.Task) (int, string, error) {
		r := t.Rotate
		if r.Host != "" && r.Host != agent {
			return 2, "", fmt.Errorf("the task names host %q: agent %s rotates its own accounts only", r.Host, agent)
		}
		if t.SealTo == "" {
			return 2, "", errors.New("the task carries no cluster key to seal the passwords to (a node older than this agent?): nothing changed")
		}
		return RunJob(ctx, &RemoteVault{NC: nc, Agent: agent, SealTo: t.SealTo, Task: t}, agent, r)
	}
}

// RunJob is a rotate-password job's run on host with vault v, as a job
// built-in answers it: end code 0, or 1 with the error when a rotation
// failed; the output is Rotate's log.
func RunJob(ctx context.Context, v Vault, host string, r configs.JobRotatePassword) (int, string, error) {
	var out strings.Builder
	err := Rotate(ctx, v, Accounts(host, r), Options{Length: r.Length, Check: CommandCheck(r.VerifyCommand),
		Log: func(format string, args ...any) { fmt.Fprintf(&out, format+"\n", args...) }})
	if err != nil {
		return 1, out.String(), err
	}
	return 0, out.String(), nil
}

// AgentExec is a remote agent's executor: commands, the built-in kinds
// any server runs, and rotate-password (AgentJob).
func AgentExec(nc *nats.Conn, agent string) *jobnet.Local {
	b := jobnet.Builtins(nil)
	b[configs.JobKindRotatePassword] = AgentJob(nc, agent)
	return &jobnet.Local{Name: "agent:" + agent, Builtins: b}
}
