package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/agent/inventory"
	"github.com/unyo-ops/unyo/agents"
	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/rollout"
)

// fakeFleet serves one live rollout with db-07 downloading; the other
// fleet calls are not used by the pages.
type fakeFleet struct{ console.Fleet }

func (fakeFleet) Rollout(id string) (console.RolloutStatus, error) {
	if id != "current" {
		return console.RolloutStatus{}, console.ErrNoRun
	}
	st := console.RolloutStatus{Updating: 1}
	st.ID, st.Version, st.Platform, st.Status, st.MaxConcurrent, st.StartedAt = "ro_1", "1.5.0", "linux/amd64", "running", 15, time.Now()
	st.Agents = []console.RolloutAgent{{AgentUpdate: rollout.AgentUpdate{Agent: "db-07", State: "downloading", Progress: 40, From: "1.4.2", To: "1.5.0", Since: time.Now()}, Level: "normal"}}
	return st, nil
}

// seedAgents enrols db-07 (live, with an inventory) and web-03 (never
// seen, a tag that is markup) in the fixture's ledger.
func seedAgents(t testing.TB, f *fixture) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	for _, a := range []agents.Agent{
		{Name: "db-07", HostID: "h7", Group: "db", Version: "1.4.2", Kind: agents.KindResident, Home: "https://unyo.example:8443",
			Tags: []string{"pg", "tokyo"}, Enrolled: now, LastSeen: now, Slots: 4, SlotsUsed: 2},
		{Name: "web-03", HostID: "h3", Version: "1.4.1", Kind: agents.KindResident, Tags: []string{"<b>x</b>"}, Enrolled: now},
	} {
		if err := f.store.PutAgent(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	inv := inventory.Inventory{Collected: now, HostID: "h7", Hostname: "db-07",
		OS:   inventory.OS{Platform: "debian", Version: "12.8", Kernel: "6.1.0-28-amd64", Arch: "x86_64"},
		CPUs: []inventory.CPU{{Model: "Xeon Gold 6338", Cores: 16}}, MemoryBytes: 64 << 30,
		Packages: []inventory.Package{{Name: "postgresql-16", Version: "16.6"}, {Name: "openssh-server", Version: "9.2"}, {Name: "bash", Version: "5.2"}}}
	b, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.PutInventory(ctx, agents.StoredInventory{Agent: "db-07", At: now, Hash: "x", Data: b}); err != nil {
		t.Fatal(err)
	}
}

// TestAgentPages: the list shows each agent's version, tags, heartbeat
// state and its state in the live rollout, escaped; the agent page shows
// its inventory summary; an unknown agent is a 404 page.
func TestAgentPages(t *testing.T) {
	f := newFixture(t)
	seedAgents(t, f)
	b := f.as(t, auth.RoleViewer)
	code, body, _ := b.get(t, "/agents")
	if code != http.StatusOK {
		t.Fatalf("/agents: %d\n%s", code, body)
	}
	for _, want := range []string{`href="/agents"`, `href="/agents/db-07"`, "1.4.2", "pg, tokyo", "group db", "jobs 2/4", ">live<", ">never<",
		"Rollout ro_1", "downloading", "40%", "&lt;b&gt;x&lt;/b&gt;", "https://unyo.example:8443"} {
		if !strings.Contains(body, want) {
			t.Errorf("/agents lacks %q", want)
		}
	}
	if strings.Contains(body, "<b>x</b>") {
		t.Errorf("/agents draws a tag as markup")
	}
	code, body, _ = b.get(t, "/agents/db-07")
	if code != http.StatusOK {
		t.Fatalf("/agents/db-07: %d\n%s", code, body)
	}
	for _, want := range []string{"debian 12.8", "6.1.0-28-amd64", "Xeon Gold 6338 × 16", "64.0 GiB", "<dd>3</dd>", "pg, tokyo", "2 of 4 slots"} {
		if !strings.Contains(body, want) {
			t.Errorf("/agents/db-07 lacks %q", want)
		}
	}
	code, body, _ = b.get(t, "/agents/web-03")
	if code != http.StatusOK || !strings.Contains(body, "No inventory yet") {
		t.Errorf("/agents/web-03: %d, want the page without an inventory", code)
	}
	code, body, _ = b.get(t, "/agents/nope")
	if code != http.StatusNotFound || !strings.Contains(body, "no agent by that name") {
		t.Errorf("/agents/nope: %d, want a 404 page", code)
	}
	noLeak(t, "/agents/nope", body)
	// Without a session: the login page.
	if code, _, h := f.browser(t).get(t, "/agents"); code != http.StatusSeeOther || !strings.HasPrefix(h.Get("Location"), "/login") {
		t.Errorf("anonymous /agents: %d %v", code, h)
	}
}
