package rotate_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/rotate"
)

// TestSealFor: a password sealed to the cluster's curve key opens with
// the key derived from the same cluster secret only, for the account it
// was sealed for only; the key is the same on every node.
func TestSealFor(t *testing.T) {
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	pub, err := rotate.ClusterCurvePublic(secret)
	if err != nil || !strings.HasPrefix(pub, "X") {
		t.Fatalf("public key %q: %v", pub, err)
	}
	if again, _ := rotate.ClusterCurvePublic(bytes.Clone(secret)); again != pub {
		t.Fatal("the curve key is not derived deterministically from the cluster secret")
	}
	const pw = "New-password-0123456789ab"
	sealed, sender, err := rotate.SealFor(pub, "web01/local/app", pw)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte(pw)) {
		t.Fatal("the sealed bytes hold the password")
	}
	kp, _ := rotate.ClusterCurveKey(secret)
	if got, err := rotate.OpenFor(kp, "web01/local/app", sealed, sender); err != nil || got != pw {
		t.Fatalf("open: %q, %v", got, err)
	}
	if _, err := rotate.OpenFor(kp, "web02/local/app", sealed, sender); !errors.Is(err, rotate.ErrUnseal) {
		t.Errorf("opened for another account: %v", err)
	}
	other := make([]byte, 32)
	_, _ = rand.Read(other)
	okp, _ := rotate.ClusterCurveKey(other)
	if _, err := rotate.OpenFor(okp, "web01/local/app", sealed, sender); !errors.Is(err, rotate.ErrUnseal) {
		t.Errorf("opened with another cluster's key: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := rotate.OpenFor(kp, "web01/local/app", sealed, sender); !errors.Is(err, rotate.ErrUnseal) {
		t.Errorf("opened an edited value: %v", err)
	}
	if _, _, err := rotate.SealFor("Unot-a-curve-key", "a/local/b", pw); !errors.Is(err, rotate.ErrSeal) {
		t.Errorf("sealed to a non-curve key: %v", err)
	}
}

// memAccount is an account in memory.
type memAccount struct{ pw string }

func (a *memAccount) Name() string { return "h/local/mem" }
func (a *memAccount) Save(context.Context) (func(context.Context) error, error) {
	old := a.pw
	return func(context.Context) error { a.pw = old; return nil }, nil
}
func (a *memAccount) Set(_ context.Context, pw string) error { a.pw = pw; return nil }
func (a *memAccount) Verify(_ context.Context, pw string) error {
	if a.pw != pw {
		return errors.New("wrong password")
	}
	return nil
}

// unconfirmedVault's commit is never confirmed (a remote vault whose
// answer was lost).
type unconfirmedVault struct{ *memVault }

func (v unconfirmedVault) Commit(context.Context, string) error {
	return fmt.Errorf("%w: no answer from a node", rotate.ErrCommitUnconfirmed)
}

// TestCommitUnconfirmed: a commit that may have happened leaves the new
// password set (the vault has it pending) instead of restoring the old
// one behind the vault's back; a plain commit failure restores.
func TestCommitUnconfirmed(t *testing.T) {
	a := &memAccount{pw: "Old-password-0123456789"}
	v := newVault()
	err := rotate.Rotate(t.Context(), unconfirmedVault{v}, []rotate.Account{a}, rotate.Options{})
	if !errors.Is(err, rotate.ErrCommitUnconfirmed) {
		t.Fatalf("err = %v, want ErrCommitUnconfirmed", err)
	}
	if p := v.pending[a.Name()]; p == "" || a.pw != p {
		t.Fatalf("account has %q, vault pending %q: want the new password on both", a.pw, p)
	}
	b := &memAccount{pw: "Old-password-0123456789"}
	err = rotate.Rotate(t.Context(), failingCommit{newVault()}, []rotate.Account{b}, rotate.Options{})
	if err == nil || !strings.Contains(err.Error(), "old password restored") || b.pw != "Old-password-0123456789" {
		t.Fatalf("plain commit failure: %v, account %q", err, b.pw)
	}
}

type failingCommit struct{ *memVault }

func (v failingCommit) Commit(context.Context, string) error { return errors.New("ledger down") }
