package node

import (
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
)

// startFileMember writes a config file and starts a node from it.
func startFileMember(t *testing.T, name, join, monitorYAML string) *Node {
	t.Helper()
	dir := t.TempDir()
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
