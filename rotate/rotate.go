package rotate

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
)

// Vault keeps the passwords (node: sealed in the ledger).
type Vault interface {
	// Pending stores pw as account's pending password.
	Pending(ctx context.Context, account, pw string) error
	// Commit makes the pending password current.
	Commit(ctx context.Context, account string) error
	// Abort drops the pending password: the old one was restored.
	Abort(ctx context.Context, account, reason string) error
}

// Account is one account whose password rotates.
type Account interface {
	// Name is the account's name in the vault (HOST/local/USER).
	Name() string
	// Save returns what restores the current password.
	Save(ctx context.Context) (restore func(ctx context.Context) error, err error)
	Set(ctx context.Context, pw string) error
	Verify(ctx context.Context, pw string) error
}

// Options of Rotate.
type Options struct {
	// Length of a new password (default 24).
	Length int
	// Check, when set, is one more check of the new password after
	// Verify (tests force a failure with it).
	Check func(ctx context.Context, account, pw string) error
	// Log is told each step (no password ever).
	Log func(format string, args ...any)
}

// Alphabet of generated passwords: no quote, backslash, colon, space or
// shell metacharacter that a careless consumer could trip on.
const Alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_.+=@%^*"

// Generate returns a random password of n characters from Alphabet.
func Generate(n int) (string, error) {
	if n < 16 || n > 128 {
		return "", fmt.Errorf("rotate: length %d: want 16..128", n)
	}
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		// Rejection sampling keeps the choice uniform.
		if int(buf[0]) >= 256-256%len(Alphabet) {
			continue
		}
		b.WriteByte(Alphabet[int(buf[0])%len(Alphabet)])
	}
	return b.String(), nil
}

// ErrRestoreFailed marks a rotation whose old password could not be put
// back: the new one is then still pending in the vault, so it is known.
var ErrRestoreFailed = errors.New("rotate: restoring the old password failed")

// Rotate changes every account's password in turn; it goes on after a
// failed account and returns the failures joined.
func Rotate(ctx context.Context, v Vault, accts []Account, o Options) error {
	if o.Length == 0 {
		o.Length = 24
	}
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var errs []error
	for _, a := range accts {
		if err := rotateOne(ctx, v, a, o, logf); err != nil {
			logf("%s: FAILED: %v", a.Name(), err)
			errs = append(errs, fmt.Errorf("%s: %w", a.Name(), err))
			continue
		}
		logf("%s: rotated and verified", a.Name())
	}
	return errors.Join(errs...)
}

func rotateOne(ctx context.Context, v Vault, a Account, o Options, logf func(string, ...any)) error {
	name := a.Name()
	restore, err := a.Save(ctx)
	if err != nil {
		return fmt.Errorf("read the current password: %w (nothing changed)", err)
	}
	pw, err := Generate(o.Length)
	if err != nil {
		return err
	}
	if err := v.Pending(ctx, name, pw); err != nil {
		return fmt.Errorf("store the new password before setting it: %w (nothing changed)", err)
	}
	logf("%s: new password stored sealed (pending)", name)
	fail := func(step string, cause error) error {
		// Put the old one back; the context may have ended (a timeout),
		// the restore must still run.
		rctx := context.WithoutCancel(ctx)
		if rerr := restore(rctx); rerr != nil {
			return fmt.Errorf("%s: %w; %w: %v (the new password stays pending in the vault)", step, cause, ErrRestoreFailed, rerr)
		}
		logf("%s: old password restored", name)
		if aerr := v.Abort(rctx, name, step+": "+cause.Error()); aerr != nil {
			return fmt.Errorf("%s: %w; old password restored; dropping the pending one: %v", step, cause, aerr)
		}
		return fmt.Errorf("%s: %w; old password restored", step, cause)
	}
	if err := a.Set(ctx, pw); err != nil {
		return fail("set", err)
	}
	if err := a.Verify(ctx, pw); err != nil {
		return fail("verify", err)
	}
	if o.Check != nil {
		if err := o.Check(ctx, name, pw); err != nil {
			return fail("check", err)
		}
	}
	if err := v.Commit(ctx, name); err != nil {
		if errors.Is(err, ErrCommitUnconfirmed) {
			// Restoring could leave the vault's current one wrong: the
			// new password stays, and the vault has it.
			return fmt.Errorf("commit: %w (the new password is set and verified; the vault holds it as pending or current)", err)
		}
		return fail("commit", err)
	}
	return nil
}
