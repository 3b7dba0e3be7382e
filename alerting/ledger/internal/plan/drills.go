package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/alerting/ledger"
)

// The drill and password rules both stores apply (ledger.DrillStore,
// ledger.PasswordStore).

// MaxDrillSteps and MaxStepText bound what one drill record keeps.
const (
	MaxDrillSteps = 200
	MaxStepText   = 500
	MaxReason     = 2000
	// MaxAccount is the longest account name; MaxSealed the longest
	// sealed password.
	MaxAccount = 200
	MaxSealed  = 1024
)

// ErrNoPending is returned by CommitPassword without a pending password.
var ErrNoPending = errors.New("no pending password")

// CheckDrill validates a drill record and returns its steps as stored
// (JSON, bounded).
func CheckDrill(d ledger.DrillRecord) ([]byte, error) {
	if d.ID == "" || len(d.ID) > 200 {
		return nil, fmt.Errorf("drill id %q: want 1 to 200 bytes", d.ID)
	}
	switch d.Result {
	case ledger.DrillRunning, ledger.DrillPassed, ledger.DrillFailed, ledger.DrillAborted:
	default:
		return nil, fmt.Errorf("drill %s: result %q: want running, passed, failed or aborted", d.ID, d.Result)
	}
	steps := d.Steps
	if len(steps) > MaxDrillSteps {
		steps = append(slices.Clone(steps[:MaxDrillSteps-1]), steps[len(steps)-1])
	}
	out := make([]ledger.DrillStep, len(steps))
	for i, s := range steps {
		out[i] = ledger.DrillStep{At: s.At.UTC(), What: Clip(s.What, MaxStepText)}
	}
	return json.Marshal(out)
}

// DrillSteps decodes stored steps.
func DrillSteps(b []byte) []ledger.DrillStep {
	var s []ledger.DrillStep
	_ = json.Unmarshal(b, &s)
	return s
}

// Clip cuts s to at most n bytes without splitting a rune.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// NoDrill is the error of a drill id the store does not hold.
func NoDrill(id string) error { return fmt.Errorf("drill %q: %w", id, incident.ErrNotFound) }

// CheckPassword validates an account name and a sealed value.
func CheckPassword(account, sealed string) error {
	if account == "" || len(account) > MaxAccount {
		return fmt.Errorf("account %q: want 1 to %d bytes", account, MaxAccount)
	}
	if strings.ContainsFunc(account, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("account %q: control characters", account)
	}
	if sealed != "" && (len(sealed) > MaxSealed || !strings.HasPrefix(sealed, "enc:")) {
		return fmt.Errorf("account %s: the password must be sealed (enc:…), at most %d bytes", account, MaxSealed)
	}
	return nil
}

// NoPassword is the error of an account never rotated.
func NoPassword(account string) error {
	return fmt.Errorf("account %q: %w", account, incident.ErrNotFound)
}

// PasswordRow is one row as both stores read it: a slot, or the last
// abort (Slot "abort").
type PasswordRow struct {
	Account, Slot, Sealed, By, Reason string
	At                                time.Time
}

// PasswordRecords groups rows (ordered by account) into records; sealed
// false leaves the sealed values out.
func PasswordRecords(rows []PasswordRow, sealed bool) []ledger.PasswordRecord {
	var out []ledger.PasswordRecord
	for _, r := range rows {
		if len(out) == 0 || out[len(out)-1].Account != r.Account {
			out = append(out, ledger.PasswordRecord{Account: r.Account, Slots: map[string]ledger.PasswordSlot{}})
		}
		p := &out[len(out)-1]
		if r.Slot == "abort" {
			p.LastAbort, p.LastAbortAt = r.Reason, r.At.UTC()
			continue
		}
		sl := ledger.PasswordSlot{By: r.By, At: r.At.UTC()}
		if sealed {
			sl.Sealed = r.Sealed
		}
		p.Slots[r.Slot] = sl
	}
	return out
}
