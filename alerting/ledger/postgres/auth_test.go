package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/auth/authtest"
)

func TestAuthConformance(t *testing.T) {
	authtest.Run(t, func(t *testing.T) auth.Store {
		s, _ := openTest(t)
		return s
	})
}

// Two stores (two pools, as two nodes would have) on one database append
// concurrently and keep one chain: the advisory lock is database-wide.
func TestAuditTwoNodesOneChain(t *testing.T) {
	a, url := openTest(t)
	b, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	authtest.AppendConcurrently(t, []auth.Store{a, b}, 8, 40)
}

func TestAuthSurvivesReopen(t *testing.T) {
	ctx := t.Context()
	s, url := openTest(t)
	u := auth.User{Name: "admin", Role: auth.RoleAdmin, Source: "local", Created: authtest.T0, Updated: authtest.T0}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	first, err := s.AppendAudit(ctx, auth.AuditEntry{Actor: "admin", Action: "login", Result: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.GetUser(ctx, "admin"); err != nil || got.Role != auth.RoleAdmin {
		t.Errorf("after reopen GetUser = %+v, %v", got, err)
	}
	second, err := s.AppendAudit(ctx, auth.AuditEntry{Actor: "admin", Action: "logout", Result: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	if second.Seq != 2 || second.Prev != first.Hash {
		t.Errorf("after reopen the chain restarted: seq %d prev %q, want 2 and %q", second.Seq, second.Prev, first.Hash)
	}
}

// TamperSQL is what a test runs to edit an audit entry behind the store's
// back; the chain must show it.
const TamperSQL = `UPDATE audit SET actor = 'mallory' WHERE seq = 2`

func TestAuditTamperBreaksChain(t *testing.T) {
	s, _ := openTest(t)
	ctx := t.Context()
	for i := range 3 {
		if _, err := s.AppendAudit(ctx, auth.AuditEntry{Actor: "alice", Action: "incident.ack", At: authtest.T0.Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := auth.VerifyAudit(ctx, s); err != nil || !r.OK || r.Entries != 3 {
		t.Fatalf("VerifyAudit before the edit = %+v, %v; want 3 entries, ok", r, err)
	}
	if _, err := s.pool.Exec(ctx, TamperSQL); err != nil {
		t.Fatal(err)
	}
	es := authtest.ListAll(t, s)
	if es[1].Actor != "mallory" {
		t.Fatalf("the edit did not take: %+v", es[1])
	}
	if h := auth.ChainHash(es[1].Prev, es[1]); h == es[1].Hash {
		t.Errorf("an edited entry still matches its hash")
	}
	if es[2].Prev != es[1].Hash {
		t.Errorf("the next entry's prev no longer names the stored hash")
	}
	r, err := auth.VerifyAudit(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if r.OK || r.BadSeq != 2 {
		t.Errorf("VerifyAudit after editing entry 2 = %+v, want not ok at seq 2", r)
	}
}

func BenchmarkAuth(b *testing.B) {
	authtest.Bench(b, func(b *testing.B) auth.Store {
		s, _ := openTest(b)
		return s
	})
}
