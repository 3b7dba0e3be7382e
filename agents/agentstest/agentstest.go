// Package agentstest is the conformance suite of agents.Store, run by
// both ledger stores.
package agentstest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/agents"
)

// T0 is the suite's clock origin.
var T0 = time.Date(2026, 12, 1, 3, 12, 0, 0, time.UTC)

// Run runs the suite; open makes an empty store per subtest.
func Run(t *testing.T, open func(t *testing.T) agents.Store) {
	runTags(t, open)
	runUninstallAttempts(t, open)
	t.Run("Agents", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		a := agents.Agent{Name: "db01", HostID: "h1", Group: "db", Version: "1.0", Kind: agents.KindResident,
			Home: "https://n1:8080", NKey: "UABC", SignKey: "00ff", Tags: []string{"db"}, Enrolled: T0, Slots: 4}
		if err := s.PutAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetAgent(ctx, "db01")
		if err != nil || got.HostID != "h1" || got.Group != "db" || got.Kind != agents.KindResident || !got.Enrolled.Equal(T0) ||
			len(got.Tags) != 1 || got.Slots != 4 || !got.LastSeen.IsZero() {
			t.Fatalf("GetAgent = %+v, %v", got, err)
		}
		if _, err := s.GetAgent(ctx, "nope"); !errors.Is(err, agents.ErrNotFound) {
			t.Errorf("missing agent: %v, want ErrNotFound", err)
		}
		if err := s.PutAgent(ctx, agents.Agent{Name: "db02", HostID: "h1", Kind: agents.KindResident, Enrolled: T0}); !errors.Is(err, agents.ErrHostTaken) {
			t.Errorf("second agent with host h1: %v, want ErrHostTaken", err)
		}
		if got, err := s.AgentByHostID(ctx, "h1"); err != nil || got.Name != "db01" {
			t.Errorf("AgentByHostID = %+v, %v", got, err)
		}
		a.Version = "1.1"
		if err := s.PutAgent(ctx, a); err != nil {
			t.Fatalf("replace: %v", err)
		}
		if err := s.TouchAgents(ctx, []agents.Seen{{Name: "db01", At: T0.Add(time.Minute), SlotsUsed: 2, Version: "1.2"},
			{Name: "ghost", At: T0}}); err != nil {
			t.Fatal(err)
		}
		// An older heartbeat does not move last seen back.
		if err := s.TouchAgents(ctx, []agents.Seen{{Name: "db01", At: T0}}); err != nil {
			t.Fatal(err)
		}
		got, _ = s.GetAgent(ctx, "db01")
		if !got.LastSeen.Equal(T0.Add(time.Minute)) || got.SlotsUsed != 2 || got.Version != "1.2" {
			t.Errorf("after TouchAgents: %+v", got)
		}
		list, err := s.ListAgents(ctx)
		if err != nil || len(list) != 1 {
			t.Errorf("ListAgents = %v, %v", list, err)
		}
		if err := s.DeleteAgent(ctx, "db01"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteAgent(ctx, "db01"); !errors.Is(err, agents.ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
	})
	t.Run("EnrollTokens", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		tok, secret, err := agents.NewEnrollToken("web", "admin", time.Hour, 2, T0)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateEnrollToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateEnrollToken(ctx, tok); !errors.Is(err, agents.ErrExists) {
			t.Errorf("duplicate id: %v", err)
		}
		h := agents.HashSecret(secret)
		for i := range 2 {
			u, err := s.UseEnrollToken(ctx, h, T0.Add(time.Minute))
			if err != nil || u.Group != "web" || u.Uses != i+1 {
				t.Fatalf("use %d: %+v, %v", i, u, err)
			}
		}
		if _, err := s.UseEnrollToken(ctx, h, T0.Add(time.Minute)); !errors.Is(err, agents.ErrToken) {
			t.Errorf("third use of a 2-use token: %v", err)
		}
		tok2, secret2, _ := agents.NewEnrollToken("", "admin", time.Hour, 0, T0)
		if err := s.CreateEnrollToken(ctx, tok2); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UseEnrollToken(ctx, agents.HashSecret(secret2), T0.Add(2*time.Hour)); !errors.Is(err, agents.ErrToken) {
			t.Errorf("expired: %v", err)
		}
		if err := s.RevokeEnrollToken(ctx, tok2.ID, T0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UseEnrollToken(ctx, agents.HashSecret(secret2), T0.Add(2*time.Second)); !errors.Is(err, agents.ErrToken) {
			t.Errorf("revoked: %v", err)
		}
		if err := s.RevokeEnrollToken(ctx, "enr_none", T0); !errors.Is(err, agents.ErrNotFound) {
			t.Errorf("revoke missing: %v", err)
		}
		if _, err := s.UseEnrollToken(ctx, agents.HashSecret("unyoe_wrong"), T0); !errors.Is(err, agents.ErrToken) {
			t.Errorf("unknown: %v", err)
		}
		list, err := s.ListEnrollTokens(ctx)
		if err != nil || len(list) != 2 || list[0].Group != agents.DefaultGroup && list[1].Group != agents.DefaultGroup {
			t.Errorf("ListEnrollTokens = %+v, %v", list, err)
		}
		for _, l := range list {
			if l.ID == tok2.ID && !l.Revoked.Equal(T0.Add(time.Second)) {
				t.Errorf("revoked at %v", l.Revoked)
			}
		}
	})
	t.Run("Inventories", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		for i := range agents.KeepInventories + 3 {
			if err := s.PutInventory(ctx, agents.StoredInventory{Agent: "db01", At: T0.Add(time.Duration(i) * time.Minute),
				Hash: fmt.Sprint(i), Data: []byte(fmt.Sprintf(`{"n":%d}`, i))}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Inventories(ctx, "db01", 0)
		if err != nil || len(got) != agents.KeepInventories || got[0].Hash != fmt.Sprint(agents.KeepInventories+2) {
			t.Fatalf("Inventories = %d, %v", len(got), err)
		}
		one, _ := s.Inventories(ctx, "db01", 1)
		if len(one) != 1 || string(one[0].Data) != fmt.Sprintf(`{"n":%d}`, agents.KeepInventories+2) {
			t.Errorf("newest = %+v", one)
		}
		big := make([]byte, agents.MaxInventoryBytes+1)
		if err := s.PutInventory(ctx, agents.StoredInventory{Agent: "db01", At: T0, Data: big}); err == nil {
			t.Error("an inventory over the limit was stored")
		}
	})
	t.Run("GroupSecrets", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		if _, err := s.GetGroupSecret(ctx, "db"); !errors.Is(err, agents.ErrNotFound) {
			t.Errorf("missing: %v", err)
		}
		for _, h := range []string{"h1", "h2"} {
			if err := s.SetGroupSecret(ctx, agents.GroupSecret{Group: "db", Hash: h, By: "admin", Created: T0}); err != nil {
				t.Fatal(err)
			}
		}
		if g, err := s.GetGroupSecret(ctx, "db"); err != nil || g.Hash != "h2" {
			t.Errorf("GetGroupSecret = %+v, %v", g, err)
		}
	})
}
