package test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestMoveAgents: 10 agents of a group are moved to a new cluster, 3 of
// them offline. The 7 online confirm with the new cluster and leave;
// decommissioning the old cluster is refused while the 3 have not moved
// (`agents not-moved` lists them with the reason); the 3 move at their
// next start, and then the old cluster decommissions.
func TestMoveAgents(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dirA, dirB := filepath.Join(root, "old"), filepath.Join(root, "new")
	_, pub := releaseKeys(t, root)
	names := make([]string, 10)
	for i := range names {
		names[i] = fmt.Sprintf("m%d", i)
	}
	oldN, oldNATS, oldTrust := fleetNode(t, dirA, pub, names, "grp", "")
	newN, newNATS, newTrust := fleetNode(t, dirB, pub, names, "grp", "")
	srvA := "--server=" + oldN.URL
	agents := make([]*fleetAgent, len(names))
	for i, n := range names {
		agents[i] = newFleetAgent(t, filepath.Join(root, "agents"), n, oldNATS, oldTrust, pub)
		if i >= 3 {
			agents[i].start(t)
		}
	}
	cA, _ := client.New(oldN.URL, client.WithToken(testutil.AdminToken))
	cB, _ := client.New(newN.URL, client.WithToken(testutil.AdminToken))
	ctx := t.Context()
	seenBy := func(c *client.Client, name string) bool {
		left, err := c.NotMoved(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range left {
			if l.Agent == name {
				return !l.LastSeen.IsZero()
			}
		}
		return false
	}
	waitFor(t, "the online agents to report to the old cluster", func() bool {
		for _, a := range agents[3:] {
			if !seenBy(cA, a.name) {
				return false
			}
		}
		return true
	})

	// Only an admin may move agents; the viewer is refused and audited.
	viewer := addUser(t, oldN.URL, "mover", "viewer")
	unyoAs(t, viewer, 1, "agents", "move", "--to", newNATS, "--trust-key", newTrust, "--group", "grp", srvA)
	out := unyo(t, 0, "agents", "move", "--to", newNATS, "--trust-key", newTrust, "--group", "grp", srvA)
	if !strings.Contains(out, "10 agents") {
		t.Fatalf("agents move: %s", out)
	}
	waitLong(t, time.Minute, "the 7 online agents to move", func() bool {
		left, err := cA.NotMoved(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(left) == 3
	})
	for _, a := range agents[3:] {
		waitFor(t, a.name+" to report to the new cluster", func() bool { return seenBy(cB, a.name) })
	}
	nm := unyo(t, 0, "agents", "not-moved", srvA)
	for _, a := range agents[:3] {
		if !strings.Contains(nm, a.name) || !strings.Contains(nm, "not seen since the move was ordered") {
			t.Fatalf("agents not-moved:\n%s", nm)
		}
	}
	// Refused while 3 have not moved.
	unyo(t, 1, "cluster", "decommission", srvA)

	for _, a := range agents[:3] {
		a.start(t)
	}
	waitLong(t, time.Minute, "the 3 offline agents to move at their start", func() bool {
		left, err := cA.NotMoved(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(left) == 0
	})
	for _, a := range agents[:3] {
		waitFor(t, a.name+" to report to the new cluster", func() bool { return seenBy(cB, a.name) })
	}
	unyo(t, 0, "cluster", "decommission", srvA)
	audit := unyo(t, 0, "audit", "list", srvA)
	for _, want := range []string{"agent.move", "cluster.decommission"} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit log has no %s entry:\n%s", want, audit)
		}
	}
}

// TestDecommissionWaiver: with agents not moved, decommission needs a
// waiver, which the audit log keeps.
func TestDecommissionWaiver(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, pub := releaseKeys(t, dir)
	p, _, _ := fleetNode(t, dir, pub, []string{"w1"}, "grp", "")
	srv := "--server=" + p.URL
	if out := unyo(t, 0, "agents", "not-moved", srv); !strings.Contains(out, "w1") {
		t.Fatalf("not-moved:\n%s", out)
	}
	unyo(t, 1, "cluster", "decommission", srv)
	unyo(t, 0, "cluster", "decommission", "--waiver", "w1 was scrapped", srv)
	if audit := unyo(t, 0, "audit", "list", srv); !strings.Contains(audit, "w1 was scrapped") {
		t.Errorf("the waiver is not in the audit log:\n%s", audit)
	}
	unyo(t, 1, "cluster", "decommission", "--waiver", "again", srv)
}
