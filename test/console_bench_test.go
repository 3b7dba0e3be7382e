package test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/unyo-ops/unyo/alerting/incident"
	"github.com/unyo-ops/unyo/client"
	"github.com/unyo-ops/unyo/test/testutil"
)

// BenchmarkConsoleLive measures, against the real binary with 500 open
// incidents in the ledger (500 targets on the overview): the time from
// `unyo event send` starting to the new row on an open overview in
// headless Chromium (one event per iteration; median and p99 reported),
// and the node's memory (RSS) per open live page, with 300 live streams.
// "accepted" figures count from the command's exit (the API's 202);
// event-to-row is from the live event's arrival in the page to the row
// found (the redraw, plus the poll's 5 ms).
// Run: go test -run '^$' -bench ConsoleLive -benchtime 40x ./test/
func BenchmarkConsoleLive(b *testing.B) {
	chromiumPath(b)
	dir := b.TempDir()
	addr := testutil.FreePort(b)
	cfgPath := filepath.Join(dir, "unyo.yaml")
	cfg := fmt.Sprintf("node:\n  name: bench-web\n  data_dir: %q\nhttp:\n  listen: %q\ncluster:\n  bind: 127.0.0.1:0\nlog:\n  level: warn\n", dir, addr)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	p := testutil.Serve(b, cfgPath, addr)
	const password = "correct horse battery staple"
	cmd := exec.Command(testutil.Binary(b), "user", "add", "bench", "--role", "operator", "--password-stdin", "--server="+p.URL)
	cmd.Env = append(os.Environ(), "UNYO_TOKEN="+testutil.AdminToken)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("user add: %v\n%s", err, out)
	}
	c := testutil.Client(b, p.URL)
	ctx := context.Background()
	var evs []incident.Event
	for i := range 500 {
		evs = append(evs, incident.Event{ID: incident.NewID(), Target: fmt.Sprintf("srv-%04d", i), Check: "ping",
			Severity: incident.Major, Message: "no reply"})
	}
	if _, err := c.SendEvents(ctx, evs...); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		incs, err := c.Incidents(ctx, client.ListOptions{States: []incident.State{incident.Open}, Limit: 1000})
		if err == nil && len(incs) == 500 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("500 incidents not in the ledger after 60 s (%d, %v)", len(incs), err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Memory per live page: RSS with 300 streams open, against before.
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	resp, err := hc.PostForm(p.URL+"/login", url.Values{"user": {"bench"}, "password": {password}})
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("login: %v %v", resp, err)
	}
	resp.Body.Close()
	const streams = 300
	rss0, _ := p.RSS()
	mem0 := heapAndStacks(b, p.URL)
	sctx, cancel := context.WithCancel(ctx)
	for range streams {
		req, _ := http.NewRequestWithContext(sctx, http.MethodGet, p.URL+"/events", nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := hc.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("/events: %v %v", resp, err)
		}
		if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
	}
	rss1, _ := p.RSS()
	mem1 := heapAndStacks(b, p.URL)
	cancel()
	perStream := float64(rss1-rss0) / streams / 1024
	perStreamGo := float64(mem1-mem0) / streams / 1024

	bctx := newBrowser(b)
	run(b, bctx, "log in", 60*time.Second,
		chromedp.Navigate(p.URL+"/login"),
		chromedp.SendKeys(chromedp.CSS(`input[name=user]`), "bench"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#r-summary`)),
		chromedp.Poll[chromedp.Void](`document.getElementById("live").dataset.state === "live"`, chromedp.WithPollingTimeout(30*time.Second)))
	var lat, fromAccept, redraw []time.Duration
	i := 0
	for b.Loop() {
		i++
		tgt := fmt.Sprintf("新規-%03d", i)
		start := time.Now()
		out, errOut, code := testutil.Run(b, "event", "send", "--server="+p.URL, "--target", tgt, "--check", "ping", "--severity", "critical", "--message", "no reply")
		if code != 0 {
			b.Fatalf("event send: %d\n%s%s", code, out, errOut)
		}
		accepted := time.Now()
		run(b, bctx, "row "+tgt, 30*time.Second,
			chromedp.Poll[chromedp.Void](fmt.Sprintf(`[...document.querySelectorAll("#recent .name")].some(e => e.textContent === %q)`, tgt),
				chromedp.WithPollingInterval(5*time.Millisecond)))
		since := get(b, bctx, "event time", 10*time.Second, chromedp.Evaluate[float64](`Date.now() - window.unyoLive.lastEventAt`))
		redraw = append(redraw, time.Duration(since*1e6))
		lat = append(lat, time.Since(start))
		fromAccept = append(fromAccept, time.Since(accepted))
	}
	slices.Sort(lat)
	slices.Sort(fromAccept)
	slices.Sort(redraw)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(ms(lat[len(lat)/2]), "median-ms")
	b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*99/100)]), "p99-ms")
	b.ReportMetric(ms(fromAccept[len(fromAccept)/2]), "accepted-median-ms")
	b.ReportMetric(ms(fromAccept[min(len(fromAccept)-1, len(fromAccept)*99/100)]), "accepted-p99-ms")
	b.ReportMetric(ms(redraw[len(redraw)/2]), "event-to-row-median-ms")
	b.ReportMetric(perStream, "RSS-KB/live-page")
	b.ReportMetric(perStreamGo, "heap+stack-KB/live-page")
	b.ReportMetric(0, "ns/op")
}

// heapAndStacks reads the node's Go heap and goroutine stacks in use
// from its /metrics.
func heapAndStacks(b *testing.B, base string) float64 {
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	resp, err := testutil.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && (f[0] == "go_memstats_heap_inuse_bytes" || f[0] == "go_memstats_stack_inuse_bytes") {
			v, _ := strconv.ParseFloat(f[1], 64)
			sum += v
		}
	}
	return sum
}
