package auth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/auth"
)

func newService(t testing.TB, now func() time.Time) (*auth.Service, *sqlite.Store) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := auth.NewService(auth.Options{Store: st, Now: now, CacheTTL: time.Hour, MaxConcurrentHashes: 2})
	if err != nil {
		t.Fatal(err)
	}
	return s, st
}

var admin = auth.Identity{Kind: auth.KindToken, Name: "root", Role: auth.RoleAdmin}

func TestLoginAndSessions(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t, nil)
	if _, err := s.AddUser(ctx, "sato", auth.RoleOperator, "short"); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("short password: %v, want ErrInvalid", err)
	}
	if _, err := s.AddUser(ctx, "Sato San", auth.RoleOperator, ""); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := s.AddUser(ctx, "sato", "root", ""); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("bad role: %v", err)
	}
	if _, err := s.AddUser(ctx, "sato", auth.RoleOperator, "a long enough password"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ user, pw string }{{"sato", "wrong password!!"}, {"nobody", "a long enough password"}, {"sato", ""}} {
		if _, _, err := s.Login(ctx, c.user, c.pw); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Errorf("login %s/%q: %v, want ErrInvalidCredentials", c.user, c.pw, err)
		}
	}
	secret, tok, err := s.Login(ctx, "sato", "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Kind != auth.TokenSession || tok.Role != auth.RoleOperator || tok.Expires.Sub(tok.Created) != 12*time.Hour {
		t.Errorf("session %+v", tok)
	}
	id, err := s.AuthenticateToken(ctx, secret, "10.0.0.1")
	if err != nil || id.Name != "sato" || id.Role != auth.RoleOperator || id.Kind != auth.KindSession {
		t.Fatalf("authenticate: %+v %v", id, err)
	}
	waitFor(t, "the session shows as logged in", func() bool {
		ss, err := s.Sessions(ctx)
		return err == nil && len(ss) == 1 && ss[0].User == "sato" && ss[0].From == "10.0.0.1"
	})
	// Disabling the user ends the session at once on this node.
	d := true
	if _, err := s.UpdateUser(ctx, "sato", auth.UserChange{Disabled: &d}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateToken(ctx, secret, ""); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("disabled user's session: %v", err)
	}
	if _, _, err := s.Login(ctx, "sato", "a long enough password"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("disabled user's login: %v", err)
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, _ := newService(t, clock)
	for _, u := range []struct {
		name string
		role auth.Role
	}{{"root", auth.RoleAdmin}, {"view", auth.RoleViewer}, {"op", auth.RoleOperator}} {
		if _, err := s.AddUser(ctx, u.name, u.role, ""); err != nil {
			t.Fatal(err)
		}
	}
	view := auth.Identity{Kind: auth.KindToken, Name: "view", Role: auth.RoleViewer}
	if _, _, err := s.CreateToken(ctx, view, "", "ci", auth.RoleOperator, 0); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("viewer made an operator token: %v", err)
	}
	if _, _, err := s.CreateToken(ctx, view, "op", "ci", "", 0); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("viewer made a token for op: %v", err)
	}
	if _, _, err := s.CreateToken(ctx, admin, "view", "ci", auth.RoleAdmin, 0); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("admin made an admin token for a viewer: %v", err)
	}
	secret, tok, err := s.CreateToken(ctx, admin, "op", "ci", auth.RoleViewer, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Owner != "op" || tok.Role != auth.RoleViewer || !tok.Expires.Equal(now.Add(time.Hour)) || tok.Hash != auth.HashSecret(secret) {
		t.Fatalf("token %+v", tok)
	}
	id, err := s.AuthenticateToken(ctx, secret, "")
	if err != nil || id.Name != "op" || id.Role != auth.RoleViewer || id.TokenID != tok.ID {
		t.Fatalf("authenticate: %+v %v", id, err)
	}
	// Expiry holds even while the verification is cached.
	mu.Lock()
	now = now.Add(time.Hour)
	mu.Unlock()
	if _, err := s.AuthenticateToken(ctx, secret, ""); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("expired token: %v", err)
	}
	// A revoke by its owner takes effect at once, cached or not.
	secret2, tok2, err := s.CreateToken(ctx, auth.Identity{Kind: auth.KindSession, Name: "op", Role: auth.RoleOperator}, "", "cli", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateToken(ctx, secret2, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, view, tok2.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("a viewer revoked op's token: %v", err)
	}
	if err := s.RevokeToken(ctx, auth.Identity{Name: "op", Role: auth.RoleOperator}, tok2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateToken(ctx, secret2, ""); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Errorf("revoked token: %v", err)
	}
	for _, bad := range []string{"", "unyo_", "unyo_" + strings.Repeat("A", 43), "Bearer x", strings.Repeat("u", 4096)} {
		if _, err := s.AuthenticateToken(ctx, bad, ""); !errors.Is(err, auth.ErrInvalidCredentials) {
			t.Errorf("%.20q: %v", bad, err)
		}
	}
	ts, err := s.Tokens(ctx, auth.Identity{Name: "op", Role: auth.RoleOperator}, false)
	if err != nil || len(ts) != 2 {
		t.Fatalf("op's tokens: %+v %v", ts, err)
	}
	if _, err := s.Tokens(ctx, view, true); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("viewer listed all tokens: %v", err)
	}
}

func TestLastAdminStays(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t, nil)
	if _, err := s.AddUser(ctx, "root", auth.RoleAdmin, ""); err != nil {
		t.Fatal(err)
	}
	d, r := true, auth.RoleViewer
	if _, err := s.UpdateUser(ctx, "root", auth.UserChange{Disabled: &d}); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("disabled the last admin: %v", err)
	}
	if _, err := s.UpdateUser(ctx, "root", auth.UserChange{Role: &r}); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("demoted the last admin: %v", err)
	}
	if _, err := s.AddUser(ctx, "root2", auth.RoleAdmin, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateUser(ctx, "root", auth.UserChange{Role: &r}); err != nil {
		t.Errorf("demote with another admin: %v", err)
	}
}

func TestBootstrap(t *testing.T) {
	ctx := context.Background()
	s, st := newService(t, nil)
	file := filepath.Join(t.TempDir(), "data", "admin.token")
	if _, err := s.Bootstrap(ctx, "unyo_not-a-token", file); err == nil {
		t.Fatal("a malformed bootstrap token accepted")
	}
	made, err := s.Bootstrap(ctx, "", file)
	if err != nil || !made {
		t.Fatalf("bootstrap: %v %v", made, err)
	}
	secret := readSecret(t, file)
	id, err := s.AuthenticateToken(ctx, secret, "")
	if err != nil || id.Role != auth.RoleAdmin || id.Name != "admin" {
		t.Fatalf("bootstrap token: %+v %v", id, err)
	}
	if made, err := s.Bootstrap(ctx, "", file); err != nil || made {
		t.Errorf("second bootstrap: %v %v, want nothing made", made, err)
	}
	if us, _ := st.ListUsers(ctx); len(us) != 1 {
		t.Errorf("users %+v", us)
	}
}

func TestGuardAuditsStateChanges(t *testing.T) {
	ctx := context.Background()
	s, st := newService(t, nil)
	if _, err := s.AddUser(ctx, "op", auth.RoleOperator, ""); err != nil {
		t.Fatal(err)
	}
	secret, _, err := s.CreateToken(ctx, admin, "op", "t", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	g := auth.NewGuard(auth.GuardOptions{Authenticators: []auth.Authenticator{s.Authenticator()}, Auditor: s})
	m := auth.NewMux(g)
	m.HandleFunc("POST /ack/{id}", auth.ActionIncidentAck, func(w http.ResponseWriter, r *http.Request) {
		auth.Note(r.Context(), "incident "+r.PathValue("id"))
		w.WriteHeader(http.StatusOK)
	})
	m.HandleFunc("POST /close", auth.ActionIncidentClose, func(w http.ResponseWriter, r *http.Request) {})
	m.HandleFunc("GET /list", auth.ActionIncidentRead, func(w http.ResponseWriter, r *http.Request) {})
	srv := httptest.NewServer(m)
	defer srv.Close()
	do := func(method, path, token string) int {
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		method, path, token string
		want                int
	}{
		{"POST", "/ack/3", "", 401},
		{"POST", "/ack/3", "unyo_" + strings.Repeat("A", 43), 401},
		{"POST", "/ack/3", secret, 200},
		{"POST", "/close", secret, 403},
		{"GET", "/list", secret, 200},
	} {
		if got := do(c.method, c.path, c.token); got != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, got, c.want)
		}
	}
	es, err := st.ListAudit(ctx, auth.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	// The ack and the refused close, by op; not the anonymous tries, not the read.
	if len(es) != 2 || es[0].Actor != "op" || es[0].Action != "incident.ack" || es[0].Result != "ok" || es[0].Detail != "incident 3" ||
		es[1].Action != "incident.close" || es[1].Result != "denied" || es[0].From != "127.0.0.1" {
		t.Fatalf("audit %+v", es)
	}
	if r, err := auth.VerifyAudit(ctx, st); err != nil || !r.OK || r.Entries != 2 || r.Head != es[1].Hash {
		t.Errorf("verify %+v %v", r, err)
	}
}

func TestMuxRefusesAnActionOutsideTheTable(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a route with an unknown action was registered")
		}
	}()
	auth.NewMux(auth.NewGuard(auth.GuardOptions{})).HandleFunc("GET /x", "no.such", func(http.ResponseWriter, *http.Request) {})
}

func TestConcurrentLoginsAreBounded(t *testing.T) {
	ctx := context.Background()
	setup, st := newService(t, nil)
	if _, err := setup.AddUser(ctx, "u", auth.RoleViewer, "a long enough password"); err != nil {
		t.Fatal(err)
	}
	s, err := auth.NewService(auth.Options{Store: st, MaxConcurrentHashes: 1, LoginWait: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	busy := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.Login(ctx, "u", "a long enough password")
			if errors.Is(err, auth.ErrBusy) {
				mu.Lock()
				busy++
				mu.Unlock()
			} else if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if busy == 0 {
		t.Error("8 logins at once with one hashing slot and no wait: none was refused as busy")
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readSecret(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestStoreDown: while the store is unreachable, a token it confirmed
// within StaleTTL and the bootstrap token still work (the API that feeds
// the bus must not need the ledger); an unknown token is 'unavailable',
// not 'invalid'.
func TestStoreDown(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	boot := auth.NewSecret(auth.TokenPrefix)
	s, err := auth.NewService(auth.Options{Store: st, Now: clock, BootstrapToken: boot})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddUser(ctx, "op", auth.RoleOperator, ""); err != nil {
		t.Fatal(err)
	}
	secret, _, err := s.CreateToken(ctx, admin, "op", "t", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateToken(ctx, secret, ""); err != nil {
		t.Fatal(err)
	}
	st.Close() // the ledger goes away
	advance(time.Minute)
	if id, err := s.AuthenticateToken(ctx, secret, ""); err != nil || id.Name != "op" || id.Role != auth.RoleOperator {
		t.Errorf("a token verified a minute ago, store down: %+v %v", id, err)
	}
	if id, err := s.AuthenticateToken(ctx, boot, ""); err != nil || id.Role != auth.RoleAdmin {
		t.Errorf("bootstrap token, store down: %+v %v", id, err)
	}
	if _, err := s.AuthenticateToken(ctx, auth.NewSecret(auth.TokenPrefix), ""); !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("unknown token, store down: %v, want ErrUnavailable", err)
	}
	advance(time.Hour)
	if _, err := s.AuthenticateToken(ctx, secret, ""); !errors.Is(err, auth.ErrUnavailable) {
		t.Errorf("a token verified over an hour ago, store down: %v, want ErrUnavailable", err)
	}
}
