package node

import (
	"github.com/unyo-ops/unyo/runbooks"
)

// runbookSet returns the runbooks of the running configuration: the
// built-ins with runbooks.dir's on top, read once per configuration (a
// reload reads them again). A directory that no longer loads keeps the
// last good set (the configuration was validated with it).
func (n *Node) runbookSet() *runbooks.Set {
	c := n.currentConfig()
	n.rbMu.Lock()
	defer n.rbMu.Unlock()
	if n.rbSet != nil && n.rbFor == c {
		return n.rbSet
	}
	if c == nil {
		n.rbSet, n.rbFor = runbooks.Builtin(), c
		return n.rbSet
	}
	s, err := c.Runbooks.Load()
	if err != nil {
		n.log.Warn("runbooks: runbooks.dir does not load; keeping the last good runbooks", "dir", c.Runbooks.Dir, "err", err)
		if n.rbSet == nil {
			n.rbSet = runbooks.Builtin()
		}
		n.rbFor = c
		return n.rbSet
	}
	n.rbSet, n.rbFor = s, c
	return s
}
