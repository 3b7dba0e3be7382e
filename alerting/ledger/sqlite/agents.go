package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/unyo-ops/unyo/agents"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

var _ agents.Store = (*Store)(nil)

const agentCols = `name, host_id, grp, version, kind, home, nkey, sign_key, tags, hostname, os, enrolled, enrolled_by,
	last_seen, slots, slots_used, disabled`

const enrollCols = `id, grp, hash, created_by, created, expires, revoked, max_uses, uses, last_used`

func scanAgent(sc scanner) (agents.Agent, error) {
	var (
		a                  agents.Agent
		kind, tags         string
		enrolled, lastSeen int64
	)
	if err := sc.Scan(&a.Name, &a.HostID, &a.Group, &a.Version, &kind, &a.Home, &a.NKey, &a.SignKey, &tags, &a.Hostname,
		&a.OS, &enrolled, &a.EnrolledBy, &lastSeen, &a.Slots, &a.SlotsUsed, &a.Disabled); err != nil {
		return a, err
	}
	a.Kind, a.Enrolled, a.LastSeen = agents.Kind(kind), timeOrZero(enrolled), timeOrZero(lastSeen)
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

// PutAgent implements agents.Store.
func (s *Store) PutAgent(ctx context.Context, a agents.Agent) error {
	return s.writeTx(ctx, "put agent", func(tx *sql.Tx) error {
		if a.HostID != "" {
			var other string
			err := tx.QueryRowContext(ctx, `SELECT name FROM agents WHERE host_id = ? AND name <> ? LIMIT 1`, a.HostID, a.Name).Scan(&other)
			if err == nil {
				return fmt.Errorf("host id %q (agent %s): %w", a.HostID, other, agents.ErrHostTaken)
			} else if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO agents (`+agentCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET host_id = excluded.host_id, grp = excluded.grp, version = excluded.version,
			kind = excluded.kind, home = excluded.home, nkey = excluded.nkey, sign_key = excluded.sign_key, tags = excluded.tags,
			hostname = excluded.hostname, os = excluded.os, enrolled = excluded.enrolled, enrolled_by = excluded.enrolled_by,
			last_seen = excluded.last_seen, slots = excluded.slots, slots_used = excluded.slots_used, disabled = excluded.disabled`,
			a.Name, a.HostID, a.Group, a.Version, string(a.Kind), a.Home, a.NKey, a.SignKey, tagsJSON(a.Tags), a.Hostname, a.OS,
			microsOrZero(a.Enrolled), a.EnrolledBy, microsOrZero(a.LastSeen), a.Slots, a.SlotsUsed, a.Disabled)
		return err
	})
}

// GetAgent implements agents.Store.
func (s *Store) GetAgent(ctx context.Context, name string) (agents.Agent, error) {
	return s.agentWhere(ctx, "name = ?", name)
}

// AgentByHostID implements agents.Store.
func (s *Store) AgentByHostID(ctx context.Context, hostID string) (agents.Agent, error) {
	if hostID == "" {
		return agents.Agent{}, fmt.Errorf("sqlite ledger: agent of host id \"\": %w", agents.ErrNotFound)
	}
	return s.agentWhere(ctx, "host_id = ?", hostID)
}

func (s *Store) agentWhere(ctx context.Context, where, arg string) (agents.Agent, error) {
	if s.closed.Load() {
		return agents.Agent{}, ledger.ErrClosed
	}
	a, err := scanAgent(s.r.QueryRowContext(ctx, "SELECT "+agentCols+" FROM agents WHERE "+where+" LIMIT 1", arg))
	if errors.Is(err, sql.ErrNoRows) {
		return agents.Agent{}, fmt.Errorf("sqlite ledger: agent %q: %w", arg, agents.ErrNotFound)
	}
	if err != nil {
		return agents.Agent{}, s.wrap("get agent", err)
	}
	return a, nil
}

// ListAgents implements agents.Store.
func (s *Store) ListAgents(ctx context.Context) ([]agents.Agent, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	rows, err := s.r.QueryContext(ctx, "SELECT "+agentCols+" FROM agents ORDER BY name")
	if err != nil {
		return nil, s.wrap("list agents", err)
	}
	defer rows.Close()
	var out []agents.Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, s.wrap("list agents", err)
		}
		out = append(out, a)
	}
	return out, s.agentsWrapNil("list agents", rows.Err())
}

// DeleteAgent implements agents.Store.
func (s *Store) DeleteAgent(ctx context.Context, name string) error {
	return s.writeTx(ctx, "delete agent", func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, "DELETE FROM agents WHERE name = ?", name)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("agent %q: %w", name, agents.ErrNotFound)
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM agent_inventories WHERE agent = ?", name)
		return err
	})
}

// TouchAgents implements agents.Store.
func (s *Store) TouchAgents(ctx context.Context, seen []agents.Seen) error {
	if len(seen) == 0 {
		return nil
	}
	return s.writeTx(ctx, "touch agents", func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `UPDATE agents SET last_seen = ?, slots_used = ?,
			version = CASE WHEN ? <> '' THEN ? ELSE version END WHERE name = ? AND last_seen < ?`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, x := range seen {
			at := microsOrZero(x.At)
			if _, err := st.ExecContext(ctx, at, x.SlotsUsed, x.Version, x.Version, x.Name, at); err != nil {
				return err
			}
		}
		return nil
	})
}

func scanEnroll(sc scanner) (agents.EnrollToken, error) {
	var (
		t                                  agents.EnrollToken
		created, expires, revoked, lastUse int64
	)
	if err := sc.Scan(&t.ID, &t.Group, &t.Hash, &t.By, &created, &expires, &revoked, &t.MaxUses, &t.Uses, &lastUse); err != nil {
		return t, err
	}
	t.Created, t.Expires, t.Revoked, t.LastUsed = timeOrZero(created), timeOrZero(expires), timeOrZero(revoked), timeOrZero(lastUse)
	return t, nil
}

// CreateEnrollToken implements agents.Store.
func (s *Store) CreateEnrollToken(ctx context.Context, t agents.EnrollToken) error {
	return s.writeTx(ctx, "create enrolment token", func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `INSERT INTO agent_enroll_tokens (`+enrollCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT DO NOTHING`, t.ID, t.Group, t.Hash, t.By, microsOrZero(t.Created), microsOrZero(t.Expires),
			microsOrZero(t.Revoked), t.MaxUses, t.Uses, microsOrZero(t.LastUsed))
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("enrolment token %s: %w", t.ID, agents.ErrExists)
		}
		return nil
	})
}

// ListEnrollTokens implements agents.Store.
func (s *Store) ListEnrollTokens(ctx context.Context) ([]agents.EnrollToken, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	rows, err := s.r.QueryContext(ctx, "SELECT "+enrollCols+" FROM agent_enroll_tokens ORDER BY created DESC, id")
	if err != nil {
		return nil, s.wrap("list enrolment tokens", err)
	}
	defer rows.Close()
	var out []agents.EnrollToken
	for rows.Next() {
		t, err := scanEnroll(rows)
		if err != nil {
			return nil, s.wrap("list enrolment tokens", err)
		}
		out = append(out, t)
	}
	return out, s.agentsWrapNil("list enrolment tokens", rows.Err())
}

// RevokeEnrollToken implements agents.Store.
func (s *Store) RevokeEnrollToken(ctx context.Context, id string, at time.Time) error {
	return s.writeTx(ctx, "revoke enrolment token", func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE agent_enroll_tokens SET revoked = CASE WHEN revoked = 0 THEN ? ELSE revoked END
			WHERE id = ?`, microsOrZero(at), id)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("enrolment token %s: %w", id, agents.ErrNotFound)
		}
		return nil
	})
}

// UseEnrollToken implements agents.Store.
func (s *Store) UseEnrollToken(ctx context.Context, hash string, now time.Time) (agents.EnrollToken, error) {
	var t agents.EnrollToken
	err := s.writeTx(ctx, "use enrolment token", func(tx *sql.Tx) error {
		var err error
		t, err = scanEnroll(tx.QueryRowContext(ctx, "SELECT "+enrollCols+" FROM agent_enroll_tokens WHERE hash = ?", hash))
		if errors.Is(err, sql.ErrNoRows) || (err == nil && !t.Live(now)) {
			return agents.ErrToken
		} else if err != nil {
			return err
		}
		t.Uses++
		t.LastUsed = now.UTC()
		_, err = tx.ExecContext(ctx, "UPDATE agent_enroll_tokens SET uses = uses + 1, last_used = ? WHERE id = ?", microsOrZero(now), t.ID)
		return err
	})
	if errors.Is(err, agents.ErrToken) {
		return agents.EnrollToken{}, agents.ErrToken
	}
	return t, err
}

// PutInventory implements agents.Store.
func (s *Store) PutInventory(ctx context.Context, inv agents.StoredInventory) error {
	if len(inv.Data) > agents.MaxInventoryBytes {
		return fmt.Errorf("sqlite ledger: inventory of %s: %d bytes, more than %d", inv.Agent, len(inv.Data), agents.MaxInventoryBytes)
	}
	return s.writeTx(ctx, "put inventory", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO agent_inventories (agent, at, hash, data) VALUES (?, ?, ?, ?)
			ON CONFLICT (agent, at) DO UPDATE SET hash = excluded.hash, data = excluded.data`,
			inv.Agent, microsOrZero(inv.At), inv.Hash, inv.Data); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM agent_inventories WHERE agent = ? AND at NOT IN
			(SELECT at FROM agent_inventories WHERE agent = ? ORDER BY at DESC LIMIT ?)`, inv.Agent, inv.Agent, agents.KeepInventories)
		return err
	})
}

// Inventories implements agents.Store.
func (s *Store) Inventories(ctx context.Context, agent string, limit int) ([]agents.StoredInventory, error) {
	if s.closed.Load() {
		return nil, ledger.ErrClosed
	}
	if limit <= 0 {
		limit = agents.KeepInventories
	}
	rows, err := s.r.QueryContext(ctx, "SELECT agent, at, hash, data FROM agent_inventories WHERE agent = ? ORDER BY at DESC LIMIT ?", agent, limit)
	if err != nil {
		return nil, s.wrap("inventories", err)
	}
	defer rows.Close()
	var out []agents.StoredInventory
	for rows.Next() {
		var (
			inv agents.StoredInventory
			at  int64
		)
		if err := rows.Scan(&inv.Agent, &at, &inv.Hash, &inv.Data); err != nil {
			return nil, s.wrap("inventories", err)
		}
		inv.At = timeOrZero(at)
		out = append(out, inv)
	}
	return out, s.agentsWrapNil("inventories", rows.Err())
}

// SetGroupSecret implements agents.Store.
func (s *Store) SetGroupSecret(ctx context.Context, g agents.GroupSecret) error {
	return s.writeTx(ctx, "set group secret", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO agent_group_secrets (grp, hash, created_by, created) VALUES (?, ?, ?, ?)
			ON CONFLICT (grp) DO UPDATE SET hash = excluded.hash, created_by = excluded.created_by, created = excluded.created`,
			g.Group, g.Hash, g.By, microsOrZero(g.Created))
		return err
	})
}

// GetGroupSecret implements agents.Store.
func (s *Store) GetGroupSecret(ctx context.Context, group string) (agents.GroupSecret, error) {
	if s.closed.Load() {
		return agents.GroupSecret{}, ledger.ErrClosed
	}
	var (
		g       agents.GroupSecret
		created int64
	)
	err := s.r.QueryRowContext(ctx, "SELECT grp, hash, created_by, created FROM agent_group_secrets WHERE grp = ?", group).
		Scan(&g.Group, &g.Hash, &g.By, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return g, fmt.Errorf("sqlite ledger: group secret %q: %w", group, agents.ErrNotFound)
	}
	if err != nil {
		return g, s.wrap("group secret", err)
	}
	g.Created = timeOrZero(created)
	return g, nil
}

func (s *Store) agentsWrapNil(op string, err error) error {
	if err == nil {
		return nil
	}
	return s.wrap(op, err)
}
