package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/agents"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

// The agent registry (agents.Store). Its times are bigint microseconds
// since the Unix epoch, 0 when unset, in both databases (migration 0013),
// so they are written with MicrosOrZero and read with TimeOrZero, not the
// Dialect's times.

// AgentCols and EnrollCols are the columns of agents and
// agent_enroll_tokens, in the order the scans read them.
const (
	AgentCols = `name, host_id, grp, version, kind, home, nkey, sign_key, tags, hostname, os, enrolled, enrolled_by,
	last_seen, slots, slots_used, disabled`
	EnrollCols = `id, grp, hash, created_by, created, expires, revoked, max_uses, uses, last_used`
)

// touchChunk bounds the rows of one TouchAgents statement (4 arguments a
// row, well under either database's limit).
const touchChunk = 500

// MicrosOrZero is t in microseconds since the Unix epoch, 0 for the zero
// time (SQLite's times, and the agent registry's in both databases).
func MicrosOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// TimeOrZero is MicrosOrZero's inverse, in UTC.
func TimeOrZero(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func scanAgent(r Row) (agents.Agent, error) {
	var (
		a                  agents.Agent
		kind, tags         string
		enrolled, lastSeen int64
	)
	if err := r.Scan(&a.Name, &a.HostID, &a.Group, &a.Version, &kind, &a.Home, &a.NKey, &a.SignKey, &tags, &a.Hostname,
		&a.OS, &enrolled, &a.EnrolledBy, &lastSeen, &a.Slots, &a.SlotsUsed, &a.Disabled); err != nil {
		return a, err
	}
	a.Kind, a.Enrolled, a.LastSeen = agents.Kind(kind), TimeOrZero(enrolled), TimeOrZero(lastSeen)
	if err := json.Unmarshal([]byte(tags), &a.Tags); err != nil {
		return a, fmt.Errorf("agent %s tags: %w", a.Name, err)
	}
	return a, nil
}

func tagsJSON(tags []string) string {
	if tags == nil {
		tags = []string{}
	}
	b, _ := json.Marshal(tags)
	return string(b)
}

// PutAgent implements agents.Store: insert or replace by name; a host id
// another agent has is refused (agents.ErrHostTaken). The host id is locked
// first (Bulk.LockName) so that concurrent enrolments of one host cannot
// each find it free.
func (c *Core) PutAgent(ctx context.Context, a agents.Agent) error {
	return c.writeTx(ctx, "put agent", func(tx DB) error {
		if a.HostID != "" {
			if err := c.bulk.LockName(ctx, tx, LockHostID, a.HostID); err != nil {
				return err
			}
			var other string
			err := tx.QueryRow(ctx, `SELECT name FROM agents WHERE host_id = ? AND name <> ? LIMIT 1`, a.HostID, a.Name).Scan(&other)
			switch {
			case err == nil:
				return fmt.Errorf("host id %q (agent %s): %w", a.HostID, other, agents.ErrHostTaken)
			case !c.d.NoRows(err):
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO agents (`+AgentCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET host_id = excluded.host_id, grp = excluded.grp, version = excluded.version,
			kind = excluded.kind, home = excluded.home, nkey = excluded.nkey, sign_key = excluded.sign_key, tags = excluded.tags,
			hostname = excluded.hostname, os = excluded.os, enrolled = excluded.enrolled, enrolled_by = excluded.enrolled_by,
			last_seen = excluded.last_seen, slots = excluded.slots, slots_used = excluded.slots_used, disabled = excluded.disabled`,
			a.Name, a.HostID, a.Group, a.Version, string(a.Kind), a.Home, a.NKey, a.SignKey, tagsJSON(a.Tags), a.Hostname, a.OS,
			MicrosOrZero(a.Enrolled), a.EnrolledBy, MicrosOrZero(a.LastSeen), a.Slots, a.SlotsUsed, a.Disabled)
		return err
	})
}

// GetAgent implements agents.Store.
func (c *Core) GetAgent(ctx context.Context, name string) (agents.Agent, error) {
	return c.agentWhere(ctx, "name = ?", name)
}

// AgentByHostID implements agents.Store.
func (c *Core) AgentByHostID(ctx context.Context, hostID string) (agents.Agent, error) {
	if hostID == "" {
		return agents.Agent{}, c.fail(fmt.Errorf("agent of host id \"\": %w", agents.ErrNotFound))
	}
	return c.agentWhere(ctx, "host_id = ?", hostID)
}

func (c *Core) agentWhere(ctx context.Context, where, arg string) (agents.Agent, error) {
	if c.closed.Load() {
		return agents.Agent{}, ledger.ErrClosed
	}
	a, err := scanAgent(c.read.QueryRow(ctx, "SELECT "+AgentCols+" FROM agents WHERE "+where+" LIMIT 1", arg))
	if c.d.NoRows(err) {
		return agents.Agent{}, c.fail(fmt.Errorf("agent %q: %w", arg, agents.ErrNotFound))
	}
	if err != nil {
		return agents.Agent{}, c.wrap("get agent", err)
	}
	return a, nil
}

// ListAgents implements agents.Store: every agent, by name.
func (c *Core) ListAgents(ctx context.Context) ([]agents.Agent, error) {
	if c.closed.Load() {
		return nil, ledger.ErrClosed
	}
	rows, err := c.read.Query(ctx, "SELECT "+AgentCols+" FROM agents ORDER BY name")
	out, err := collect(rows, err, scanAgent)
	return out, c.wrapNil("list agents", err)
}

// DeleteAgent implements agents.Store: the agent and its inventories.
func (c *Core) DeleteAgent(ctx context.Context, name string) error {
	return c.writeTx(ctx, "delete agent", func(tx DB) error {
		n, err := tx.Exec(ctx, "DELETE FROM agents WHERE name = ?", name)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("agent %q: %w", name, agents.ErrNotFound)
		}
		if _, err = tx.Exec(ctx, "DELETE FROM agent_inventories WHERE agent = ?", name); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM agent_uninstall_attempts WHERE agent = ?", name)
		return err
	})
}

// TouchAgents implements agents.Store: heartbeats in one transaction, a
// set-based UPDATE per touchChunk agents. A heartbeat older than the one
// recorded changes nothing; of several for one agent the newest counts.
func (c *Core) TouchAgents(ctx context.Context, seen []agents.Seen) error {
	if len(seen) == 0 {
		return nil
	}
	// One row an agent: the newest heartbeat (the first of equal ones).
	newest := make(map[string]int, len(seen))
	rows := make([]agents.Seen, 0, len(seen))
	for _, x := range seen {
		i, ok := newest[x.Name]
		switch {
		case !ok:
			newest[x.Name] = len(rows)
			rows = append(rows, x)
		case MicrosOrZero(x.At) > MicrosOrZero(rows[i].At):
			rows[i] = x
		}
	}
	return c.writeTx(ctx, "touch agents", func(tx DB) error {
		for len(rows) > 0 {
			n := min(len(rows), touchChunk)
			args := make([]any, 0, 4*n)
			for _, x := range rows[:n] {
				args = append(args, x.Name, MicrosOrZero(x.At), x.SlotsUsed, x.Version)
			}
			if _, err := tx.Exec(ctx, `WITH v (name, at, used, version) AS (VALUES `+strings.TrimSuffix(strings.Repeat(
				"(CAST(? AS text), CAST(? AS bigint), CAST(? AS bigint), CAST(? AS text)), ", n), ", ")+`)
				UPDATE agents SET last_seen = v.at, slots_used = v.used,
				version = CASE WHEN v.version <> '' THEN v.version ELSE agents.version END
				FROM v WHERE agents.name = v.name AND agents.last_seen < v.at`, args...); err != nil {
				return err
			}
			rows = rows[n:]
		}
		return nil
	})
}

func scanEnroll(r Row) (agents.EnrollToken, error) {
	var (
		t                                  agents.EnrollToken
		created, expires, revoked, lastUse int64
	)
	if err := r.Scan(&t.ID, &t.Group, &t.Hash, &t.By, &created, &expires, &revoked, &t.MaxUses, &t.Uses, &lastUse); err != nil {
		return t, err
	}
	t.Created, t.Expires, t.Revoked, t.LastUsed = TimeOrZero(created), TimeOrZero(expires), TimeOrZero(revoked), TimeOrZero(lastUse)
	return t, nil
}

// CreateEnrollToken implements agents.Store (agents.ErrExists for an id
// or hash already stored).
func (c *Core) CreateEnrollToken(ctx context.Context, t agents.EnrollToken) error {
	return c.writeTx(ctx, "create enrolment token", func(tx DB) error {
		n, err := tx.Exec(ctx, `INSERT INTO agent_enroll_tokens (`+EnrollCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, t.ID, t.Group, t.Hash, t.By, MicrosOrZero(t.Created), MicrosOrZero(t.Expires),
			MicrosOrZero(t.Revoked), t.MaxUses, t.Uses, MicrosOrZero(t.LastUsed))
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("enrolment token %s: %w", t.ID, agents.ErrExists)
		}
		return nil
	})
}

// ListEnrollTokens implements agents.Store: newest first.
func (c *Core) ListEnrollTokens(ctx context.Context) ([]agents.EnrollToken, error) {
	if c.closed.Load() {
		return nil, ledger.ErrClosed
	}
	rows, err := c.read.Query(ctx, "SELECT "+EnrollCols+" FROM agent_enroll_tokens ORDER BY created DESC, id")
	out, err := collect(rows, err, scanEnroll)
	return out, c.wrapNil("list enrolment tokens", err)
}

// RevokeEnrollToken implements agents.Store: the first revocation's time
// is kept.
func (c *Core) RevokeEnrollToken(ctx context.Context, id string, at time.Time) error {
	return c.writeTx(ctx, "revoke enrolment token", func(tx DB) error {
		n, err := tx.Exec(ctx, `UPDATE agent_enroll_tokens SET revoked = CASE WHEN revoked = 0 THEN ? ELSE revoked END
			WHERE id = ?`, MicrosOrZero(at), id)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("enrolment token %s: %w", id, agents.ErrNotFound)
		}
		return nil
	})
}

// UseEnrollToken implements agents.Store: counts a use of a live token.
// The token's row is read locked (Dialect.ForUpdate, where many write), so
// concurrent enrolments cannot each take the last use of a limited token.
func (c *Core) UseEnrollToken(ctx context.Context, hash string, now time.Time) (agents.EnrollToken, error) {
	var t agents.EnrollToken
	err := c.writeTx(ctx, "use enrolment token", func(tx DB) error {
		var err error
		t, err = scanEnroll(tx.QueryRow(ctx, "SELECT "+EnrollCols+" FROM agent_enroll_tokens WHERE hash = ?"+c.d.ForUpdate(), hash))
		if c.d.NoRows(err) || (err == nil && !t.Live(now)) {
			return agents.ErrToken
		} else if err != nil {
			return err
		}
		t.Uses++
		t.LastUsed = now.UTC()
		_, err = tx.Exec(ctx, "UPDATE agent_enroll_tokens SET uses = uses + 1, last_used = ? WHERE id = ?", MicrosOrZero(now), t.ID)
		return err
	})
	if errors.Is(err, agents.ErrToken) {
		return agents.EnrollToken{}, agents.ErrToken // never which check failed
	}
	return t, err
}

// PutInventory implements agents.Store: the newest agents.KeepInventories
// of an agent are kept.
func (c *Core) PutInventory(ctx context.Context, inv agents.StoredInventory) error {
	if len(inv.Data) > agents.MaxInventoryBytes {
		return c.errorNew("inventory of %s: %d bytes, more than %d", inv.Agent, len(inv.Data), agents.MaxInventoryBytes)
	}
	return c.writeTx(ctx, "put inventory", func(tx DB) error {
		if _, err := tx.Exec(ctx, `INSERT INTO agent_inventories (agent, at, hash, data) VALUES (?, ?, ?, ?)
			ON CONFLICT (agent, at) DO UPDATE SET hash = excluded.hash, data = excluded.data`,
			inv.Agent, MicrosOrZero(inv.At), inv.Hash, inv.Data); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM agent_inventories WHERE agent = ? AND at NOT IN
			(SELECT at FROM agent_inventories WHERE agent = ? ORDER BY at DESC LIMIT ?)`, inv.Agent, inv.Agent, agents.KeepInventories)
		return err
	})
}

// Inventories implements agents.Store: newest first.
func (c *Core) Inventories(ctx context.Context, agent string, limit int) ([]agents.StoredInventory, error) {
	if c.closed.Load() {
		return nil, ledger.ErrClosed
	}
	if limit <= 0 {
		limit = agents.KeepInventories
	}
	rows, err := c.read.Query(ctx, "SELECT agent, at, hash, data FROM agent_inventories WHERE agent = ? ORDER BY at DESC LIMIT ?", agent, limit)
	out, err := collect(rows, err, func(r Row) (agents.StoredInventory, error) {
		var (
			inv agents.StoredInventory
			at  int64
		)
		err := r.Scan(&inv.Agent, &at, &inv.Hash, &inv.Data)
		inv.At = TimeOrZero(at)
		return inv, err
	})
	return out, c.wrapNil("inventories", err)
}

// SetGroupSecret implements agents.Store.
func (c *Core) SetGroupSecret(ctx context.Context, g agents.GroupSecret) error {
	return c.writeTx(ctx, "set group secret", func(tx DB) error {
		_, err := tx.Exec(ctx, `INSERT INTO agent_group_secrets (grp, hash, created_by, created) VALUES (?, ?, ?, ?)
			ON CONFLICT (grp) DO UPDATE SET hash = excluded.hash, created_by = excluded.created_by, created = excluded.created`,
			g.Group, g.Hash, g.By, MicrosOrZero(g.Created))
		return err
	})
}

// GetGroupSecret implements agents.Store.
func (c *Core) GetGroupSecret(ctx context.Context, group string) (agents.GroupSecret, error) {
	if c.closed.Load() {
		return agents.GroupSecret{}, ledger.ErrClosed
	}
	var (
		g       agents.GroupSecret
		created int64
	)
	err := c.read.QueryRow(ctx, "SELECT grp, hash, created_by, created FROM agent_group_secrets WHERE grp = ?", group).
		Scan(&g.Group, &g.Hash, &g.By, &created)
	if c.d.NoRows(err) {
		return g, c.fail(fmt.Errorf("group secret %q: %w", group, agents.ErrNotFound))
	}
	if err != nil {
		return g, c.wrap("group secret", err)
	}
	g.Created = TimeOrZero(created)
	return g, nil
}

// ClaimUninstallAttempt implements agents.Store: the agent's attempts are
// counted under a lock of its name (Bulk.LockName), so that nodes
// claiming at once cannot each see room for one more.
func (c *Core) ClaimUninstallAttempt(ctx context.Context, a agents.UninstallAttempt, since time.Time, max int) (int, bool, error) {
	var (
		n  int
		ok bool
	)
	err := c.writeTx(ctx, "claim uninstall attempt", func(tx DB) error {
		n, ok = 0, false
		if err := c.bulk.LockName(ctx, tx, LockUninstall, a.Agent); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM agent_uninstall_attempts WHERE agent = ? AND at <= ?", a.Agent, MicrosOrZero(since)); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT COUNT(*) FROM agent_uninstall_attempts WHERE agent = ?", a.Agent).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return nil
		}
		if _, err := tx.Exec(ctx, "INSERT INTO agent_uninstall_attempts (id, agent, at, node) VALUES (?, ?, ?, ?)",
			a.ID, a.Agent, MicrosOrZero(a.At), a.Node); err != nil {
			return err
		}
		n, ok = n+1, true
		return nil
	})
	return n, ok, err
}

// ReleaseUninstallAttempt implements agents.Store.
func (c *Core) ReleaseUninstallAttempt(ctx context.Context, id string) error {
	return c.writeTx(ctx, "release uninstall attempt", func(tx DB) error {
		_, err := tx.Exec(ctx, "DELETE FROM agent_uninstall_attempts WHERE id = ?", id)
		return err
	})
}
