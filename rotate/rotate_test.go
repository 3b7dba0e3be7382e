package rotate_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/unyo-ops/unyo/alerting/ledger/postgres/pgtest"
	"github.com/unyo-ops/unyo/rotate"
)

// memVault is a Vault in memory that records the order of calls.
type memVault struct {
	mu      sync.Mutex
	pending map[string]string
	current map[string]string
	calls   []string
}

func newVault() *memVault {
	return &memVault{pending: map[string]string{}, current: map[string]string{}}
}

func (v *memVault) Pending(_ context.Context, a, pw string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.pending[a] = pw
	v.calls = append(v.calls, "pending")
	return nil
}

func (v *memVault) Commit(_ context.Context, a string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.current[a] = v.pending[a]
	delete(v.pending, a)
	v.calls = append(v.calls, "commit")
	return nil
}

func (v *memVault) Abort(_ context.Context, a, _ string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.pending, a)
	v.calls = append(v.calls, "abort")
	return nil
}

// pendingSeen wraps an account: Set checks the vault already holds the
// password it is given (stored before set).
type pendingSeen struct {
	rotate.Account
	v *memVault
	t *testing.T
}

func (p pendingSeen) Set(ctx context.Context, pw string) error {
	p.v.mu.Lock()
	got := p.v.pending[p.Name()]
	p.v.mu.Unlock()
	if got != pw {
		p.t.Errorf("%s: set before the vault had it pending", p.Name())
	}
	return p.Account.Set(ctx, pw)
}

func suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func forced(context.Context, string, string) error { return errors.New("forced failure") }

// TestLocalAccount rotates a real local account made for the test
// (useradd, removed after): the new password matches the shadow hash, the
// old one does not; a forced failure keeps the old one.
func TestLocalAccount(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root (useradd, chpasswd, /etc/shadow)")
	}
	for _, tool := range []string{"useradd", "userdel", "chpasswd", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s: %v (scripts/test-deps.sh)", tool, err)
		}
	}
	user := "unyorot" + suffix()
	if out, err := exec.Command("useradd", "-M", "-s", "/usr/sbin/nologin", user).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("userdel", user).Run() })
	const old = "Old-password-0123456789"
	chp := exec.Command("chpasswd", "-c", "SHA512")
	chp.Stdin = strings.NewReader(user + ":" + old + "\n")
	if out, err := chp.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v: %s", err, out)
	}
	acct := rotate.Local{Host: "h1", User: user}
	if err := acct.Verify(t.Context(), old); err != nil {
		t.Fatalf("old password before: %v", err)
	}

	// A forced failure: the old one stays, the pending one is dropped.
	v := newVault()
	err := rotate.Rotate(t.Context(), v, []rotate.Account{pendingSeen{acct, v, t}}, rotate.Options{Check: forced})
	if err == nil || !strings.Contains(err.Error(), "old password restored") {
		t.Fatalf("forced failure: %v", err)
	}
	if err := acct.Verify(t.Context(), old); err != nil {
		t.Fatalf("old password after a failed rotation: %v", err)
	}
	if len(v.pending) != 0 || len(v.current) != 0 || strings.Join(v.calls, ",") != "pending,abort" {
		t.Fatalf("vault after failure: %+v", v)
	}

	// A rotation: the new one works, the old one does not.
	if err := rotate.Rotate(t.Context(), v, []rotate.Account{pendingSeen{acct, v, t}}, rotate.Options{}); err != nil {
		t.Fatal(err)
	}
	pw := v.current[acct.Name()]
	if len(pw) != 24 {
		t.Fatalf("new password of %d characters", len(pw))
	}
	if err := acct.Verify(t.Context(), pw); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if err := acct.Verify(t.Context(), old); err == nil {
		t.Fatal("the old password still matches")
	}
}

// TestPostgresRole rotates a real PostgreSQL role; a pg_hba line added
// for that role alone (removed after) makes its logins need the password,
// so a login proves which password works.
func TestPostgresRole(t *testing.T) {
	t.Parallel()
	admin := pgtest.AdminURL()
	ctx := t.Context()
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Skipf("PostgreSQL: %v", err)
	}
	defer c.Close(context.Background())
	var hba string
	if err := c.QueryRow(ctx, "SHOW hba_file").Scan(&hba); err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(hba)
	if err != nil {
		t.Skipf("pg_hba.conf not writable here: %v", err)
	}
	role := "unyo_rot_" + suffix()
	const old = "Old-password-0123456789"
	if _, err := c.Exec(ctx, "CREATE ROLE "+role+" LOGIN PASSWORD '"+old+"'"); err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("host all %s 127.0.0.1/32 scram-sha-256 # unyo rotate test\n", role)
	if err := editHBA(hba, func(s string) string { return line + s }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = editHBA(hba, func(s string) string { return strings.ReplaceAll(s, line, "") })
		cc, err := pgx.Connect(context.Background(), admin)
		if err == nil {
			_, _ = cc.Exec(context.Background(), "SELECT pg_reload_conf()")
			_, _ = cc.Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
			cc.Close(context.Background())
		}
		_ = orig
	})
	if _, err := c.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	acct := rotate.Postgres{Host: "db1", Role: role, Admin: admin}
	// The reload is asynchronous: wait until a wrong password is refused.
	deadline := time.Now().Add(30 * time.Second)
	for acct.Verify(ctx, "wrong-password-0000") == nil {
		if time.Now().After(deadline) {
			t.Fatal("pg_hba line not in force")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := acct.Verify(ctx, old); err != nil {
		t.Fatalf("old password before: %v", err)
	}
	v := newVault()
	if err := rotate.Rotate(ctx, v, []rotate.Account{pendingSeen{acct, v, t}}, rotate.Options{Check: forced}); err == nil {
		t.Fatal("forced failure not reported")
	}
	if err := acct.Verify(ctx, old); err != nil {
		t.Fatalf("old password after a failed rotation: %v", err)
	}
	if err := rotate.Rotate(ctx, v, []rotate.Account{pendingSeen{acct, v, t}}, rotate.Options{}); err != nil {
		t.Fatal(err)
	}
	pw := v.current[acct.Name()]
	if err := acct.Verify(ctx, pw); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if err := acct.Verify(ctx, old); err == nil {
		t.Fatal("the old password still logs in")
	}
}

var hbaMu sync.Mutex

func editHBA(path string, f func(string) string) error {
	hbaMu.Lock()
	defer hbaMu.Unlock()
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(f(string(b))), fi.Mode())
}

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		pw, err := rotate.Generate(16)
		if err != nil || len(pw) != 16 || strings.ContainsAny(pw, "'\\: \"$`") || seen[pw] {
			t.Fatalf("%q %v", pw, err)
		}
		seen[pw] = true
	}
	if _, err := rotate.Generate(8); err == nil {
		t.Fatal("length 8 accepted")
	}
}

func TestSCRAMVerifierShape(t *testing.T) {
	v, err := rotate.SCRAMVerifier("x")
	if err != nil || !strings.HasPrefix(v, "SCRAM-SHA-256$4096:") || strings.Count(v, "$") != 2 {
		t.Fatalf("%q %v", v, err)
	}
}
