package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
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

// sseReader reads events off an open /events stream.
type sseReader struct {
	r *bufio.Reader
}

// next returns the next event's type and data.
func (s sseReader) next(t *testing.T) (typ, data string) {
	t.Helper()
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			typ = line[7:]
		case strings.HasPrefix(line, "data: "):
			data += line[6:]
		case line == "" && typ != "":
			return typ, data
		}
	}
}

// openStream opens /events for b from the hub's newest event.
func openStream(t *testing.T, f *fixture, b *browser) sseReader {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/events?since="+url.QueryEscape(f.web.Hub().LastID()), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	resp, err := b.c.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/events: %d", resp.StatusCode)
	}
	return sseReader{bufio.NewReader(resp.Body)}
}

// TestAgentsLive: with the agents' watcher running, an agent's change in
// the registry (a new version, then no heartbeat for long: late) reaches
// an open page's stream as an "agent" event, and the agents page's
// regions redraw alone.
func TestAgentsLive(t *testing.T) {
	f := newFixture(t)
	seedAgents(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { f.web.WatchAgents(ctx, 20*time.Millisecond); close(done) }()
	b := f.as(t, auth.RoleViewer)
	st := openStream(t, f, b)
	waitStreams(t, f, 1)
	a, err := f.store.GetAgent(ctx, "db-07")
	if err != nil {
		t.Fatal(err)
	}
	a.Version = "1.5.0"
	if err := f.store.PutAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	want := func(what, data string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			typ, d := st.next(t)
			if typ == "agent" && strings.Contains(d, data) {
				return
			}
		}
		t.Fatalf("no agent event with %s (%s)", data, what)
	}
	want("new version", `{"name":"db-07","beat":"live","version":"1.5.0"}`)
	a.LastSeen = time.Now().Add(-time.Hour)
	if err := f.store.PutAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	want("no heartbeat for an hour", `{"name":"db-07","beat":"late"`)
	// The list's region redraws alone, showing the change.
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/agents", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Target", "r-agents")
	code, body, _ := b.do(t, req)
	if code != http.StatusOK || strings.Contains(body, "<html") || !strings.Contains(body, "1.5.0") || !strings.Contains(body, ">late<") {
		t.Fatalf("agents region: %d\n%s", code, body)
	}
	req, _ = http.NewRequest(http.MethodGet, f.srv.URL+"/agents/db-07", nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Target", "r-facts")
	code, body, _ = b.do(t, req)
	if code != http.StatusOK || strings.Contains(body, "<html") || !strings.Contains(body, "1.5.0") || !strings.Contains(body, ">late<") {
		t.Fatalf("agent facts region: %d\n%s", code, body)
	}
	_, page, _ := b.get(t, "/agents")
	if !strings.Contains(page, "sse:agent") || !strings.Contains(page, "sse:rollout") {
		t.Errorf("the agents page does not follow agent and rollout events")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("WatchAgents did not return after its context ended")
	}
}

// waitStreams waits until n live pages are connected.
func waitStreams(t *testing.T, f *fixture, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for f.web.Hub().Streams() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d live pages, want %d", f.web.Hub().Streams(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLiveStreamChecksTheAction: an event published for an action goes
// only to the streams of viewers allowed it, live and when replayed to
// a reconnecting page.
func TestLiveStreamChecksTheAction(t *testing.T) {
	f := newFixture(t)
	viewer, admin := f.as(t, auth.RoleViewer), f.as(t, auth.RoleAdmin)
	since := f.web.Hub().LastID()
	f.web.Hub().PublishFor(auth.ActionAuditRead, "audit", map[string]string{"who": "replayed"})
	f.web.Hub().Publish("incident", map[string]int{"id": 1})
	open := func(b *browser) sseReader {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/events?since="+url.QueryEscape(since), nil)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		t.Cleanup(cancel)
		resp, err := b.c.Do(req.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return sseReader{bufio.NewReader(resp.Body)}
	}
	vs, as := open(viewer), open(admin)
	waitStreams(t, f, 2)
	f.web.Hub().PublishFor(auth.ActionAuditRead, "audit", map[string]string{"who": "live"})
	f.web.Hub().Publish("incident", map[string]int{"id": 2})
	var got []string
	for range 2 {
		typ, data := vs.next(t)
		got = append(got, typ+" "+data)
	}
	if strings.Join(got, "|") != `incident {"id":1}|incident {"id":2}` {
		t.Errorf("the viewer's stream: %q, want the incidents only", got)
	}
	got = nil
	for range 4 {
		typ, data := as.next(t)
		got = append(got, typ+" "+data)
	}
	if strings.Join(got, "|") != `audit {"who":"replayed"}|incident {"id":1}|audit {"who":"live"}|incident {"id":2}` {
		t.Errorf("the admin's stream: %q", got)
	}
}
