package agents

import (
	"context"
	"time"
)

// Store keeps the registry. Both ledger stores implement it (migrations
// 0013, 0014); every node sharing a ledger shares the registry. Times are kept
// to the microsecond, UTC.
type Store interface {
	// PutAgent inserts a or replaces the agent of that name. It fails
	// with ErrHostTaken when another name holds a.HostID (an empty host
	// id is never a conflict).
	PutAgent(ctx context.Context, a Agent) error
	// GetAgent returns the agent called name, or ErrNotFound.
	GetAgent(ctx context.Context, name string) (Agent, error)
	// AgentByHostID returns the agent enrolled with hostID, or ErrNotFound.
	AgentByHostID(ctx context.Context, hostID string) (Agent, error)
	// ListAgents returns every agent, by name.
	ListAgents(ctx context.Context) ([]Agent, error)
	// SetAgentTags replaces the agent's tags, and nothing else (ErrNotFound
	// if none).
	SetAgentTags(ctx context.Context, name string, tags []string) error
	// DeleteAgent removes the agent and its inventories (ErrNotFound if none).
	DeleteAgent(ctx context.Context, name string) error
	// TouchAgents records heartbeats in one transaction: last seen (only
	// forward), version and slots in use; unknown names are ignored.
	TouchAgents(ctx context.Context, seen []Seen) error

	// CreateEnrollToken stores t (ErrExists for a used id).
	CreateEnrollToken(ctx context.Context, t EnrollToken) error
	// ListEnrollTokens returns every token, newest first.
	ListEnrollTokens(ctx context.Context) ([]EnrollToken, error)
	// RevokeEnrollToken marks the token revoked at at (ErrNotFound if none;
	// revoking twice keeps the first time).
	RevokeEnrollToken(ctx context.Context, id string, at time.Time) error
	// UseEnrollToken finds the token of hash and, if it is Live at now,
	// counts one use, atomically; else ErrToken.
	UseEnrollToken(ctx context.Context, hash string, now time.Time) (EnrollToken, error)

	// PutInventory appends an inventory of inv.Agent and keeps the newest
	// KeepInventories of that agent.
	PutInventory(ctx context.Context, inv StoredInventory) error
	// Inventories returns the agent's newest inventories, newest first,
	// at most limit (0: all kept).
	Inventories(ctx context.Context, agent string, limit int) ([]StoredInventory, error)

	// SetGroupSecret stores (or replaces) a group's uninstall secret hash.
	SetGroupSecret(ctx context.Context, g GroupSecret) error
	// GetGroupSecret returns the group's secret, or ErrNotFound.
	GetGroupSecret(ctx context.Context, group string) (GroupSecret, error)

	// ClaimUninstallAttempt counts one try of a.Agent's uninstall secret,
	// atomically for every node sharing the ledger (migration 0014): it
	// forgets the agent's attempts at or before since; when fewer than
	// max remain it records a and returns their number with it (ok true),
	// else it records nothing and returns their number (ok false).
	ClaimUninstallAttempt(ctx context.Context, a UninstallAttempt, since time.Time, max int) (n int, ok bool, err error)
	// ReleaseUninstallAttempt forgets the attempt of that id (its secret
	// was right); an unknown id is not an error.
	ReleaseUninstallAttempt(ctx context.Context, id string) error
}

// UninstallAttempt is one try of an agent's uninstall secret, counted
// cluster-wide until it leaves the window, or released when the secret
// was right.
type UninstallAttempt struct {
	ID    string // unique (random)
	Agent string
	At    time.Time
	// Node is the node that answered (for whoever reads the table).
	Node string
}
