package cluster

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

func members(ids ...string) []Member {
	var out []Member
	for _, id := range ids {
		site := ""
		if i := len(id) - 1; i >= 0 {
			// "e1" → east, "w1" → west, anything else: no site.
			switch id[0] {
			case 'e':
				site = "east"
			case 'w':
				site = "west"
			}
		}
		out = append(out, Member{ID: id, Site: site})
	}
	return out
}

func targets(n int, site string) []Target {
	out := make([]Target, n)
	for i := range out {
		out[i] = Target{Name: fmt.Sprintf("%s-host-%04d", site, i), Site: site}
	}
	return out
}

func counts(a map[string]string) map[string]int {
	c := map[string]int{}
	for _, n := range a {
		c[n]++
	}
	return c
}

func TestAssign(t *testing.T) {
	tests := []struct {
		name    string
		targets []Target
		members []Member
		check   func(t *testing.T, got map[string]string)
	}{
		{
			name:    "no members assigns nothing",
			targets: targets(10, ""),
			check: func(t *testing.T, got map[string]string) {
				if len(got) != 0 {
					t.Errorf("got %v", got)
				}
			},
		},
		{
			name:    "balanced within 5%",
			targets: targets(9000, ""),
			members: members("a", "b", "c"),
			check: func(t *testing.T, got map[string]string) {
				for id, c := range counts(got) {
					if c < 2850 || c > 3150 {
						t.Errorf("%s has %d of 9000 targets, want 3000±5%%", id, c)
					}
				}
			},
		},
		{
			name:    "site preference",
			targets: append(targets(500, "east"), targets(500, "west")...),
			members: members("e1", "e2", "w1"),
			check: func(t *testing.T, got map[string]string) {
				for name, n := range got {
					if name[:4] == "east" && n != "e1" && n != "e2" || name[:4] == "west" && n != "w1" {
						t.Fatalf("%s on %s", name, n)
					}
				}
				if c := counts(got); c["e1"] < 200 || c["e2"] < 200 {
					t.Errorf("east targets unbalanced: %v", c)
				}
			},
		},
		{
			name:    "site without members falls back to all",
			targets: targets(600, "north"),
			members: members("e1", "w1", "x"),
			check: func(t *testing.T, got map[string]string) {
				if c := counts(got); len(c) != 3 || c["e1"] < 150 || c["w1"] < 150 || c["x"] < 150 {
					t.Errorf("counts = %v", c)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Assign(tc.targets, tc.members)
			if len(tc.members) > 0 && len(got) != len(tc.targets) {
				t.Fatalf("assigned %d of %d", len(got), len(tc.targets))
			}
			tc.check(t, got)
		})
	}
}

// checkAssignProperties checks what must hold for any input.
func checkAssignProperties(t *testing.T, ts []Target, ms []Member) {
	t.Helper()
	got := Assign(ts, ms)

	// Deterministic, independent of input order.
	rt, rm := slices.Clone(ts), slices.Clone(ms)
	slices.Reverse(rt)
	slices.Reverse(rm)
	if again := Assign(rt, rm); !maps.Equal(got, again) {
		t.Fatalf("order changed the result")
	}
	if len(ms) == 0 {
		return
	}
	ids := map[string]Member{}
	sites := map[string]bool{}
	for _, m := range ms {
		ids[m.ID] = m
		sites[m.Site] = true
	}
	for _, tg := range ts {
		n, ok := got[tg.Name]
		if !ok {
			t.Fatalf("%q unassigned", tg.Name)
		}
		m, ok := ids[n]
		if !ok {
			t.Fatalf("%q assigned to non-member %q", tg.Name, n)
		}
		if tg.Site != "" && sites[tg.Site] && m.Site != tg.Site {
			t.Fatalf("%q (site %s) on %s at site %s though the site has members", tg.Name, tg.Site, n, m.Site)
		}
	}
	// Minimal movement: removing a member moves only its targets.
	for i, gone := range ms {
		rest := slices.Delete(slices.Clone(ms), i, i+1)
		after := Assign(ts, rest)
		for name, before := range got {
			if before != gone.ID && after[name] != before {
				t.Fatalf("removing %s moved %s from %s to %s", gone.ID, name, before, after[name])
			}
		}
	}
}

func TestAssignProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		ts, ms := randomInput(r)
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkAssignProperties(t, ts, ms) })
	}
}

func randomInput(r *rand.Rand) ([]Target, []Member) {
	siteNames := []string{"", "east", "west", "north"}
	var ms []Member
	for i := range r.IntN(6) {
		ms = append(ms, Member{ID: fmt.Sprintf("n%d", i), Site: siteNames[r.IntN(len(siteNames))]})
	}
	var ts []Target
	for i := range r.IntN(80) {
		ts = append(ts, Target{Name: fmt.Sprintf("t%d", i), Site: siteNames[r.IntN(len(siteNames))]})
	}
	return ts, ms
}

func FuzzAssign(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Add(uint64(42), uint64(0))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		ts, ms := randomInput(rand.New(rand.NewPCG(a, b)))
		checkAssignProperties(t, ts, ms)
	})
}

func assignment(a map[string]string, site func(string) string) map[string]Assignment {
	out := map[string]Assignment{}
	for name, n := range a {
		out[name] = Assignment{Node: n, Site: site(name)}
	}
	return out
}

func TestPlan(t *testing.T) {
	ts := targets(300, "")
	all := members("a", "b", "c")
	noSite := func(string) string { return "" }
	full := Assign(ts, all)

	t.Run("dead member's targets move at once, nothing else", func(t *testing.T) {
		live := members("a", "b")
		moves := Plan(PlanInput{Current: assignment(full, noSite), Live: live, Stable: map[string]bool{"a": true, "b": true}, MaxRebalance: 0})
		if want := counts(full)["c"]; len(moves) != want {
			t.Fatalf("%d moves, want %d (c's targets)", len(moves), want)
		}
		for _, m := range moves {
			if m.From != "c" || m.Node == "c" || m.Node == "" {
				t.Fatalf("bad move %+v", m)
			}
		}
	})

	t.Run("returning member gets targets back gradually and only when stable", func(t *testing.T) {
		without := Assign(ts, members("a", "b"))
		cur := assignment(without, noSite)
		if moves := Plan(PlanInput{Current: cur, Live: all, Stable: map[string]bool{"a": true, "b": true}, MaxRebalance: 10}); len(moves) != 0 {
			t.Fatalf("moved %d targets to an unstable member", len(moves))
		}
		rounds := 0
		for {
			moves := Plan(PlanInput{Current: cur, Live: all, Stable: map[string]bool{"a": true, "b": true, "c": true}, MaxRebalance: 10})
			if len(moves) == 0 {
				break
			}
			if len(moves) > 10 {
				t.Fatalf("%d moves in one round, limit 10", len(moves))
			}
			for _, m := range moves {
				if m.Node != "c" {
					t.Fatalf("rebalance move %+v not towards the returning member", m)
				}
				a := cur[m.Target]
				a.Node = m.Node
				cur[m.Target] = a
			}
			rounds++
		}
		if want := (counts(full)["c"] + 9) / 10; rounds != want {
			t.Errorf("took %d rounds, want %d", rounds, want)
		}
		for name, a := range cur {
			if a.Node != full[name] {
				t.Fatalf("did not converge to the full assignment: %s on %s, want %s", name, a.Node, full[name])
			}
		}
	})

	t.Run("new targets are placed at once", func(t *testing.T) {
		cur := map[string]Assignment{"x": {}, "y": {}}
		if moves := Plan(PlanInput{Current: cur, Live: all}); len(moves) != 2 {
			t.Fatalf("moves = %+v", moves)
		}
	})
}
