package ledger

import (
	"context"
	"time"
)

// PasswordStore keeps the passwords the rotate-password job sets, sealed
// (internal/secretbox under the cluster key: the store never sees one in
// clear). Each account has up to three slots: pending (stored before the
// password is set on the account), current and previous. It is an
// optional interface (both stores in this module implement it).
//
// Rules every implementation keeps (alerting/ledger/internal/plan):
//   - PendingPassword replaces the account's pending slot.
//   - CommitPassword moves current to previous and pending to current in
//     one transaction; without a pending slot it fails (ErrNoPending).
//   - AbortPassword drops the pending slot (the old one was restored).
//   - Password returns every slot of one account (incident.ErrNotFound
//     for an account never rotated); Passwords lists the accounts
//     without the sealed values.
type PasswordStore interface {
	PendingPassword(ctx context.Context, account, sealed, by string, at time.Time) error
	CommitPassword(ctx context.Context, account string, at time.Time) error
	AbortPassword(ctx context.Context, account, reason string, at time.Time) error
	Password(ctx context.Context, account string) (PasswordRecord, error)
	Passwords(ctx context.Context) ([]PasswordRecord, error)
}

// Password slots.
const (
	SlotPending  = "pending"
	SlotCurrent  = "current"
	SlotPrevious = "previous"
)

// PasswordRecord is what the ledger holds of one account.
type PasswordRecord struct {
	Account string `json:"account"`
	// Slots by name (pending, current, previous); Sealed is empty in a
	// listing.
	Slots map[string]PasswordSlot `json:"slots"`
	// LastAbort is why the last rotation was given up, and when.
	LastAbort   string    `json:"last_abort,omitempty"`
	LastAbortAt time.Time `json:"last_abort_at,omitzero"`
}

// PasswordSlot is one stored password.
type PasswordSlot struct {
	Sealed string    `json:"-"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at"`
}
