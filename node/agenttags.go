package node

import (
	"context"

	"github.com/unyo-ops/unyo/agents"
)

// enrolledTags answers jobnet for an agent enrolled at run time: its
// tags from the agents' directory (ok false without agents or for an
// agent not enrolled, or disabled).
func (n *Node) enrolledTags(name string) ([]string, bool) {
	if n.agents == nil {
		return nil, false
	}
	return n.agents.TagsOf(name)
}

// agentMoved: an enrolled agent reported it moved to another cluster;
// this cluster's registry disables it (no heartbeat fault, its NATS
// credential refused here).
func (n *Node) agentMoved(ctx context.Context, name string) {
	if n.agents == nil {
		return
	}
	n.agents.Moved(ctx, name)
}

// enrolledGroups answers rollout's move by group: the enrolled agents
// that may still connect (not disabled, not standalone), with their
// enrolment group (nil without agents).
func (n *Node) enrolledGroups(ctx context.Context) (map[string]string, error) {
	if n.agents == nil {
		return nil, nil
	}
	list, err := n.agents.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(list))
	for _, a := range list {
		if a.Disabled || a.Kind == agents.KindStandalone {
			continue // cannot connect: no order would reach it
		}
		g := a.Group
		if g == "" {
			g = agents.DefaultGroup
		}
		out[a.Name] = g
	}
	return out, nil
}
