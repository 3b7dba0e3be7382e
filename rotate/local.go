package rotate

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Local is a local account (/etc/shadow), changed with chpasswd.
type Local struct {
	Host, User string
	// Shadow is the shadow file (default /etc/shadow).
	Shadow string
}

// Name implements Account.
func (l Local) Name() string { return l.Host + "/local/" + l.User }

func (l Local) shadowPath() string {
	if l.Shadow == "" {
		return "/etc/shadow"
	}
	return l.Shadow
}

// hash returns the user's shadow hash.
func (l Local) hash() (string, error) {
	f, err := os.Open(l.shadowPath())
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), ":", 3)
		if len(fields) >= 2 && fields[0] == l.User {
			return fields[1], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("no user %q in %s", l.User, l.shadowPath())
}

// Save implements Account: the old hash, put back with chpasswd -e.
func (l Local) Save(ctx context.Context) (func(context.Context) error, error) {
	old, err := l.hash()
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error {
		return run(ctx, l.User+":"+old+"\n", "chpasswd", "-e")
	}, nil
}

// Set implements Account.
func (l Local) Set(ctx context.Context, pw string) error {
	return run(ctx, l.User+":"+pw+"\n", "chpasswd", "-c", "SHA512")
}

// Verify implements Account: the shadow hash re-made from the password
// and its salt must be the stored one.
func (l Local) Verify(ctx context.Context, pw string) error {
	h, err := l.hash()
	if err != nil {
		return err
	}
	// $6$salt$hash (rounds=N$ is not produced by chpasswd without
	// SHA_CRYPT_*_ROUNDS; openssl passwd cannot take it).
	parts := strings.Split(h, "$")
	if len(parts) != 4 || parts[0] != "" || parts[1] != "6" {
		return fmt.Errorf("shadow hash of %s is not a plain SHA-512 crypt ($6$salt$…)", l.User)
	}
	cmd := exec.CommandContext(ctx, "openssl", "passwd", "-6", "-salt", parts[2], "-stdin")
	cmd.Stdin = strings.NewReader(pw + "\n")
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("openssl passwd: %w", err)
	}
	if subtle.ConstantTimeCompare(bytes.TrimSpace(out), []byte(h)) != 1 {
		return errors.New("the new password does not match the shadow hash")
	}
	return nil
}

// run runs a tool with stdin (which may hold a password: never logged;
// the error carries the tool's standard error only).
func run(ctx context.Context, stdin string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 300 {
			msg = msg[:300]
		}
		return fmt.Errorf("%s: %w: %s", name, err, msg)
	}
	return nil
}
