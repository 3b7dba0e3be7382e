package sqlite

import (
	"testing"

	"github.com/unyo-ops/unyo/agents"
	"github.com/unyo-ops/unyo/agents/agentstest"
)

func TestAgentsConcurrent(t *testing.T) {
	agentstest.RunConcurrent(t, func(t *testing.T) agents.Store { return openTest(t) })
}
