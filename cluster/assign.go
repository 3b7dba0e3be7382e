package cluster

import (
	"hash/fnv"
	"slices"
)

// Assign maps every target to one of members by rendezvous (highest random
// weight) hashing. members are the candidates (the caller passes the live
// ones); a target goes to the candidate with the highest weight among
// those at the target's site, or among all candidates when none is at its
// site. With no candidates the result is empty.
//
// Assign is pure and deterministic: the same targets and member ids give
// the same answer on every node, in any input order. It spreads targets
// evenly (each member's share is a binomial draw), and removing a member
// moves only the targets that member had.
func Assign(targets []Target, members []Member) map[string]string {
	out := make(map[string]string, len(targets))
	if len(members) == 0 {
		return out
	}
	bySite := map[string][]string{}
	all := make([]string, 0, len(members))
	for _, m := range members {
		all = append(all, m.ID)
		bySite[m.Site] = append(bySite[m.Site], m.ID)
	}
	for _, t := range targets {
		cands := all
		if t.Site != "" && len(bySite[t.Site]) > 0 {
			cands = bySite[t.Site]
		}
		out[t.Name] = rendezvous(t.Name, cands)
	}
	return out
}

// rendezvous returns the candidate with the highest weight for key; ties
// (astronomically unlikely) go to the smaller id so order never matters.
func rendezvous(key string, cands []string) string {
	var best string
	var bestW uint64
	for i, c := range cands {
		w := weight(key, c)
		if i == 0 || w > bestW || (w == bestW && c < best) {
			best, bestW = c, w
		}
	}
	return best
}

func weight(key, node string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write([]byte(node))
	return mix64(h.Sum64())
}

// mix64 is the splitmix64 finalizer; FNV alone clusters on similar names.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// PlanInput is what Plan needs to decide the next moves.
type PlanInput struct {
	// Current is target → owner and site as in the replicated state.
	Current map[string]Assignment
	// Live are the members that may own targets now.
	Live []Member
	// Stable are the ids of live members that have been live long enough
	// to receive targets taken back from another live member.
	Stable map[string]bool
	// MaxRebalance bounds the balancing moves per round (moves away from a
	// live owner). Moves of orphaned targets are never bounded.
	MaxRebalance int
}

// Plan returns the moves that bring Current towards Assign(targets, Live),
// sorted by target name. The stability rule:
//
//   - A target whose owner is not live (dead, removed, or none) moves at
//     once to its rendezvous choice among the live members.
//   - A target whose owner is live moves only if its rendezvous choice is
//     a Stable member, and at most MaxRebalance such moves are made per
//     round. So a member that comes back gets its targets back gradually,
//     and only after it has stayed up; a flapping member gets nothing back.
func Plan(in PlanInput) []Move {
	targets := make([]Target, 0, len(in.Current))
	for name, a := range in.Current {
		targets = append(targets, Target{Name: name, Site: a.Site})
	}
	slices.SortFunc(targets, func(a, b Target) int { return cmpString(a.Name, b.Name) })
	want := Assign(targets, in.Live)
	live := make(map[string]bool, len(in.Live))
	for _, m := range in.Live {
		live[m.ID] = true
	}
	var moves []Move
	rebalance := 0
	for _, t := range targets {
		cur := in.Current[t.Name].Node
		to := want[t.Name]
		if cur == to {
			continue
		}
		if !live[cur] {
			moves = append(moves, Move{Target: t.Name, From: cur, Node: to})
			continue
		}
		if to == "" || !in.Stable[to] || rebalance >= in.MaxRebalance {
			continue
		}
		rebalance++
		moves = append(moves, Move{Target: t.Name, From: cur, Node: to})
	}
	return moves
}
