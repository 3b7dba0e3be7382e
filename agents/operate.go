package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/unyo-ops/unyo/agent/inventory"
	"github.com/unyo-ops/unyo/agent/ops"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/bus"
)

// OpInput is an operator's request for a remote operation.
type OpInput struct {
	Op      string `json:"op"`
	Path    string `json:"path,omitempty"`
	Pattern string `json:"pattern,omitempty"`
	// Command names an allowed command (agents.commands); Argv is
	// free-form, only for roles in agents.shell_roles.
	Command string   `json:"command,omitempty"`
	Argv    []string `json:"argv,omitempty"`
}

// ErrForbidden: the caller's role may not run this operation or command.
var ErrForbidden = errors.New("agents: forbidden")

// ActionOf is the permission an operation needs.
func ActionOf(op string) auth.Action {
	switch op {
	case ops.OpSearch, ops.OpView:
		return auth.ActionAgentFiles
	case ops.OpCommand:
		return auth.ActionAgentCommand
	}
	return auth.ActionAgentInfo
}

// Operate sends a signed operation to agent as id and returns the
// agent's result. Every request and its outcome, refusals included, is
// in the audit log (the actor from id, never from the request).
func (s *Service) Operate(ctx context.Context, nc *nats.Conn, id auth.Identity, agent string, in OpInput) (ops.Result, error) {
	target := "agent:" + agent + " op:" + in.Op
	audit := func(result, detail string) {
		s.opsTotal.WithLabelValues(in.Op, result).Inc()
		if s.o.Audit != nil {
			s.o.Audit(ctx, id, "agent.op."+in.Op, target, result, clip(detail, 1024))
		}
	}
	if !ops.Known(in.Op) {
		return ops.Result{}, fmt.Errorf("%w: op %q: want one of sysinfo, hardware, software, processes, files.search, files.view, command", ErrBadRequest, in.Op)
	}
	if !auth.Allowed(id.Role, ActionOf(in.Op)) {
		audit("denied", "role "+string(id.Role)+" may not "+string(ActionOf(in.Op)))
		return ops.Result{}, fmt.Errorf("%w: role %s may not %s", ErrForbidden, id.Role, ActionOf(in.Op))
	}
	if s.o.Signer == nil {
		return ops.Result{}, errors.New("agents: no signing key: operations are not sent unsigned")
	}
	a, err := s.o.Store.GetAgent(ctx, agent)
	if err != nil {
		return ops.Result{}, err
	}
	if a.Kind == KindStandalone {
		return ops.Result{}, fmt.Errorf("%w: agent %s is standalone (no network path)", ErrBadRequest, agent)
	}
	now := s.o.Now().UTC()
	req := ops.Request{ID: uuid.NewString(), Agent: a.Name, Op: in.Op, Path: in.Path, Pattern: in.Pattern, Actor: id.Actor(),
		Issued: now, Expires: now.Add(2 * time.Minute)}
	detail := ""
	switch in.Op {
	case ops.OpView, ops.OpSearch:
		detail = "path " + in.Path
		if in.Pattern != "" {
			detail += " pattern " + in.Pattern
		}
	case ops.OpCommand:
		switch {
		case in.Command != "" && len(in.Argv) == 0:
			c, ok := s.o.Commands[in.Command]
			if !ok {
				audit("denied", "command "+in.Command+": not in agents.commands")
				return ops.Result{}, fmt.Errorf("%w: command %q is not in the allowlist (agents.commands)", ErrForbidden, in.Command)
			}
			if len(c.Roles) > 0 && !slices.Contains(c.Roles, id.Role) {
				audit("denied", "command "+in.Command+": role "+string(id.Role)+" not allowed")
				return ops.Result{}, fmt.Errorf("%w: role %s may not run command %q", ErrForbidden, id.Role, in.Command)
			}
			req.Argv, req.Timeout = c.Argv, c.Timeout
			detail = "command " + in.Command + ": " + strings.Join(c.Argv, " ")
		case len(in.Argv) > 0 && in.Command == "":
			if !slices.Contains(s.o.ShellRoles, id.Role) {
				audit("denied", "free-form argv: "+strings.Join(in.Argv, " "))
				return ops.Result{}, fmt.Errorf("%w: free-form commands are not allowed for role %s (agents.shell_roles); name a command of agents.commands", ErrForbidden, id.Role)
			}
			req.Argv = in.Argv
			detail = "argv: " + strings.Join(in.Argv, " ")
		default:
			return ops.Result{}, fmt.Errorf("%w: give command (a name from agents.commands) or argv, not both", ErrBadRequest)
		}
	}
	data, err := ops.Sign(s.o.Signer, req)
	if err != nil {
		return ops.Result{}, err
	}
	wait := 30 * time.Second
	if req.Timeout > 0 {
		wait = req.Timeout + 10*time.Second
	}
	rctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	msg, err := nc.RequestWithContext(rctx, bus.AgentOpSubject+"."+a.Name, data)
	if err != nil {
		audit("error", detail+": "+err.Error())
		if errors.Is(err, nats.ErrNoResponders) {
			return ops.Result{}, fmt.Errorf("agent %s is not connected: %w", agent, err)
		}
		return ops.Result{}, fmt.Errorf("agent %s: %w", agent, err)
	}
	var res ops.Result
	if err := json.Unmarshal(msg.Data, &res); err != nil {
		audit("error", detail+": malformed answer")
		return ops.Result{}, fmt.Errorf("agent %s: malformed answer: %w", agent, err)
	}
	switch {
	case res.Refused:
		audit("refused", detail+": "+res.Error)
	case !res.OK:
		audit("error", detail+": "+res.Error)
	default:
		audit("ok", fmt.Sprintf("%s: %d bytes, exit %d, truncated %v", detail, len(res.Data), res.ExitCode, res.Truncated))
	}
	return res, nil
}

// List returns every agent with its liveness as this node sees it.
func (s *Service) List(ctx context.Context) ([]AgentView, error) {
	list, err := s.o.Store.ListAgents(ctx)
	if err != nil {
		return nil, err
	}
	now := s.o.Now()
	out := make([]AgentView, 0, len(list))
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, a := range list {
		if t := s.last[a.Name]; t.After(a.LastSeen) {
			a.LastSeen = t
		}
		if x, ok := s.seen[a.Name]; ok {
			a.SlotsUsed = x.SlotsUsed
			if x.Version != "" {
				a.Version = x.Version
			}
		}
		out = append(out, AgentView{Agent: a, Live: !a.LastSeen.IsZero() && now.Sub(a.LastSeen) <= s.downAfter(), Down: s.down[a.Name]})
	}
	return out, nil
}

// Get returns one agent with its liveness.
func (s *Service) Get(ctx context.Context, name string) (AgentView, error) {
	list, err := s.List(ctx)
	if err != nil {
		return AgentView{}, err
	}
	for _, a := range list {
		if a.Name == name {
			return a, nil
		}
	}
	return AgentView{}, fmt.Errorf("agent %s: %w", name, ErrNotFound)
}

// Inventory returns an agent's newest inventory.
func (s *Service) Inventory(ctx context.Context, name string) (InventoryView, error) {
	invs, err := s.o.Store.Inventories(ctx, name, 1)
	if err != nil {
		return InventoryView{}, err
	}
	if len(invs) == 0 {
		return InventoryView{}, fmt.Errorf("agent %s: no inventory yet: %w", name, ErrNotFound)
	}
	v := InventoryView{Agent: name, At: invs[0].At, Hash: invs[0].Hash, Size: len(invs[0].Data)}
	return v, json.Unmarshal(invs[0].Data, &v.Inv)
}

// Diff is what changed between an agent's last two inventories.
func (s *Service) Diff(ctx context.Context, name string) (DiffView, error) {
	invs, err := s.o.Store.Inventories(ctx, name, 2)
	if err != nil {
		return DiffView{}, err
	}
	v := DiffView{Agent: name, Changes: []inventory.Change{}}
	if len(invs) < 2 {
		if len(invs) == 1 {
			v.To = invs[0].At
		}
		return v, nil
	}
	var a, b inventory.Inventory
	if err := errors.Join(json.Unmarshal(invs[1].Data, &a), json.Unmarshal(invs[0].Data, &b)); err != nil {
		return v, err
	}
	v.From, v.To, v.Changes = invs[1].At, invs[0].At, inventory.Diff(a, b)
	return v, nil
}

// Tokens.

// CreateToken makes an enrolment token for group (shown once).
func (s *Service) CreateToken(ctx context.Context, id auth.Identity, group string, ttl time.Duration, maxUses int) (EnrollToken, string, error) {
	t, secret, err := NewEnrollToken(group, id.Actor(), ttl, maxUses, s.o.Now())
	if err != nil {
		return EnrollToken{}, "", fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return t, secret, s.o.Store.CreateEnrollToken(ctx, t)
}

// Tokens lists the enrolment tokens.
func (s *Service) Tokens(ctx context.Context) ([]EnrollToken, error) {
	return s.o.Store.ListEnrollTokens(ctx)
}

// RevokeToken revokes one.
func (s *Service) RevokeToken(ctx context.Context, id string) error {
	return s.o.Store.RevokeEnrollToken(ctx, id, s.o.Now())
}
