package node_test

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/alerting/ledger"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/node"
)

// TestEveryRouteChecksIdentityAndRole walks every route the node has
// registered (from its mux, so a new route cannot be left out) as
// anonymous, viewer, operator and admin, and checks the status against
// the permission table: anonymous 401 except for public routes, a role
// the table does not allow 403, one it allows anything but 401/403.
func TestEveryRouteChecksIdentityAndRole(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	n, err := node.New(ctx, node.Options{Name: "r1", HTTPListen: "127.0.0.1:0",
		Bus:     bus.Options{StoreDir: filepath.Join(dir, "js")},
		Auth:    node.AuthOptions{BootstrapToken: adminToken},
		Agents:  node.AgentsOptions{Enabled: true}, // its routes too
		Cluster: node.ClusterOptions{DataDir: filepath.Join(dir, "raft"), Bind: "127.0.0.1:0", Bootstrap: true},
		OpenStore: func(ctx context.Context) (ledger.Store, error) {
			return sqlite.Open(ctx, filepath.Join(dir, "ledger.db"))
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	if err := n.WaitStore(ctx); err != nil {
		t.Fatal(err)
	}
	admin := auth.Identity{Kind: auth.KindToken, Name: "admin", Role: auth.RoleAdmin}
	tokens := map[auth.Role]string{auth.RoleAdmin: adminToken}
	for _, r := range []auth.Role{auth.RoleViewer, auth.RoleOperator} {
		name := "u-" + string(r)
		if _, err := n.Auth().AddUser(ctx, name, r, ""); err != nil {
			t.Fatal(err)
		}
		secret, _, err := n.Auth().CreateToken(ctx, admin, name, "route test", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		tokens[r] = secret
	}
	routes := n.Routes()
	if len(routes) < 40 {
		t.Fatalf("only %d routes registered: is the cluster or the console missing?", len(routes))
	}
	seen := map[string]bool{}
	for _, rt := range routes {
		method, path, ok := strings.Cut(rt.Pattern, " ")
		if !ok {
			t.Errorf("route %q has no method: every route names one", rt.Pattern)
			continue
		}
		if seen[rt.Pattern] {
			t.Errorf("route %q registered twice", rt.Pattern)
		}
		seen[rt.Pattern] = true
		if !auth.Known(rt.Action) {
			t.Errorf("route %s: action %q is not in the permission table", rt.Pattern, rt.Action)
		}
		url := n.URL() + fill(path)
		for _, who := range []auth.Role{"", auth.RoleViewer, auth.RoleOperator, auth.RoleAdmin} {
			t.Run(rt.Pattern+"/"+string(who), func(t *testing.T) {
				code, denied, body := call(t, method, url, tokens[who])
				switch {
				case rt.Action == auth.Public:
					if denied != "" {
						t.Errorf("public route refused by the guard: %d: %s", code, body)
					}
				case who == "":
					if code != http.StatusUnauthorized || denied != string(rt.Action) {
						t.Errorf("anonymous: %d (denied %q), want 401 from the guard: %s", code, denied, body)
					}
				case auth.Allowed(who, rt.Action):
					if denied != "" {
						t.Errorf("%s may %s, got %d from the guard: %s", who, rt.Action, code, body)
					}
				default:
					if code != http.StatusForbidden || denied != string(rt.Action) {
						t.Errorf("%s may not %s, got %d (denied %q), want 403 from the guard: %s", who, rt.Action, code, denied, body)
					}
				}
			})
		}
	}
}

// fill gives a route's path variables harmless values.
func fill(path string) string {
	r := strings.NewReplacer("{id}", "999999", "{name}", "no-such", "{verb}", "hold")
	return r.Replace(path)
}

// call returns the status, the action the guard refused (if it did) and
// the start of the body.
func call(t *testing.T, method, url, token string) (int, string, string) {
	t.Helper()
	var body io.Reader
	if method != http.MethodGet {
		body = strings.NewReader("{}")
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") == "text/event-stream" {
		return resp.StatusCode, resp.Header.Get(auth.DeniedHeader), "(a live stream)" // never ends by itself
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp.StatusCode, resp.Header.Get(auth.DeniedHeader), string(b)
}
