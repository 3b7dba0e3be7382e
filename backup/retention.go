package backup

import (
	"fmt"
	"slices"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
)

// Policy is what a source keeps, in restic's style: the Last newest
// generations, and the newest generation of each of the Daily last days,
// Weekly last ISO weeks and Monthly last months that have one (UTC). A
// generation any rule keeps is kept; a zero Policy keeps everything.
type Policy struct {
	Last    int `json:"last"`
	Daily   int `json:"daily"`
	Weekly  int `json:"weekly"`
	Monthly int `json:"monthly"`
}

// Zero reports whether the policy keeps everything.
func (p Policy) Zero() bool { return p == Policy{} }

// Decision is what Plan decided for one generation.
type Decision struct {
	ID     string `json:"id"`
	Action string `json:"action"` // keep, delete, hold
	Reason string `json:"reason"`
}

// Plan decides which of a source's generations to delete under p. Only
// finished generations are considered (running ones are kept). A
// generation the policy does not keep (or a failed one) is deleted only
// when a newer generation of the source is verified; otherwise it is
// held, so the newest verified generation — and so the only one — is
// never deleted.
func Plan(all []ledger.BackupRecord, p Policy) []Decision {
	bs := slices.Clone(all)
	slices.SortFunc(bs, func(a, b ledger.BackupRecord) int {
		if c := b.Started.Compare(a.Started); c != 0 {
			return c
		}
		return int(b.Generation - a.Generation)
	})
	keep := map[string]string{}
	if p.Zero() {
		for _, b := range bs {
			if b.Result == ledger.BackupOK {
				keep[b.ID] = "no keep policy"
			}
		}
	}
	ok := func(b ledger.BackupRecord) bool { return b.Result == ledger.BackupOK }
	n := 0
	for _, b := range bs {
		if ok(b) && n < p.Last {
			n++
			keep[b.ID] = fmt.Sprintf("last %d", p.Last)
		}
	}
	bucket := func(count int, what string, key func(time.Time) string) {
		last, kept := "", 0
		for _, b := range bs {
			if !ok(b) || kept >= count {
				continue
			}
			k := key(b.Started.UTC())
			if k == last {
				continue
			}
			last = k
			kept++
			if _, already := keep[b.ID]; !already {
				keep[b.ID] = fmt.Sprintf("%s %s", what, k)
			}
		}
	}
	bucket(p.Daily, "daily", func(t time.Time) string { return t.Format(time.DateOnly) })
	bucket(p.Weekly, "weekly", func(t time.Time) string { y, w := t.ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) })
	bucket(p.Monthly, "monthly", func(t time.Time) string { return t.Format("2006-01") })

	var out []Decision
	for i, b := range bs {
		if b.Result == ledger.BackupRunning {
			out = append(out, Decision{b.ID, "keep", "running"})
			continue
		}
		if r, ok := keep[b.ID]; ok {
			out = append(out, Decision{b.ID, "keep", r})
			continue
		}
		newer := ""
		for _, o := range bs[:i] {
			if o.Verified() {
				newer = o.ID
				break
			}
		}
		why := "not kept by the policy"
		if b.Result == ledger.BackupFailed {
			why = "failed"
		}
		if newer == "" {
			out = append(out, Decision{b.ID, "hold", why + ", but no newer generation is verified"})
			continue
		}
		out = append(out, Decision{b.ID, "delete", why + "; " + newer + " is verified"})
	}
	return out
}
