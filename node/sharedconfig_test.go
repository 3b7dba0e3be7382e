package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/internal/secretbox"
)

// startFileMember writes a config file and starts a node from it.
func startFileMember(t *testing.T, name, join, monitorYAML string) *Node {
	t.Helper()
	return startFileMemberIn(t, t.TempDir(), name, join, monitorYAML)
}

// startFileMemberIn is startFileMember with dir as the node's directory.
func startFileMemberIn(t *testing.T, dir, name, join, monitorYAML string) *Node {
	t.Helper()
	yml := fmt.Sprintf("node:\n  name: %s\n  data_dir: %q\nhttp:\n  listen: 127.0.0.1:0\ncluster:\n  bind: 127.0.0.1:0\n", name, dir)
	if join != "" {
		yml += fmt.Sprintf("  join: [%q]\n", join)
	}
	yml += monitorYAML
	path := filepath.Join(dir, "unyo.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	o, err := FromConfig(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Stop(context.Background()) })
	return n
}

func targetNames(n *Node) string {
	var names []string
	for _, t := range n.mon.targetList() {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// TestSharedConfig: the first leader's monitor section becomes the
// cluster's; a joining member adopts it; a config applied on a follower
// reaches every member, including one that joins later; a bad file is
// refused with its line and changes nothing.
func TestSharedConfig(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	mon := func(names ...string) string {
		s := "monitor:\n  targets:\n"
		for _, n := range names {
			s += fmt.Sprintf("    - {name: %s, address: 127.0.0.1, services: [{type: tcp, port: %d, interval: 1h}]}\n", n, port)
		}
		return s
	}
	a := startFileMember(t, "cfg-a", "", mon("web1"))
	waitUntil(t, "cfg-a leads and seeds the config", func() bool { return a.IsLeader() && a.raft.Config().Version == 1 })
	b := startFileMember(t, "cfg-b", a.URL(), mon("only-b"))
	waitUntil(t, "cfg-b adopts the cluster's monitor section", func() bool { return targetNames(b) == "web1" })

	post := func(n *Node, body string) (int, string) {
		resp, err := http.Post(n.URL()+ConfigPath+"?name=new.yaml", "application/yaml", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	code, out := post(b, mon("web1", "web2"))
	if code != http.StatusOK || !strings.Contains(out, `"version":2`) {
		t.Fatalf("apply on a follower: %d %s", code, out)
	}
	waitUntil(t, "both members have web1,web2", func() bool { return targetNames(a) == "web1,web2" && targetNames(b) == "web1,web2" })

	c := startFileMember(t, "cfg-c", a.URL(), mon("only-c"))
	waitUntil(t, "a late joiner gets version 2", func() bool { return targetNames(c) == "web1,web2" })

	code, out = post(a, "monitor:\n  targets:\n    - {name: x, address: \"\"}\n")
	if code != http.StatusBadRequest || !strings.Contains(out, "new.yaml:3") {
		t.Errorf("bad config: %d %s", code, out)
	}
	if v := a.raft.Config().Version; v != 2 {
		t.Errorf("a refused config changed the version to %d", v)
	}
}

// TestSharedConfigSecrets: the replicated configuration holds no secret in
// clear (none of its bytes in the Raft directory of any member); a member
// given the cluster key runs with the secrets opened; one without it
// refuses the config (and an apply through it) and says why.
func TestSharedConfigSecrets(t *testing.T) {
	const pw, tok = "pw-Sentinel-7f3a", "tok-Sentinel-91bc"
	mon := func(name string) string {
		return fmt.Sprintf("monitor:\n  targets:\n    - {name: %s, address: 127.0.0.1, services: [{type: http, url: 'http://mon:%s@127.0.0.1:1/h?token=%s', interval: 1h}]}\n", name, pw, tok)
	}
	a := startFileMember(t, "sec-a", "", mon("web1"))
	waitUntil(t, "sec-a seeds the config", func() bool { return a.IsLeader() && a.raft.Config().Version == 1 })
	if d := a.raft.Config().Data; bytes.Contains(d, []byte(pw)) || bytes.Contains(d, []byte(tok)) || !bytes.Contains(d, []byte("enc:v1:")) {
		t.Fatalf("replicated config:\n%s", d)
	}
	key, err := os.ReadFile(filepath.Join(a.opts.Cluster.DataDir, secretbox.KeyFile))
	if err != nil || len(key) != secretbox.KeySize {
		t.Fatalf("bootstrap key: %v", err)
	}

	// b was given the key (as the join will); c was not.
	bdir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(bdir, "raft"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := secretbox.WriteKey(filepath.Join(bdir, "raft", secretbox.KeyFile), key); err != nil {
		t.Fatal(err)
	}
	own := func(name string) string {
		return fmt.Sprintf("monitor:\n  targets:\n    - {name: %s, address: 127.0.0.1, services: [{type: tcp, port: 1, interval: 1h}]}\n", name)
	}
	b := startFileMemberIn(t, bdir, "sec-b", a.URL(), own("own-b"))
	c := startFileMember(t, "sec-c", a.URL(), own("own-c"))
	waitUntil(t, "sec-b runs the shared config, secrets opened", func() bool {
		cfg := b.currentConfig()
		return targetNames(b) == "web1" && len(cfg.Monitor.Targets) == 1 &&
			string(cfg.Monitor.Targets[0].Services[0].URL) == "http://mon:"+pw+"@127.0.0.1:1/h?token="+tok
	})
	waitUntil(t, "sec-c has the replicated log", func() bool { return c.raft.Config().Version == 1 })
	if _, err := c.mergeShared(c.raft.Config().Data); err == nil || !strings.Contains(err.Error(), "sealed value: no cluster secret key") {
		t.Errorf("sec-c merges the shared config without the key: %v", err)
	}
	if targetNames(c) != "own-c" {
		t.Errorf("sec-c runs %q without the key", targetNames(c))
	}
	resp, err := http.Post(c.URL()+ConfigPath, "application/yaml", strings.NewReader(mon("web2")))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(out), "no cluster secret key") {
		// The posted file has no sealed value, so it parses; sealing
		// needs the key.
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(out), "no cluster secret key") {
			t.Errorf("apply through a member without the key: %d %s", resp.StatusCode, out)
		}
	}
	if strings.Contains(string(out), pw) {
		t.Errorf("answer shows the secret: %s", out)
	}

	for _, n := range []*Node{a, b, c} {
		_ = filepath.WalkDir(n.opts.Cluster.DataDir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				t.Error(err)
				return nil
			}
			if bytes.Contains(data, []byte(pw)) || bytes.Contains(data, []byte(tok)) {
				t.Errorf("%s holds a secret in clear", p)
			}
			return nil
		})
	}
}
