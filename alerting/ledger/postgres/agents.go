package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unyo-ops/unyo/agents"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

var _ agents.Store = (*Store)(nil)

const agentCols = `name, host_id, grp, version, kind, home, nkey, sign_key, tags, hostname, os, enrolled, enrolled_by,
	last_seen, slots, slots_used, disabled`

const enrollCols = `id, grp, hash, created_by, created, expires, revoked, max_uses, uses, last_used`

func scanAgent(sc pgx.Row) (agents.Agent, error) {
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
	return s.tx(ctx, "put agent", func(tx pgx.Tx) error {
		if a.HostID != "" {
			var other string
			err := tx.QueryRow(ctx, `SELECT name FROM agents WHERE host_id = $1 AND name <> $2 LIMIT 1`, a.HostID, a.Name).Scan(&other)
			if err == nil {
				return fmt.Errorf("host id %q (agent %s): %w", a.HostID, other, agents.ErrHostTaken)
			} else if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO agents (`+agentCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
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
	return s.agentWhere(ctx, "name = $1", name)
}

// AgentByHostID implements agents.Store.
func (s *Store) AgentByHostID(ctx context.Context, hostID string) (agents.Agent, error) {
	if hostID == "" {
		return agents.Agent{}, fmt.Errorf("postgres ledger: agent of host id \"\": %w", agents.ErrNotFound)
	}
	return s.agentWhere(ctx, "host_id = $1", hostID)
}

func (s *Store) agentWhere(ctx context.Context, where, arg string) (agents.Agent, error) {
	if s.closed.Load() {
		return agents.Agent{}, ledger.ErrClosed
	}
	a, err := scanAgent(s.pool.QueryRow(ctx, "SELECT "+agentCols+" FROM agents WHERE "+where+" LIMIT 1", arg))
	if errors.Is(err, pgx.ErrNoRows) {
		return agents.Agent{}, fmt.Errorf("postgres ledger: agent %q: %w", arg, agents.ErrNotFound)
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
	rows, err := s.pool.Query(ctx, "SELECT "+agentCols+" FROM agents ORDER BY name")
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
	return s.tx(ctx, "delete agent", func(tx pgx.Tx) error {
		r, err := tx.Exec(ctx, "DELETE FROM agents WHERE name = $1", name)
		if err != nil {
			return err
		}
		if r.RowsAffected() == 0 {
			return fmt.Errorf("agent %q: %w", name, agents.ErrNotFound)
		}
		_, err = tx.Exec(ctx, "DELETE FROM agent_inventories WHERE agent = $1", name)
		return err
	})
}

// TouchAgents implements agents.Store.
func (s *Store) TouchAgents(ctx context.Context, seen []agents.Seen) error {
	if len(seen) == 0 {
		return nil
	}
	return s.tx(ctx, "touch agents", func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, x := range seen {
			at := microsOrZero(x.At)
			b.Queue(`UPDATE agents SET last_seen = $1, slots_used = $2,
				version = CASE WHEN $3::text <> '' THEN $3::text ELSE version END WHERE name = $4 AND last_seen < $1`,
				at, x.SlotsUsed, x.Version, x.Name)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

func scanEnroll(sc pgx.Row) (agents.EnrollToken, error) {
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
	return s.tx(ctx, "create enrolment token", func(tx pgx.Tx) error {
		r, err := tx.Exec(ctx, `INSERT INTO agent_enroll_tokens (`+enrollCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT DO NOTHING`, t.ID, t.Group, t.Hash, t.By, microsOrZero(t.Created), microsOrZero(t.Expires),
			microsOrZero(t.Revoked), t.MaxUses, t.Uses, microsOrZero(t.LastUsed))
		if err != nil {
			return err
		}
		if r.RowsAffected() == 0 {
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
	rows, err := s.pool.Query(ctx, "SELECT "+enrollCols+" FROM agent_enroll_tokens ORDER BY created DESC, id")
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
	return s.tx(ctx, "revoke enrolment token", func(tx pgx.Tx) error {
		r, err := tx.Exec(ctx, `UPDATE agent_enroll_tokens SET revoked = CASE WHEN revoked = 0 THEN $1 ELSE revoked END
			WHERE id = $2`, microsOrZero(at), id)
		if err != nil {
			return err
		}
		if r.RowsAffected() == 0 {
			return fmt.Errorf("enrolment token %s: %w", id, agents.ErrNotFound)
		}
		return nil
	})
}

// UseEnrollToken implements agents.Store.
func (s *Store) UseEnrollToken(ctx context.Context, hash string, now time.Time) (agents.EnrollToken, error) {
	var t agents.EnrollToken
	err := s.tx(ctx, "use enrolment token", func(tx pgx.Tx) error {
		var err error
		t, err = scanEnroll(tx.QueryRow(ctx, "SELECT "+enrollCols+" FROM agent_enroll_tokens WHERE hash = $1", hash))
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && !t.Live(now)) {
			return agents.ErrToken
		} else if err != nil {
			return err
		}
		t.Uses++
		t.LastUsed = now.UTC()
		_, err = tx.Exec(ctx, "UPDATE agent_enroll_tokens SET uses = uses + 1, last_used = $1 WHERE id = $2", microsOrZero(now), t.ID)
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
		return fmt.Errorf("postgres ledger: inventory of %s: %d bytes, more than %d", inv.Agent, len(inv.Data), agents.MaxInventoryBytes)
	}
	return s.tx(ctx, "put inventory", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO agent_inventories (agent, at, hash, data) VALUES ($1, $2, $3, $4)
			ON CONFLICT (agent, at) DO UPDATE SET hash = excluded.hash, data = excluded.data`,
			inv.Agent, microsOrZero(inv.At), inv.Hash, inv.Data); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM agent_inventories WHERE agent = $1 AND at NOT IN
			(SELECT at FROM agent_inventories WHERE agent = $2 ORDER BY at DESC LIMIT $3)`, inv.Agent, inv.Agent, agents.KeepInventories)
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
	rows, err := s.pool.Query(ctx, "SELECT agent, at, hash, data FROM agent_inventories WHERE agent = $1 ORDER BY at DESC LIMIT $2", agent, limit)
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
	return s.tx(ctx, "set group secret", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO agent_group_secrets (grp, hash, created_by, created) VALUES ($1, $2, $3, $4)
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
	err := s.pool.QueryRow(ctx, "SELECT grp, hash, created_by, created FROM agent_group_secrets WHERE grp = $1", group).
		Scan(&g.Group, &g.Hash, &g.By, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return g, fmt.Errorf("postgres ledger: group secret %q: %w", group, agents.ErrNotFound)
	}
	if err != nil {
		return g, s.wrap("group secret", err)
	}
	g.Created = timeOrZero(created)
	return g, nil
}

func microsOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func timeOrZero(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func (s *Store) agentsWrapNil(op string, err error) error {
	if err == nil {
		return nil
	}
	return s.wrap(op, err)
}
