package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/unyo-ops/unyo/auth"
	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/console"
	"github.com/unyo-ops/unyo/test/testutil"
)

// TestConsoleRunDAG starts a jobnet from its console page in a real
// Chromium against the real binary and watches the run's DAG: first job
// running, then every job green (ended-normal), updated live without a
// reload; the run page is shot at phone and desktop sizes and must not
// overflow the phone's width.
func TestConsoleRunDAG(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	addrPort := testutil.FreePort(t)
	_, ps, _ := strings.Cut(addrPort, ":")
	port, _ := strconv.Atoi(ps)
	extra := fmt.Sprintf(`jobnets:
  - name: dag-e2e
    description: a waits for the test, then b and c, then d
    jobs:
      - {name: a, command: /bin/sh, args: ["-c", "i=0; while [ ! -f %[1]s ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done; echo a done"]}
      - {name: b, command: /bin/sh, args: ["-c", "echo b"], needs: [a]}
      - {name: c, command: /bin/sh, args: ["-c", "echo c"], needs: [a]}
      - {name: d, command: /bin/sh, args: ["-c", "echo '<d> & done'"], needs: [b, c]}
monitor:
  enabled: true
  targets:
    - name: web-e2e
      address: 127.0.0.1
      services:
        - {name: console-tcp, type: tcp, port: %[2]d, interval: 1s, timeout: 900ms}
  samples: {store: true, flush_interval: 1s}
`, gate, port)
	cfg, addr := writeConfigAt(t, dir, addrPort, extra)
	p := testutil.Serve(t, cfg, addr)
	c, err := client.New(p.URL, client.WithToken(testutil.AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	const pw = "operator password 1234"
	if _, err := c.AddUser(context.Background(), console.UserRequest{Name: "op", Role: auth.RoleOperator, Password: pw}); err != nil {
		t.Fatal(err)
	}

	ctx := newBrowser(t) // console_test.go
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	err = chromedp.Do(ctx,
		chromedp.EmulateViewport(1366, 768),
		chromedp.Navigate(p.URL+"/jobnets/dag-e2e"), // the login page, then back here
		chromedp.WaitVisible(css(`input[name=user]`)),
		chromedp.SendKeys(css(`input[name=user]`), "op"),
		chromedp.SendKeys(css(`input[name=password]`), pw),
		chromedp.Click(css(`form[action="/login"] button[type=submit]`)),
		chromedp.WaitVisible(css(`#job-d`)), // the jobnet's DAG
		chromedp.Click(css(`#start`)),
		chromedp.WaitVisible(css(`#run-status`)),
	)
	if err != nil {
		t.Fatalf("log in and start: %v\n%s", err, p.Log())
	}
	runURL, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || !strings.Contains(runURL, "/runs/") {
		t.Fatalf("after start the browser is at %s (%v)", runURL, err)
	}
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	state := func(job string) string {
		return eval(fmt.Sprintf(`(e => e ? e.getAttribute("data-state") : "")(document.getElementById("job-%s"))`, job))
	}
	waitFor := func(what string, deadline time.Duration, ok func() (bool, string)) {
		t.Helper()
		end := time.Now().Add(deadline)
		for {
			done, got := ok()
			if done {
				return
			}
			if time.Now().After(end) {
				t.Fatalf("%s: still %s after %v\n%s", what, got, deadline, p.Log())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	states := func(want map[string]string) func() (bool, string) {
		return func() (bool, string) {
			got := map[string]string{}
			ok := true
			for job, w := range want {
				got[job] = state(job)
				ok = ok && got[job] == w
			}
			return ok, fmt.Sprint(got)
		}
	}
	waitFor("a runs, the rest wait", 60*time.Second, states(map[string]string{"a": "running", "b": "waiting", "c": "waiting", "d": "waiting"}))
	eval(`window.__unyoMark = "same page"`)
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor("every job green", 60*time.Second, states(map[string]string{"a": "ended-normal", "b": "ended-normal", "c": "ended-normal", "d": "ended-normal"}))
	if m := eval(`String(window.__unyoMark)`); m != "same page" {
		t.Error("the page was reloaded: the DAG should update live")
	}
	// the run's status may trail its last job by one redraw
	waitFor("run ended normally", 30*time.Second, func() (bool, string) {
		s := eval(`document.getElementById("run-status").getAttribute("data-status")`)
		return s == "ended-normal", s
	})

	// the job's output, escaped (asked again if the live page redraws
	// the node between the query and the read: "No node with given id")
	if err := chromedp.Do(ctx, chromedp.Navigate(runURL+"/jobs/d")); err != nil {
		t.Fatal(err)
	}
	waitFor("the job's output", 30*time.Second, func() (bool, string) {
		out, err := chromedp.Run(ctx, chromedp.Text(css(`pre.output`)))
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(out, "<d> & done"), fmt.Sprintf("%q", out)
	})

	// the target's metric charts, drawn on the server from its samples
	// (the TCP check of the node's own port, once a second)
	waitFor("a chart of web-e2e's samples", 90*time.Second, func() (bool, string) {
		if err := chromedp.Do(ctx, chromedp.Navigate(p.URL+"/targets/web-e2e?range=1h"), chromedp.WaitVisible(css(`#charts`))); err != nil {
			return false, err.Error()
		}
		n := eval(`String(document.querySelectorAll("#charts svg.plot-time .plot-series path, #charts svg.plot-time .plot-series circle").length)`)
		return n != "0", n + " marks"
	})

	// screenshots, and no horizontal overflow on a phone
	arts := artifacts(t)
	for _, v := range []struct {
		w, h int64
		opts []chromedp.EmulateViewportOption
	}{{375, 812, []chromedp.EmulateViewportOption{chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch}}, {1366, 768, nil}} {
		for _, page := range []string{runURL, p.URL + "/jobnets/dag-e2e", p.URL + "/jobnets", runURL + "/jobs/d", p.URL + "/targets/web-e2e?range=1h"} {
			err := chromedp.Do(ctx, chromedp.EmulateViewport(v.w, v.h, v.opts...), chromedp.Navigate(page), chromedp.WaitVisible(css(`main`)))
			if err != nil {
				t.Fatalf("%s at %dx%d: %v", page, v.w, v.h, err)
			}
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("screenshot of %s: %v", page, err)
			}
			name := fmt.Sprintf("%s-%dx%d.png", strings.Trim(strings.NewReplacer(p.URL, "", "/", "_", "?", "_").Replace(page), "_"), v.w, v.h)
			if err := os.WriteFile(filepath.Join(arts, name), png, 0o644); err != nil {
				t.Fatal(err)
			}
			if v.w == 375 {
				if w := eval(`String(document.documentElement.scrollWidth) + " " + String(window.innerWidth)`); func() bool {
					var sw, iw int
					fmt.Sscan(w, &sw, &iw)
					return sw > iw || iw != 375
				}() {
					t.Errorf("%s overflows a 375 px wide phone (page width, window width: %s)", page, w)
				}
			}
		}
	}
	t.Logf("screenshots in %s", arts)
}

// writeConfigAt is writeConfig with the node's HTTP address chosen by the
// caller (a check of the node's own port needs it in the file).
func writeConfigAt(t *testing.T, dir, addr, extra string) (path, _ string) {
	t.Helper()
	cfg := fmt.Sprintf("node:\n  name: e2e\n  data_dir: %q\nhttp:\n  listen: %q\ncluster:\n  bind: 127.0.0.1:0\nlog:\n  level: debug\n%s", dir, addr, extra)
	path = filepath.Join(dir, "unyo.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, addr
}
