package test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/unyo-ops/unyo/test/testutil"
)

// TestAgentsPageLive drives the agents page in real headless Chromium
// against the real binary and a real `unyo agent`: an enrolled agent
// not seen yet turns live on the open page when it starts, and
// late or down when it is killed, without a reload; the page's stream
// carries "agent" events naming it.
//
//	go build -o /tmp/unyo ./cmd/unyo
//	UNYO_TEST_BINARY=/tmp/unyo go test -run TestAgentsPageLive ./test/
func TestAgentsPageLive(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	dir := t.TempDir()
	natsAddr, addr := testutil.FreePort(t), testutil.FreePort(t)
	p := serveYAML(t, dir, addr, oneNode("e2e-agents-web", dir, addr)+fmt.Sprintf("  external_url: \"http://%s\"\n", addr)+embeddedNATS(natsAddr)+`agents:
  enabled: true
  heartbeat: 1s
  down_after: 2
`)
	srv := "--server=" + p.URL
	c := testutil.Client(t, p.URL)
	const password = "correct horse battery staple"
	out, errOut, code := runStdin(t, []string{"UNYO_TOKEN=" + testutil.AdminToken}, password+"\n",
		"user", "add", "ito", "--role", "viewer", "--password-stdin", srv)
	if code != 0 {
		t.Fatalf("user add: exit %d\n%s%s", code, out, errOut)
	}
	tok := strings.TrimSpace(unyo(t, 0, "agents", "token", "create", "--group", "web", srv))
	state := filepath.Join(dir, "agent-state")
	f := writeFile(t, filepath.Join(dir, "tok"), tok+"\n", 0o600)
	if out, errOut, code := testutil.Run(t, "agent", "enroll", "--server", p.URL, "--token-file", f, "--name", "web01",
		"--group", "web", "--state-dir", state, "--host-id", "host-web01"); code != 0 {
		t.Fatalf("enrol: exit %d\n%s%s", code, out, errOut)
	}

	ctx := newBrowser(t)
	row := func(class string) string {
		return fmt.Sprintf(`[...document.querySelectorAll("#agents li.agent")].some(e => e.querySelector(".name").textContent === "web01" && e.classList.contains(%q))`, class)
	}
	run(t, ctx, "log in to the agents page", 60*time.Second,
		chromedp.Navigate(p.URL+"/agents"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=user]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=user]`), "ito"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#agents`)),
		// Not seen yet: never, or down once down_after has passed.
		chromedp.Poll[chromedp.Void](row("hb-never")+" || "+row("hb-down"), chromedp.WithPollingTimeout(20*time.Second)),
		chromedp.Poll[chromedp.Void](`document.getElementById("live").dataset.state === "live"`, chromedp.WithPollingTimeout(20*time.Second)),
		// A second stream of the same session records the agent events
		// the page is sent; the flag tells a reload.
		chromedp.Evaluate[chromedp.Void](`window.__notReloaded = true; window.__agentEvents = [];
			new EventSource("/events").addEventListener("agent", e => window.__agentEvents.push(e.data));`))

	// The agent starts: its row turns live without a reload.
	ag := startAgent(t, "run", "--state-dir", state, "--heartbeat", "500ms", "--host-id", "host-web01")
	waitFor(t, "web01 live in the API", func() bool {
		l, err := c.Agents(t.Context())
		return err == nil && len(l) == 1 && l[0].Live
	})
	liveAt := time.Now()
	run(t, ctx, "web01 live on the open page", 30*time.Second,
		chromedp.Poll[chromedp.Void](row("hb-live"), chromedp.WithPollingInterval(50*time.Millisecond)))
	t.Logf("agent live in the API → live on the page: %v", time.Since(liveAt).Round(time.Millisecond))
	if !get(t, ctx, "no reload", 5*time.Second, chromedp.Evaluate[bool](`window.__notReloaded === true`)) {
		t.Fatal("the agents page was reloaded to show the agent live")
	}
	// An event naming it, or (when the node's first look at its registry
	// came after the page was drawn) one telling every page to redraw.
	run(t, ctx, "an agent event on the stream", 30*time.Second,
		chromedp.Poll[chromedp.Void](`window.__agentEvents.some(d => { const e = JSON.parse(d); return e.name === "web01" || e.changed > 0 })`))
	if v := get(t, ctx, "version", 5*time.Second, chromedp.Text(chromedp.CSS(`#agents li.agent .version`))); strings.TrimSpace(v) == "" {
		t.Error("the live row shows no version")
	}

	// Then it is killed: late (no heartbeat for 2 s), then down (a fault).
	unyo(t, 0, "agents", "list", srv)
	if err := ag.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "web01 late or down on the open page", 60*time.Second,
		chromedp.Poll[chromedp.Void](row("hb-late")+" || "+row("hb-down"), chromedp.WithPollingInterval(50*time.Millisecond)))
	run(t, ctx, "web01 down on the open page", 60*time.Second,
		chromedp.Poll[chromedp.Void](row("hb-down"), chromedp.WithPollingInterval(50*time.Millisecond)))
	if !get(t, ctx, "no reload", 5*time.Second, chromedp.Evaluate[bool](`window.__notReloaded === true`)) {
		t.Fatal("the agents page was reloaded to show the agent down")
	}
	run(t, ctx, "an agent event naming web01 down on the stream", 30*time.Second,
		chromedp.Poll[chromedp.Void](`window.__agentEvents.some(d => { const e = JSON.parse(d); return e.name === "web01" && e.beat === "down" })`))
	screenshot(t, ctx, artifacts(t), "desktop-agents")
}
