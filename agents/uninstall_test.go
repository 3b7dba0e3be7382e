package agents_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/agents"
	"github.com/unyo-ops/unyo/alerting/ledger/postgres"
	"github.com/unyo-ops/unyo/alerting/ledger/postgres/pgtest"
	"github.com/unyo-ops/unyo/alerting/ledger/sqlite"
	"github.com/unyo-ops/unyo/auth"
)

type auditLog struct {
	mu      sync.Mutex
	entries []string // "actor action target result detail"
}

func (l *auditLog) add(_ context.Context, id auth.Identity, action, target, result, detail string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, strings.Join([]string{id.Actor(), action, target, result, detail}, " "))
}

func (l *auditLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.entries...)
}

// TestUninstallSecret: a group's uninstall secret is kept as an Argon2id
// hash; an agent of the group uninstalls only with the right one; after
// five wrong ones within ten minutes even the right one is refused until
// the window has passed; a group without a secret lets its agents go;
// every attempt is audited as the agent, never with the secret.
func TestUninstallSecret(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ledger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	var audit auditLog
	s := agents.New(agents.Options{Store: st, Audit: audit.add, Now: clock})
	for _, a := range []agents.Agent{
		{Name: "web01", Group: "web", Kind: agents.KindResident, Enrolled: now},
		{Name: "db01", Group: "db", Kind: agents.KindResident, Enrolled: now},
	} {
		if err := st.PutAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	admin := auth.Identity{Kind: auth.KindToken, Name: "alice", Role: auth.RoleAdmin}
	const secret = "correct horse battery staple"

	for _, bad := range []struct{ group, secret string }{{"web", "short"}, {"web", strings.Repeat("x", 1025)}, {"web.*", secret}} {
		if _, err := s.SetUninstallSecret(ctx, admin, bad.group, bad.secret); !errors.Is(err, agents.ErrBadRequest) {
			t.Errorf("SetUninstallSecret(%q, %d bytes) = %v, want a bad request", bad.group, len(bad.secret), err)
		}
	}
	g, err := s.SetUninstallSecret(ctx, admin, "web", secret)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := st.GetGroupSecret(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored.Hash, "$argon2id$") || strings.Contains(stored.Hash, secret) || stored.By != "alice" || g.By != "alice" {
		t.Errorf("stored secret: %+v", stored)
	}

	for i := range agents.UninstallMaxFailures {
		if err := s.Uninstall(ctx, "web01", "wrong secret "+string(rune('a'+i))); !errors.Is(err, agents.ErrUninstallRefused) {
			t.Fatalf("wrong secret %d: %v", i+1, err)
		}
		advance(time.Minute)
	}
	if err := s.Uninstall(ctx, "web01", secret); !errors.Is(err, agents.ErrUninstallRefused) {
		t.Fatalf("the right secret after %d wrong ones: %v, want refused", agents.UninstallMaxFailures, err)
	}
	if a, _ := st.GetAgent(ctx, "web01"); a.Disabled {
		t.Fatal("a refused uninstall disabled the agent")
	}
	// The first failure leaves the window: one more try, and it is right.
	advance(agents.UninstallWindow - time.Duration(agents.UninstallMaxFailures)*time.Minute)
	if err := s.Uninstall(ctx, "web01", secret); err != nil {
		t.Fatalf("the right secret once the window passed: %v", err)
	}
	if a, _ := st.GetAgent(ctx, "web01"); !a.Disabled {
		t.Error("an uninstalled agent is not disabled")
	}
	// A group without a secret: allowed, and audited so.
	if err := s.Uninstall(ctx, "db01", ""); err != nil {
		t.Fatalf("group without a secret: %v", err)
	}
	if err := s.Uninstall(ctx, "nobody", secret); !errors.Is(err, agents.ErrNotFound) {
		t.Errorf("unknown agent: %v", err)
	}

	var wrong, blocked, ok, noSecret int
	for _, e := range audit.all() {
		if strings.Contains(e, secret) || strings.Contains(e, "wrong secret a") {
			t.Errorf("the audit shows a secret: %q", e)
		}
		switch {
		case strings.HasPrefix(e, "agent:web01 agent.uninstall agent:web01 refused group web: wrong secret"):
			wrong++
		case strings.HasPrefix(e, "agent:web01 agent.uninstall agent:web01 refused more than"):
			blocked++
		case strings.HasPrefix(e, "agent:web01 agent.uninstall agent:web01 ok group web: secret right"):
			ok++
		case strings.HasPrefix(e, "agent:db01 agent.uninstall agent:db01 ok group db has no uninstall secret"):
			noSecret++
		}
	}
	if wrong != agents.UninstallMaxFailures || blocked != 1 || ok != 1 || noSecret != 1 {
		t.Errorf("audit: %d wrong, %d blocked, %d ok, %d without a secret; want 5, 1, 1, 1:\n%s", wrong, blocked, ok, noSecret,
			strings.Join(audit.all(), "\n"))
	}
}

// TestUninstallCountedAcrossNodes: wrong uninstall secrets are counted in
// the ledger, not per node: three wrong ones on one node and two on
// another (two services, each with its own handle on the shared ledger,
// as two nodes) lock the agent out on both, even with the right secret,
// until the oldest leaves the window. On SQLite and on PostgreSQL.
func TestUninstallCountedAcrossNodes(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) (agents.Store, agents.Store){
		"sqlite": func(t *testing.T) (agents.Store, agents.Store) {
			path := filepath.Join(t.TempDir(), "ledger.db")
			a, err := sqlite.Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close() })
			b, err := sqlite.Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return a, b
		},
		"postgres": func(t *testing.T) (agents.Store, agents.Store) {
			url := pgtest.NewDatabase(t)
			a, err := postgres.Open(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close() })
			b, err := postgres.Open(t.Context(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return a, b
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st1, st2 := open(t)
			now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
			var mu sync.Mutex
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
			var audit auditLog
			n1 := agents.New(agents.Options{Store: st1, Node: "n1", Audit: audit.add, Now: clock})
			n2 := agents.New(agents.Options{Store: st2, Node: "n2", Audit: audit.add, Now: clock})
			if err := st1.PutAgent(ctx, agents.Agent{Name: "web01", Group: "web", Kind: agents.KindResident, Enrolled: now}); err != nil {
				t.Fatal(err)
			}
			const secret = "correct horse battery staple"
			if _, err := n1.SetUninstallSecret(ctx, auth.Identity{Kind: auth.KindToken, Name: "alice", Role: auth.RoleAdmin}, "web", secret); err != nil {
				t.Fatal(err)
			}
			for i := range agents.UninstallMaxFailures {
				node := n1
				if i%2 == 1 {
					node = n2
				}
				if err := node.Uninstall(ctx, "web01", fmt.Sprintf("wrong secret %d", i)); !errors.Is(err, agents.ErrUninstallRefused) {
					t.Fatalf("wrong secret %d: %v", i+1, err)
				}
				advance(time.Minute)
			}
			for _, node := range []*agents.Service{n1, n2} {
				if err := node.Uninstall(ctx, "web01", secret); !errors.Is(err, agents.ErrUninstallRefused) {
					t.Fatalf("the right secret after 5 wrong ones on two nodes: %v, want refused on each node", err)
				}
			}
			if a, _ := st2.GetAgent(ctx, "web01"); a.Disabled {
				t.Fatal("a refused uninstall disabled the agent")
			}
			// The oldest leaves the window: the right secret, on the other
			// node than the last wrong one.
			advance(agents.UninstallWindow - time.Duration(agents.UninstallMaxFailures)*time.Minute)
			if err := n2.Uninstall(ctx, "web01", secret); err != nil {
				t.Fatalf("the right secret once the oldest wrong one left the window: %v", err)
			}
			if a, _ := st1.GetAgent(ctx, "web01"); !a.Disabled {
				t.Error("an uninstalled agent is not disabled")
			}
			var counts []string
			for _, e := range audit.all() {
				if i := strings.Index(e, "wrong secret ("); i >= 0 {
					counts = append(counts, e[i+len("wrong secret ("):i+len("wrong secret (")+1])
				}
			}
			if strings.Join(counts, "") != "12345" {
				t.Errorf("the audit counts the wrong secrets %q across both nodes, want 12345:\n%s", counts, strings.Join(audit.all(), "\n"))
			}
		})
	}
}
