package console_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/console"
)

// plainPasswords reveals what the ledger holds, "opened" by dropping the
// enc: prefix (the node opens with the cluster key).
type plainPasswords struct{ s *sqlite.Store }

func (p plainPasswords) Passwords(ctx context.Context) ([]ledger.PasswordRecord, error) {
	return p.s.Passwords(ctx)
}

func (p plainPasswords) Reveal(ctx context.Context, account, slot string) (string, error) {
	r, err := p.s.Password(ctx, account)
	if err != nil {
		return "", err
	}
	return strings.TrimPrefix(r.Slots[slot].Sealed, "enc:v1:"), nil
}

// TestDrillAndPasswordRoutes: drills are listed for a viewer; the
// password routes refuse anonymous (401), viewers and operators (403);
// an ops SE reveals, and the reveal names the account in the audit log.
func TestDrillAndPasswordRoutes(t *testing.T) {
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	t0 := time.Date(2026, 5, 3, 1, 0, 0, 0, time.UTC)
	if err := s.RecordDrill(ctx, ledger.DrillRecord{ID: "d1", Name: "drills/leader", Kind: "platform", Started: t0,
		Result: ledger.DrillPassed, RTO: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := s.PendingPassword(ctx, "h/local/app", "enc:v1:s3cret", "job:x", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitPassword(ctx, "h/local/app", t0); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var audits []string
	srv := httptest.NewServer(console.Handler(testGuard(), console.Deps{Store: s, Drills: s, Passwords: plainPasswords{s},
		Audit: func(_ context.Context, id auth.Identity, action, target, result, detail string) {
			mu.Lock()
			defer mu.Unlock()
			audits = append(audits, id.Actor()+" "+action+" "+target+" "+result+" "+detail)
		}}))
	t.Cleanup(srv.Close)
	do := func(who, method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if who != "" {
			req.Header.Set("Authorization", "Bearer test:"+who)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	if code, out := do("viewer:v", "GET", "/api/v1/drills?month=2026-05", ""); code != 200 || len(out["drills"].([]any)) != 1 {
		t.Fatalf("drills: %d %v", code, out)
	}
	if code, _ := do("viewer:v", "GET", "/api/v1/drills?month=2026-13", ""); code != 400 {
		t.Fatalf("bad month: %d", code)
	}
	if code, _ := do("viewer:v", "GET", "/api/v1/drills/d1", ""); code != 200 {
		t.Fatalf("drill: %d", code)
	}
	if code, _ := do("", "GET", "/api/v1/drills", ""); code != 401 {
		t.Fatalf("drills anonymous: %d", code)
	}
	reveal := `{"account":"h/local/app"}`
	for _, c := range []struct {
		who  string
		code int
	}{{"", 401}, {"viewer:v", 403}, {"operator:o", 403}} {
		if code, out := do(c.who, "POST", "/api/v1/passwords/reveal", reveal); code != c.code || out["password"] != nil {
			t.Errorf("reveal as %q: %d %v, want %d", c.who, code, out, c.code)
		}
		if code, _ := do(c.who, "GET", "/api/v1/passwords", ""); code != c.code {
			t.Errorf("list as %q: %d, want %d", c.who, code, c.code)
		}
	}
	code, out := do("ops-se:sato", "POST", "/api/v1/passwords/reveal", reveal)
	if code != 200 || out["password"] != "s3cret" {
		t.Fatalf("reveal: %d %v", code, out)
	}
	if code, _ := do("ops-se:sato", "POST", "/api/v1/passwords/reveal", `{"account":"h/local/app","slot":"older"}`); code != 400 {
		t.Fatalf("bad slot: %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	found := false
	for _, a := range audits {
		if strings.Contains(a, "sato password.reveal h/local/app ok slot current") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no audit entry naming the revealed account: %q", audits)
	}
	code, out = do("ops-se:sato", "GET", "/api/v1/passwords", "")
	if b, _ := json.Marshal(out); code != 200 || strings.Contains(string(b), "s3cret") {
		t.Fatalf("list: %d %s", code, b)
	}
}
