package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/unyo-ops/unyo/agents"
)

// SetAgentTags implements agents.Store: it replaces the agent's tags (the
// JSON array of the agents table's tags column, in both stores) and
// nothing else, so that it does not race the registry's other writes.
func (c *Core) SetAgentTags(ctx context.Context, name string, tags []string) error {
	if tags == nil {
		tags = []string{}
	}
	b, err := json.Marshal(tags)
	if err != nil {
		return err
	}
	return c.writeTx(ctx, "set agent tags", func(tx DB) error {
		n, err := tx.Exec(ctx, `UPDATE agents SET tags = ? WHERE name = ?`, string(b), name)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("agent %q: %w", name, agents.ErrNotFound)
		}
		return nil
	})
}
