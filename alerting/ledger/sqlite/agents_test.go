package sqlite

import (
	"testing"

	"github.com/unyo-ops/unyo/agents"
	"github.com/unyo-ops/unyo/agents/agentstest"
)

func TestAgentsConformance(t *testing.T) {
	agentstest.Run(t, func(t *testing.T) agents.Store { return openTest(t) })
}
