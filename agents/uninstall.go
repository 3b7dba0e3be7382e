package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/unyo-ops/unyo/auth"
)

// Uninstall protection: each group may have an uninstall secret (only its
// Argon2id hash is stored, a PHC string as users' passwords). An agent of
// a group with a secret uninstalls itself (`unyo agent uninstall`) only
// when the node, asked on bus.AgentUninstallSubject, finds the secret
// right; every attempt is audited, and after UninstallMaxFailures wrong
// secrets within UninstallWindow the agent's attempts are refused unseen
// until the oldest leaves the window. The wrong secrets are counted in
// the ledger (Store.ClaimUninstallAttempt), so the count is the same on
// every node sharing it: asking other nodes does not give more tries.
// It guards the agent's own uninstall path only: whoever is root on the
// server can still delete the agent's files.

// Limits of the uninstall secret.
const (
	UninstallMaxFailures = 5
	UninstallWindow      = 10 * time.Minute
	// MinSecretLen and MaxSecretLen bound a group's uninstall secret.
	MinSecretLen = auth.MinPasswordLen
	MaxSecretLen = 1024
)

// ErrUninstallRefused: a wrong uninstall secret, or too many of them.
var ErrUninstallRefused = errors.New("agents: uninstall refused")

// SecretRequest sets a group's uninstall secret (PUT
// /api/v1/agent-groups/{group}/uninstall-secret).
type SecretRequest struct {
	Secret string `json:"secret"`
}

// UninstallRequest is what `unyo agent uninstall` sends.
type UninstallRequest struct {
	Secret string `json:"secret"`
}

// SetUninstallSecret sets group's uninstall secret as id (hashed with
// Argon2id; the secret itself is neither kept nor logged).
func (s *Service) SetUninstallSecret(ctx context.Context, id auth.Identity, group, secret string) (GroupSecret, error) {
	switch {
	case !NameRE.MatchString(group):
		return GroupSecret{}, fmt.Errorf("%w: group %q: want 1 to 63 of A-Z, a-z, 0-9, '-', '_'", ErrBadRequest, group)
	case len(secret) < MinSecretLen:
		return GroupSecret{}, fmt.Errorf("%w: secret: at least %d characters", ErrBadRequest, MinSecretLen)
	case len(secret) > MaxSecretLen:
		return GroupSecret{}, fmt.Errorf("%w: secret: at most %d bytes", ErrBadRequest, MaxSecretLen)
	}
	h, err := auth.HashPassword(secret, auth.DefaultArgon2)
	if err != nil {
		return GroupSecret{}, err
	}
	g := GroupSecret{Group: group, Hash: h, By: id.Actor(), Created: s.o.Now().UTC()}
	if err := s.o.Store.SetGroupSecret(ctx, g); err != nil {
		return GroupSecret{}, err
	}
	s.log.Info("uninstall secret set", "group", group, "by", g.By)
	return g, nil
}

// Uninstall decides whether agent may uninstall itself with secret, and
// audits the attempt (the actor is the agent, from the subject it asked
// on). Allowed, the agent is disabled in the registry (no heartbeat fault,
// its NATS credential refused from its next connection). A group without
// a secret allows it (audited so). It returns ErrUninstallRefused for a
// wrong secret or too many.
func (s *Service) Uninstall(ctx context.Context, agent, secret string) error {
	id := auth.Identity{Kind: auth.Kind("agent"), Name: "agent:" + agent}
	target := "agent:" + agent
	audit := func(result, detail string) {
		if s.o.Audit != nil {
			s.o.Audit(ctx, id, "agent.uninstall", target, result, detail)
		}
	}
	now := s.o.Now().UTC()
	a, err := s.o.Store.GetAgent(ctx, agent)
	if err != nil {
		return err
	}
	if len(secret) > MaxSecretLen {
		secret = secret[:MaxSecretLen+1] // never equal to a stored secret; bounds the hashing
	}
	detail := "group " + a.Group + ": secret right"
	g, err := s.o.Store.GetGroupSecret(ctx, a.Group)
	switch {
	case errors.Is(err, ErrNotFound):
		detail = "group " + a.Group + " has no uninstall secret"
	case err != nil:
		return err
	default:
		// The try is counted before the secret is checked, cluster-wide:
		// nodes asked at once cannot each allow one more.
		try := UninstallAttempt{ID: uuid.NewString(), Agent: agent, At: now, Node: s.o.Node}
		n, ok, err := s.o.Store.ClaimUninstallAttempt(ctx, try, now.Add(-UninstallWindow), UninstallMaxFailures)
		if err != nil {
			return fmt.Errorf("agents: uninstall attempts of %s: %w", agent, err)
		}
		if !ok {
			audit("refused", fmt.Sprintf("more than %d wrong secrets within %s", UninstallMaxFailures-1, UninstallWindow))
			return fmt.Errorf("%w: %d wrong secrets within %s: try again later", ErrUninstallRefused, n, UninstallWindow)
		}
		right, err := auth.VerifyPassword(secret, g.Hash)
		if err != nil {
			_ = s.o.Store.ReleaseUninstallAttempt(ctx, try.ID) // not a wrong secret: the stored hash is unreadable
			return fmt.Errorf("agents: group %s: uninstall secret: %w", a.Group, err)
		}
		if !right {
			audit("refused", fmt.Sprintf("group %s: wrong secret (%d of %d within %s)", a.Group, n, UninstallMaxFailures, UninstallWindow))
			s.log.Warn("uninstall refused: wrong secret", "agent", agent, "group", a.Group, "failures", n)
			return fmt.Errorf("%w: wrong secret", ErrUninstallRefused)
		}
		if err := s.o.Store.ReleaseUninstallAttempt(ctx, try.ID); err != nil {
			s.log.Warn("uninstall attempt not released", "agent", agent, "err", err)
		}
	}
	a.Disabled = true
	if err := s.o.Store.PutAgent(ctx, a); err != nil {
		return err
	}
	_ = s.Refresh(ctx)
	audit("ok", detail+"; agent disabled")
	s.log.Info("agent uninstalls itself", "agent", agent, "group", a.Group)
	return nil
}

// onUninstall answers an agent's uninstall request.
func (s *Service) onUninstall(ctx context.Context, m *nats.Msg) Ack {
	var req UninstallRequest
	if len(m.Data) > 4096 || json.Unmarshal(m.Data, &req) != nil {
		return Ack{Error: "uninstall request: malformed or too large"}
	}
	if err := s.Uninstall(ctx, sender(m.Subject), req.Secret); err != nil {
		if errors.Is(err, ErrUninstallRefused) || errors.Is(err, ErrNotFound) {
			return Ack{Error: err.Error()}
		}
		s.log.Warn("uninstall request", "agent", sender(m.Subject), "err", err)
		return Ack{Error: "the node could not decide (see its log)"}
	}
	return Ack{OK: true}
}

// registerSecrets adds the uninstall-secret route.
func registerSecrets(m *auth.Mux, h *api) {
	m.HandleFunc("PUT /api/v1/agent-groups/{group}/uninstall-secret", auth.ActionAgentAdmin, h.setSecret)
}

func (h *api) setSecret(w http.ResponseWriter, r *http.Request) {
	var req SecretRequest
	if !decode(w, r, &req, 8<<10) {
		return
	}
	g, err := h.s.SetUninstallSecret(r.Context(), auth.FromRequest(r), r.PathValue("group"), req.Secret)
	if err != nil {
		writeErr(w, err)
		return
	}
	auth.Note(r.Context(), "uninstall secret of group "+g.Group)
	writeJSON(w, http.StatusOK, g)
}
