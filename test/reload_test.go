package test

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/unyo-ops/unyo/test/testutil"
)

// TestReloadOnSIGHUP: a new target added to the file is checked after
// SIGHUP, without a restart; a broken file then changes nothing and the
// node says so in its metrics.
func TestReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	port := testutil.TCPPort(t)
	dir := t.TempDir()
	addr := testutil.FreePort(t)
	target := func(name string) string {
		return fmt.Sprintf("    - {name: %s, address: 127.0.0.1, services: [{type: tcp, port: %d, interval: 1s}]}\n", name, port)
	}
	write := func(body string) {
		cfg := fmt.Sprintf("node:\n  name: reload\n  data_dir: %q\nhttp:\n  listen: %q\ncluster:\n  bind: 127.0.0.1:0\n%s", dir, addr, body)
		if err := os.WriteFile(filepath.Join(dir, "unyo.yaml"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("monitor:\n  targets:\n" + target("web1"))
	p := testutil.Serve(t, filepath.Join(dir, "unyo.yaml"), addr)
	srv := "--server=" + p.URL

	targets := func() []string {
		out, errOut, code := testutil.Run(t, "target", "list", "-o", "json", srv)
		if code != 0 {
			t.Fatalf("target list: %s%s", out, errOut)
		}
		var ts []struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal([]byte(out), &ts); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		var names []string
		for _, x := range ts {
			names = append(names, x.Name)
		}
		return names
	}
	metric := func(name string) string {
		resp, err := testutil.Get(p.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, name+" ") {
				return strings.TrimPrefix(line, name+" ")
			}
		}
		return ""
	}
	if got := strings.Join(targets(), ","); got != "web1" {
		t.Fatalf("targets before reload: %s", got)
	}

	write("monitor:\n  targets:\n" + target("web1") + target("web2"))
	if err := syscall.Kill(p.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web2 after SIGHUP", func() bool { return strings.Join(targets(), ",") == "web1,web2" })
	if m := metric("unyo_config_last_reload_successful"); m != "1" {
		t.Errorf("unyo_config_last_reload_successful %q after a good reload", m)
	}

	write("monitor:\n  targets:\n    - {name: broken, address: \"\"}\n")
	if err := syscall.Kill(p.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failed reload to show in the metrics", func() bool { return metric("unyo_config_last_reload_successful") == "0" })
	if got := strings.Join(targets(), ","); got != "web1,web2" {
		t.Errorf("a bad file changed the targets: %s", got)
	}
	if p.Exited() {
		t.Fatal("the node died on a bad config reload")
	}
	if !strings.Contains(p.Log(), "unyo.yaml:") {
		t.Errorf("the log does not name the bad file and line:\n%s", p.Log())
	}
}
