package node

import "context"

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
