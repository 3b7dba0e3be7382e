package node

// enrolledTags answers jobnet for an agent enrolled at run time: its
// tags from the agents' directory (ok false without agents or for an
// agent not enrolled, or disabled).
func (n *Node) enrolledTags(name string) ([]string, bool) {
	if n.agents == nil {
		return nil, false
	}
	return n.agents.TagsOf(name)
}
