package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
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
	yml += joinYAML(join)
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
	o.Auth.BootstrapToken = testAdminToken
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
	waitUntil(t, "cfg-b adopts the cluster's monitor section and holds its credential", func() bool {
		return targetNames(b) == "web1" && b.raft.MemberCredential() != ""
	})

	for _, n := range []*Node{a, b} {
		if err := n.WaitStore(context.Background()); err != nil { // admin tokens are checked in the ledger
			t.Fatal(err)
		}
	}
	post := func(n *Node, body string) (int, string) {
		req, _ := http.NewRequest("POST", n.URL()+ConfigPath+"?name=new.yaml", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testAdminToken+"")
		resp, err := http.DefaultClient.Do(req)
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
// clear (none of its bytes, raw or in base64, in the Raft directory); a node
// with the cluster key opens it; one with another key, or none, refuses it
// and says why; a config applied through the handler is sealed too.
func TestSharedConfigSecrets(t *testing.T) {
	const pw, tok = "pw-Sentinel-7f3a", "tok-Sentinel-91bc"
	mon := func(name string) string {
		return fmt.Sprintf("monitor:\n  targets:\n    - {name: %s, address: 127.0.0.1, services: [{type: http, url: 'http://mon:%s@127.0.0.1:1/h?token=%s', interval: 1h}]}\n", name, pw, tok)
	}
	own := func(name string) string {
		return fmt.Sprintf("monitor:\n  targets:\n    - {name: %s, address: 127.0.0.1, services: [{type: tcp, port: 1, interval: 1h}]}\n", name)
	}
	wantURL := "http://mon:" + pw + "@127.0.0.1:1/h?token=" + tok
	a := startFileMember(t, "sec-a", "", mon("web1"))
	waitUntil(t, "sec-a seeds the config", func() bool { return a.IsLeader() && a.raft.Config().Version == 1 })
	data := a.raft.Config().Data
	if bytes.Contains(data, []byte(pw)) || bytes.Contains(data, []byte(tok)) || !bytes.Contains(data, []byte("enc:v1:")) {
		t.Fatalf("replicated config:\n%s", data)
	}
	key, err := os.ReadFile(filepath.Join(a.opts.Cluster.DataDir, secretbox.KeyFile))
	if err != nil || len(key) != secretbox.KeySize {
		t.Fatalf("bootstrap key: %v", err)
	}
	if cfg := a.currentConfig(); string(cfg.Monitor.Targets[0].Services[0].URL) != wantURL {
		t.Errorf("sec-a runs with %q", cfg.Monitor.Targets[0].Services[0].URL.String())
	}

	// b has the cluster's key (as a join gives it); c has its own.
	bdir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(bdir, "raft"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := secretbox.WriteKey(filepath.Join(bdir, "raft", secretbox.KeyFile), key); err != nil {
		t.Fatal(err)
	}
	b := startFileMemberIn(t, bdir, "sec-b", "", own("own-b"))
	c := startFileMember(t, "sec-c", "", own("own-c"))
	merged, err := b.mergeShared(data)
	if err != nil || len(merged.Monitor.Targets) != 1 || string(merged.Monitor.Targets[0].Services[0].URL) != wantURL {
		t.Fatalf("sec-b merges the shared config: %v", err)
	}
	if _, err := c.mergeShared(data); err == nil || !strings.Contains(err.Error(), "sealed value: cannot decrypt") || strings.Contains(err.Error(), pw) {
		t.Errorf("sec-c merges the shared config with another key: %v", err)
	}

	// Applied through the handler: sealed under the node's key.
	apply := func(n *Node, body string) (int, string) {
		rec := httptest.NewRecorder()
		n.configHandler(rec, httptest.NewRequest(http.MethodPost, ConfigPath, strings.NewReader(body)))
		return rec.Code, rec.Body.String()
	}
	waitUntil(t, "sec-b leads its own cluster", func() bool { return b.IsLeader() && b.raft.Config().Version >= 1 })
	if code, out := apply(b, mon("web2")); code != http.StatusOK {
		t.Fatalf("apply on sec-b: %d %s", code, out)
	}
	if d := b.raft.Config().Data; bytes.Contains(d, []byte(pw)) || !bytes.Contains(d, []byte("enc:v1:")) {
		t.Errorf("applied config:\n%s", d)
	}
	waitUntil(t, "sec-b runs web2", func() bool { return targetNames(b) == "web2" })
	// Without a key, a config with a secret is refused, one without is not.
	if err := os.Remove(filepath.Join(c.opts.Cluster.DataDir, secretbox.KeyFile)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "sec-c leads its own cluster", func() bool { return c.IsLeader() })
	code, out := apply(c, mon("web3"))
	if code != http.StatusServiceUnavailable || !strings.Contains(out, "no cluster secret key") || strings.Contains(out, pw) {
		t.Errorf("apply without a key: %d %s", code, out)
	}
	if code, out := apply(c, own("own-c2")); code != http.StatusOK {
		t.Errorf("apply of a config without secrets, without a key: %d %s", code, out)
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
			// raft-wal preallocates its segments: the zeros after the
			// last entry hold nothing (scanning 64 MiB of them under
			// -race took minutes on a loaded machine).
			data = bytes.TrimRight(data, "\x00")
			// Raft entries are JSON: the config's bytes are in base64.
			views := [][]byte{data}
			for _, run := range base64Runs.FindAll(data, -1) {
				if dec, err := base64.StdEncoding.DecodeString(string(run[:len(run)/4*4])); err == nil {
					views = append(views, dec)
				}
			}
			for _, v := range views {
				if bytes.Contains(v, []byte(pw)) || bytes.Contains(v, []byte(tok)) {
					t.Errorf("%s holds a secret in clear", p)
				}
			}
			return nil
		})
	}
}

var base64Runs = regexp.MustCompile(`[A-Za-z0-9+/]{24,}={0,2}`)
