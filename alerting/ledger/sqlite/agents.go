package sqlite

import "github.com/unyo-ops/unyo/agents"

// The agent registry's methods are the shared ones (package sqlstore).
var _ agents.Store = (*Store)(nil)
